import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Long operations asked for through the API with `async=true` (a run now, a restore, a verification),
 * readable from any process on the database (services/operations.ts): what (`kind`, `subject_id`), for
 * which organization, `status` (`running` | `succeeded` | `failed`), the bytes done of the total, the
 * error or the result (JSON text). `heartbeat_at` is written at least every few seconds while the
 * operation runs: a `running` row whose heartbeat is old belongs to a process that died. The workers'
 * sweep deletes finished rows after a while, oldest first, hence the index.
 *
 * Numbered 0015: 0014 is another branch's (rbd backups); this one depends on no other.
 */
export async function up(db: Kysely<any>, { pkType }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('operations')
    .addColumn('pk', pkType, (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('bytes_done', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_total', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('result', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('operations_by_finished_at').on('operations').columns(['finished_at', 'pk']).execute();
}
