/**
 * Lists and rows of values as one parameter: `column = any($1::text[])` on PostgreSQL, `column in (select
 * value from json_each(?))` on SQLite. The statement's text does not depend on the list's length, so
 * it is parsed (and, on SQLite, prepared and cached) once, and a 500-id list binds one value.
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Engine } from '../store/database.js';

export function isOneOf(engine: Engine, column: string, values: readonly string[]): RawBuilder<SqlBool> {
  return engine === 'postgres'
    ? sql<SqlBool>`${sql.ref(column)} = any(${values}::text[])`
    : sql<SqlBool>`${sql.ref(column)} in (select value from json_each(${JSON.stringify(values)}))`;
}

/**
 * Rows as one JSON document (an array of arrays), to select from as `alias` with `alias.value ->> i`
 * for the i-th column (text; cast where another type is meant): `json_each(?)` on SQLite,
 * `json_array_elements(?::json)` on PostgreSQL.
 */
export function jsonRows(engine: Engine, rows: readonly (readonly unknown[])[], alias: string): RawBuilder<unknown> {
  const document = JSON.stringify(rows);
  return engine === 'postgres'
    ? sql`json_array_elements(${document}::json) as ${sql.ref(alias)}`
    : sql`json_each(${document}) as ${sql.ref(alias)}`;
}
