/**
 * A transaction that is going to write, opened so that it cannot fail half-way for lack of the
 * write lock:
 * - SQLite: `BEGIN IMMEDIATE` takes the database's single write lock first (waiting up to the busy
 *   timeout). A plain (deferred) `BEGIN` that reads and then writes fails with SQLITE_BUSY when
 *   another process wrote in between; taking the lock first also makes the transaction the one
 *   writer, so a read-then-write in it is serialised against every other process.
 * - PostgreSQL: an ordinary transaction (READ COMMITTED); callers lock the rows they claim.
 */
import { sql, type Kysely } from 'kysely';
import type { Engine } from './database.js';
import type { Database } from './schema.js';

export async function writeTransaction<T>(
  db: Kysely<Database>,
  engine: Engine,
  work: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (engine === 'postgres') return db.transaction().execute(work);
  return db.connection().execute(async (connection) => {
    await sql`begin immediate`.execute(connection);
    try {
      const result = await work(connection);
      await sql`commit`.execute(connection);
      return result;
    } catch (error) {
      await sql`rollback`.execute(connection).catch(() => {});
      throw error;
    }
  });
}
