import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Every organization gets a `generation` that database triggers bump whenever a row an API answer is
 * made from (its policies, disks, virtual machines, attachments, trash, or the organization itself)
 * changes — whoever writes it, in whatever process. A cached answer is valid exactly while its
 * organization's generation is unchanged (see src/http/response-cache.ts).
 */
const OWNED_TABLES = ['disk_backup_policies', 'disks', 'virtual_machines', 'trash_objects'] as const;

export async function up(db: Kysely<any>, { engine }: MigrationContext): Promise<void> {
  await db.schema.alterTable('organizations').addColumn('generation', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  if (engine === 'postgres') await postgresTriggers(db);
  else await sqliteTriggers(db);
}

const bumpWhere = (condition: string) =>
  `UPDATE organizations SET generation = generation + 1 WHERE ${condition};`;

async function sqliteTriggers(db: Kysely<any>): Promise<void> {
  const create = (name: string, event: string, table: string, body: string, when = '') =>
    sql.raw(`CREATE TRIGGER ${name} AFTER ${event} ON ${table} FOR EACH ROW ${when} BEGIN ${body} END`).execute(db);
  for (const table of OWNED_TABLES) {
    await create(`${table}_generation_insert`, 'INSERT', table, bumpWhere('id = NEW.organization_id'));
    await create(`${table}_generation_update`, 'UPDATE', table, bumpWhere('id IN (OLD.organization_id, NEW.organization_id)'));
    await create(`${table}_generation_delete`, 'DELETE', table, bumpWhere('id = OLD.organization_id'));
  }
  const diskOrganization = (row: string) => `id = (SELECT organization_id FROM disks WHERE id = ${row}.disk_id)`;
  await create('virtual_machine_disks_generation_insert', 'INSERT', 'virtual_machine_disks', bumpWhere(diskOrganization('NEW')));
  await create('virtual_machine_disks_generation_update', 'UPDATE', 'virtual_machine_disks', bumpWhere(diskOrganization('NEW')));
  await create('virtual_machine_disks_generation_delete', 'DELETE', 'virtual_machine_disks', bumpWhere(diskOrganization('OLD')));
  // SQLite does not fire triggers recursively, and the WHEN clause keeps the bump itself from counting.
  await create(
    'organizations_generation_update',
    'UPDATE',
    'organizations',
    bumpWhere('id = NEW.id'),
    'WHEN OLD.generation = NEW.generation',
  );
}

/** Statement-level triggers with transition tables: one bump per organization per statement. */
async function postgresTriggers(db: Kysely<any>): Promise<void> {
  const rowsOf = (tables: string[], column: string) =>
    tables.map((t) => `SELECT ${column} FROM ${t}`).join(' UNION ');
  const fn = async (name: string, organizations: string) =>
    sql.raw(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN ${bumpWhere(`id IN (${organizations})`)} RETURN NULL; END $$`).execute(db);
  const trigger = (name: string, event: 'INSERT' | 'UPDATE' | 'DELETE', table: string, fnName: string) => {
    const transitions =
      event === 'INSERT' ? 'NEW TABLE AS new_rows' : event === 'DELETE' ? 'OLD TABLE AS old_rows' : 'OLD TABLE AS old_rows NEW TABLE AS new_rows';
    return sql.raw(`CREATE TRIGGER ${name} AFTER ${event} ON ${table} REFERENCING ${transitions}
      FOR EACH STATEMENT EXECUTE FUNCTION ${fnName}()`).execute(db);
  };
  await fn('bump_generation_new', rowsOf(['new_rows'], 'organization_id'));
  await fn('bump_generation_old', rowsOf(['old_rows'], 'organization_id'));
  await fn('bump_generation_both', rowsOf(['old_rows', 'new_rows'], 'organization_id'));
  for (const table of OWNED_TABLES) {
    await trigger(`${table}_generation_insert`, 'INSERT', table, 'bump_generation_new');
    await trigger(`${table}_generation_update`, 'UPDATE', table, 'bump_generation_both');
    await trigger(`${table}_generation_delete`, 'DELETE', table, 'bump_generation_old');
  }
  const diskOrganizations = (rows: string) => `SELECT organization_id FROM disks WHERE id IN (SELECT disk_id FROM ${rows})`;
  await fn('bump_generation_attachment_new', diskOrganizations('new_rows'));
  await fn('bump_generation_attachment_old', diskOrganizations('old_rows'));
  await trigger('virtual_machine_disks_generation_insert', 'INSERT', 'virtual_machine_disks', 'bump_generation_attachment_new');
  await trigger('virtual_machine_disks_generation_update', 'UPDATE', 'virtual_machine_disks', 'bump_generation_attachment_new');
  await trigger('virtual_machine_disks_generation_delete', 'DELETE', 'virtual_machine_disks', 'bump_generation_attachment_old');
  // Organizations: a row-level trigger that bumps in place, so it cannot re-trigger itself.
  await sql.raw(`CREATE FUNCTION bump_own_generation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.generation = OLD.generation THEN NEW.generation := OLD.generation + 1; END IF; RETURN NEW; END $$`).execute(db);
  await sql.raw(`CREATE TRIGGER organizations_generation_update BEFORE UPDATE ON organizations
      FOR EACH ROW EXECUTE FUNCTION bump_own_generation()`).execute(db);
  // Rate-limit counters need no crash safety; skipping the WAL makes their per-request upsert cheap.
  await sql`ALTER TABLE rate_limit_windows SET UNLOGGED`.execute(db);
}
