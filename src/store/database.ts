/**
 * Opens the database: SQLite (a file under the data directory) by default, PostgreSQL when given a
 * `postgres://` URL. Everything above this module sees the same `Kysely<Database>`.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';

export type Engine = 'sqlite' | 'postgres';

export interface Store {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  /** Where it is, for messages (a file path or a URL without its password). */
  readonly location: string;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite:PATH` or nothing selects SQLite. */
  readonly databaseUrl?: string | undefined;
  /** Where the SQLite file lives when no URL is given. */
  readonly dataDir: string;
  /** PostgreSQL only: keep every table in this schema (created when missing), e.g. one per test run. */
  readonly postgresSchema?: string | undefined;
}

export const SQLITE_FILE_NAME = 'dbp.sqlite3';

export async function openStore(options: StoreOptions): Promise<Store> {
  const url = options.databaseUrl?.trim();
  const store =
    url && /^postgres(ql)?:\/\//.test(url)
      ? await openPostgres(url, options.postgresSchema)
      : openSqlite(sqlitePath(url, options.dataDir));
  await migrate(store);
  return store;
}

function sqlitePath(url: string | undefined, dataDir: string): string {
  if (url) {
    if (!url.startsWith('sqlite:')) {
      throw new Error(`Unsupported database URL "${redact(url)}": use postgres://… or sqlite:PATH`);
    }
    return resolve(url.slice('sqlite:'.length));
  }
  mkdirSync(dataDir, { recursive: true });
  return resolve(join(dataDir, SQLITE_FILE_NAME));
}

function openSqlite(path: string): Store {
  const connection = new BetterSqlite3(path);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  // Several processes (the CLI beside `dbp serve`) may write; wait for the lock rather than fail.
  connection.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }) });
  return { db, engine: 'sqlite', location: path, close: () => db.destroy() };
}

async function openPostgres(url: string, schema: string | undefined): Promise<Store> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`Invalid schema name "${schema}"`);
  // Unix times are bigint columns; they fit a JavaScript number for the next 285 000 years.
  pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 10_000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client losing its server is reported here; without a listener it would crash the process.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (schema) await db.schema.createSchema(schema).ifNotExists().execute();
  return { db, engine: 'postgres', location: redact(url), close: () => db.destroy() };
}

async function migrate(store: Store): Promise<void> {
  const migrator = new Migrator({
    db: store.db,
    provider: migrationProvider({ pkType: store.engine === 'sqlite' ? 'integer' : 'serial' }),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(`Migrating ${store.location} failed at ${failed?.migrationName ?? 'start'}: ${String(error)}`);
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
