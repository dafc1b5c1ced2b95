import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Each backup's last verification, on its catalogue row: when it ended (`verified_at`), its outcome
 * (`ok` | `failed`), a short detail, and the plain bytes of the backup's chunks it read and
 * authenticated; all null until the backup is first verified. `verify_claimed_until` is the lease of
 * the worker verifying it now (the verification scheduler's claim), null when none holds it.
 * Oldest-verified first is the scheduler's order, hence the first index.
 */
export async function up(db: Kysely<any>, _context: MigrationContext): Promise<void> {
  await db.schema
    .alterTable('backups')
    .addColumn('verified_at', 'bigint')
    .execute();
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('backups').addColumn('verify_outcome', 'text').execute();
  await db.schema.alterTable('backups').addColumn('verify_detail', 'text').execute();
  await db.schema.alterTable('backups').addColumn('verify_bytes', 'bigint').execute();
  await db.schema.alterTable('backups').addColumn('verify_claimed_until', 'bigint').execute();
  await db.schema.createIndex('backups_by_verification').on('backups').columns(['verified_at', 'pk']).execute();
  // /metrics counts the backups whose last verification failed at every scrape: few rows, found by index.
  await db.schema.createIndex('backups_by_verify_outcome').on('backups').column('verify_outcome').execute();
}
