import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * API tokens managed through the API: their annotations, an index to list an organization's tokens,
 * and generation triggers (as in 0004) so that a cached token list is never served after a token
 * changes. `authorized_ip_addresses` (a JSON list of addresses and CIDR ranges) exists since 0001; it
 * is now validated on every write and checked on every request.
 */
export async function up(db: Kysely<any>, { engine }: MigrationContext): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('annotations', 'text', (c) => c.notNull().defaultTo(sql.lit('[]'))).execute();
  await db.schema.createIndex('api_tokens_organization_id').on('api_tokens').columns(['organization_id', 'pk']).execute();
  if (engine === 'postgres') {
    // The statement-level functions of 0004 bump the organizations named by the transition tables.
    const trigger = (event: 'INSERT' | 'UPDATE' | 'DELETE', fn: string) => {
      const transitions =
        event === 'INSERT' ? 'NEW TABLE AS new_rows' : event === 'DELETE' ? 'OLD TABLE AS old_rows' : 'OLD TABLE AS old_rows NEW TABLE AS new_rows';
      return sql.raw(`CREATE TRIGGER api_tokens_generation_${event.toLowerCase()} AFTER ${event} ON api_tokens
        REFERENCING ${transitions} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`).execute(db);
    };
    await trigger('INSERT', 'bump_generation_new');
    await trigger('UPDATE', 'bump_generation_both');
    await trigger('DELETE', 'bump_generation_old');
  } else {
    const trigger = (event: string, organizations: string) =>
      sql.raw(`CREATE TRIGGER api_tokens_generation_${event.toLowerCase()} AFTER ${event} ON api_tokens FOR EACH ROW
        BEGIN UPDATE organizations SET generation = generation + 1 WHERE id IN (${organizations}); END`).execute(db);
    await trigger('INSERT', 'NEW.organization_id');
    await trigger('UPDATE', 'OLD.organization_id, NEW.organization_id');
    await trigger('DELETE', 'OLD.organization_id');
  }
}
