/**
 * Queries built and compiled by Kysely once, then run with new values. On SQLite, building and
 * compiling a query costs more than running it, so the hot paths (authentication, lookups, the
 * policy update) prepare their queries when the service starts. The query is still written with
 * Kysely's typed builder; `build` receives placeholders that stand for the values of each call.
 * Only scalar values may be placeholders (not lists for `in`).
 *
 * On SQLite a prepared query also skips Kysely's executor (its connection lock and the promises
 * around it, about as costly as the query itself) and runs at once on the connection — but only
 * when no transaction is open there: inside another caller's transaction it would read what that
 * transaction has not committed, so then it waits its turn through Kysely like any other query.
 * On PostgreSQL it runs as a named statement: each connection parses and plans it once, and later
 * runs send only its values (see database.ts).
 */
import type { CompiledQuery, Compilable, Kysely } from 'kysely';

/**
 * Runs a prepared query without Kysely's executor: at once (SQLite: its rows, or undefined when it
 * must go through Kysely after all), or as a promise of its rows (PostgreSQL).
 */
export type DirectRunner = (query: CompiledQuery) => unknown[] | Promise<unknown[]> | undefined;

const directRunners = new WeakMap<Kysely<any>, DirectRunner>();

/** For the store: how queries on `db` may run without Kysely's executor. */
export function registerDirectRunner(db: Kysely<any>, runner: DirectRunner): void {
  directRunners.set(db, runner);
}

export type PreparedQuery<Values, Row> = (values: Values) => Promise<Row[]>;

export function prepareQuery<Values extends Record<string, unknown>, Row>(
  db: Kysely<any>,
  names: readonly (keyof Values & string)[],
  build: (placeholders: Values) => Compilable<Row>,
): PreparedQuery<Values, Row> {
  const marker = (name: string) => `\u0000placeholder:${name}\u0000`;
  const placeholders = Object.fromEntries(names.map((name) => [name, marker(name)])) as unknown as Values;
  const compiled = build(placeholders).compile();
  const slots = compiled.parameters.map((parameter) => names.find((name) => marker(name) === parameter));
  const unused = names.filter((name) => !slots.includes(name));
  if (unused.length > 0) throw new Error(`prepareQuery: ${unused.join(', ')} not used by ${compiled.sql}`);
  const direct = directRunners.get(db);
  return async (values) => {
    const parameters = compiled.parameters.map((parameter, i) => {
      const slot = slots[i];
      return slot === undefined ? parameter : values[slot];
    });
    const query = { ...compiled, parameters };
    const rows = direct?.(query);
    if (rows !== undefined) return (await rows) as Row[];
    return (await db.executeQuery<Row>(query)).rows;
  };
}
