import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * `copy` on runs: what the second copy after the run did (`--copy-to`), as JSON text — the target,
 * the backups copied, chunks and bytes sent, and the copy's error — or null when the run made no copy.
 * A failed copy does not fail the run's backups: the run stays `succeeded` and says so here.
 */
export async function up(db: Kysely<any>, _context: MigrationContext): Promise<void> {
  await db.schema.alterTable('backup_runs').addColumn('copy', 'text').execute();
}
