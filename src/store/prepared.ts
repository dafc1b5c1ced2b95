/**
 * Queries built and compiled by Kysely once, then run with new values. On SQLite, building and
 * compiling a query costs more than running it, so the hot paths (authentication, lookups, the
 * policy update) prepare their queries when the service starts. The query is still written with
 * Kysely's typed builder; `build` receives placeholders that stand for the values of each call.
 * Only scalar values may be placeholders (not lists for `in`).
 */
import type { Compilable, Kysely } from 'kysely';

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
  return async (values) => {
    const parameters = compiled.parameters.map((parameter, i) => {
      const slot = slots[i];
      return slot === undefined ? parameter : values[slot];
    });
    return (await db.executeQuery<Row>({ ...compiled, parameters })).rows;
  };
}
