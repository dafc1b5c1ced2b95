import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * SQLite only: the row triggers of 0004 and 0005 that bump `organizations.generation` on UPDATE named
 * the organizations as `id IN (OLD.organization_id, NEW.organization_id)`, which SQLite runs by building
 * a temporary list for every row — it tripled the cost of a one-row policy update. They become an
 * equality on NEW, plus a second trigger for OLD that fires only when a row moves to another
 * organization; the token triggers' one-element lists become equalities too. PostgreSQL's
 * statement-level triggers are unchanged.
 */
const TABLES = ['disk_backup_policies', 'disks', 'virtual_machines', 'trash_objects', 'api_tokens'] as const;

export async function up(db: Kysely<any>, { engine }: MigrationContext): Promise<void> {
  if (engine !== 'sqlite') return;
  const run = (statement: string) => sql.raw(statement).execute(db);
  const bump = (row: 'NEW' | 'OLD') => `BEGIN UPDATE organizations SET generation = generation + 1 WHERE id = ${row}.organization_id; END`;
  for (const table of TABLES) {
    await run(`DROP TRIGGER IF EXISTS ${table}_generation_update`);
    await run(`CREATE TRIGGER ${table}_generation_update AFTER UPDATE ON ${table} FOR EACH ROW ${bump('NEW')}`);
    await run(
      `CREATE TRIGGER ${table}_generation_update_moved AFTER UPDATE ON ${table} FOR EACH ROW ` +
        `WHEN OLD.organization_id IS NOT NEW.organization_id ${bump('OLD')}`,
    );
  }
  for (const [event, row] of [['insert', 'NEW'], ['delete', 'OLD']] as const) {
    await run(`DROP TRIGGER IF EXISTS api_tokens_generation_${event}`);
    await run(`CREATE TRIGGER api_tokens_generation_${event} AFTER ${event.toUpperCase()} ON api_tokens FOR EACH ROW ${bump(row)}`);
  }
}
