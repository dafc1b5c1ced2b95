import type { Kysely } from 'kysely';

/**
 * Drops `backup_runs_by_organization` (from 0003): no query reads runs by organization, and each
 * claimed run paid for it — about an eighth of the pages a claim writes on SQLite. A listing of an
 * organization's runs, when one exists, brings back the index it needs.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('backup_runs_by_organization').execute();
}
