import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/** What the engine wrote into a succeeded run's `error` before `live_read` existed. */
const LIVE_READ_ERROR_PREFIX = 'read live (no point-in-time clone)';

/**
 * `live_read` (0/1) on backups and on runs: a backup read while its disk could change (no
 * point-in-time clone), and a run with at least one such backup. Until now a succeeded run said so
 * in its `error`; that sentence moves into the flag and the succeeded run's error becomes null.
 */
export async function up(db: Kysely<any>, _context: MigrationContext): Promise<void> {
  await db.schema.alterTable('backups').addColumn('live_read', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('backup_runs').addColumn('live_read', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.updateTable('backups').set({ live_read: 1 }).where('consistency', '=', 'live').execute();
  await db
    .updateTable('backup_runs')
    .set({ live_read: 1, error: null })
    .where('status', '=', 'succeeded')
    .where(sql`substr(error, 1, ${LIVE_READ_ERROR_PREFIX.length})`, '=', LIVE_READ_ERROR_PREFIX)
    .execute();
}
