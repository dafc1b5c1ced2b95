/**
 * Lists of values as one parameter: `column = any($1::text[])` on PostgreSQL, `column in (select
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
