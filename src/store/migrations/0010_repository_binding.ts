import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * The repository the catalogue is written with: at most one row (`singleton` is always 1), inserted
 * by the first process that opens the backup engine. Every later process compares its repository's
 * id with it and refuses to start on a mismatch (see src/engine/repository-binding.ts). A catalogue
 * that already records backups gets its row from the first process to open the engine after this.
 */
export async function up(db: Kysely<any>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('repository_binding')
    .addColumn('singleton', 'integer', (c) => c.primaryKey().notNull().defaultTo(1).check(sql`singleton = 1`))
    .addColumn('repository_id', 'text', (c) => c.notNull())
    // As `--repository` takes it (formatRepositoryLocation): for messages, not for identity.
    .addColumn('location', 'text', (c) => c.notNull())
    .addColumn('bound_at', 'bigint', (c) => c.notNull())
    .execute();
}
