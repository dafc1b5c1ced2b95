import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * The catalogue of backups the engine has taken: one row per disk per run, naming the backup in the
 * repository (whose manifest is the backup itself; a row is written only once it is durable).
 */
export async function up(db: Kysely<any>, { pkType }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('backups')
    .addColumn('pk', pkType, (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('policy_id', 'text', (c) => c.notNull())
    .addColumn('disk_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text')
    .addColumn('repository_backup_id', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('disk_size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('new_stored_bytes', 'bigint', (c) => c.notNull())
    .addColumn('consistency', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('backups_by_policy').on('backups').columns(['policy_id', 'disk_id', 'created_at']).execute();
}
