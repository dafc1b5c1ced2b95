/**
 * Opens the database: SQLite (a file under the data directory) by default, PostgreSQL when given a
 * `postgres://` URL. Everything above this module sees the same `Kysely<Database>`.
 */
import { mkdirSync } from 'node:fs';
import { hash } from 'node:crypto';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/index.js';
import { registerDirectRunner } from './prepared.js';
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer.js';
import type { Database } from './schema.js';

export type Engine = 'sqlite' | 'postgres';

export interface Store {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  /** Where it is, for messages (a file path or a URL without its password). */
  readonly location: string;
  /** SQLite only (undefined on PostgreSQL, where other processes' writes cannot be seen this cheaply). */
  readonly changes?: ChangeCounters;
  /**
   * SQLite only: for a long-running process, checkpoint the write-ahead log from a worker thread
   * instead of inside whichever write crosses the size mark (see sqlite-checkpointer.ts).
   */
  readonly checkpointInBackground?: () => void;
  close(): Promise<void>;
}

/**
 * Numbers that move whenever what was read may have changed, so that what was read while one kept
 * its value may be reused while it keeps it. Another process's commit moves them all; a write through
 * this process's connection moves `any` and the count of the table its statement names (not of tables
 * its triggers write: a reader of such columns must use `any`).
 */
export interface ChangeCounters {
  /** `any` moves at every change; `tables` at every change that may touch one of the named tables. */
  read(tables: readonly string[]): { readonly any: number; readonly tables: number };
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
/** PostgreSQL: how long a query may wait for its answer before it fails (503) as unavailable. */
export const QUERY_TIMEOUT_MS = 5_000;

export async function openStore(options: StoreOptions): Promise<Store> {
  const url = options.databaseUrl?.trim();
  const store =
    url && /^postgres(ql)?:\/\//.test(url)
      ? await openPostgres(url, options.postgresSchema)
      : openSqlite(sqlitePath(url, options.dataDir));
  await migrate(store, options.postgresSchema);
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
  const changes = new SqliteChangeCounters(connection);
  const statements = withStatementCache(connection, changes);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements }) });
  registerDirectRunner(db, (query) => {
    if (connection.inTransaction) return undefined;
    const statement = statements.prepare(query.sql);
    if (statement.reader) return statement.all(query.parameters);
    statement.run(query.parameters);
    return [];
  });
  let checkpointer: Checkpointer | undefined;
  return {
    db,
    engine: 'sqlite',
    location: path,
    changes,
    checkpointInBackground() {
      if (checkpointer) return;
      checkpointer = startCheckpointer(path);
      connection.pragma('wal_autocheckpoint = 0');
    },
    async close() {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/**
 * Counts the changes one SQLite connection can know of: its own writes, counted per table when a
 * writing statement is handed out (before it runs), and other connections' commits, seen through
 * `PRAGMA data_version`, which count for every table.
 */
class SqliteChangeCounters implements ChangeCounters {
  private readonly dataVersion: BetterSqlite3.Statement<[], number>;
  private lastDataVersion = -1;
  /** Other connections' commits, and own writes whose table is not known: they count for every table. */
  private everyTable = 0;
  private anyTable = 0;
  private readonly perTable = new Map<string, number>();

  constructor(connection: BetterSqlite3.Database) {
    this.dataVersion = connection.prepare<[], number>('PRAGMA data_version').pluck();
  }

  /** `table` undefined: a write whose table is not known. */
  localWrite(table: string | undefined): void {
    this.anyTable += 1;
    if (table === undefined) this.everyTable += 1;
    else this.perTable.set(table, (this.perTable.get(table) ?? 0) + 1);
  }

  read(tables: readonly string[]): { any: number; tables: number } {
    const version = this.dataVersion.get()!;
    if (version !== this.lastDataVersion) {
      this.lastDataVersion = version;
      this.everyTable += 1;
    }
    let ofTables = this.everyTable;
    for (const table of tables) ofTables += this.perTable.get(table) ?? 0;
    return { any: this.anyTable + this.everyTable, tables: ofTables };
  }
}

const WRITTEN_TABLE = /^\s*(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|update(?:\s+or\s+\w+)?|delete\s+from)\s+"?(\w+)"?/i;

/**
 * Kysely prepares every statement anew; preparing costs more than running most of our queries, so
 * statements are kept by their SQL text (the set of distinct texts is small and fixed by the code).
 * Handing out a writing statement counts as a write (see SqliteChangeCounters).
 */
function withStatementCache(
  connection: BetterSqlite3.Database,
  changes: SqliteChangeCounters,
): SqliteDatabase & { prepare(text: string): BetterSqlite3.Statement } {
  interface Entry {
    readonly statement: BetterSqlite3.Statement;
    readonly writes: boolean;
    readonly table: string | undefined;
  }
  const statements = new Map<string, Entry>();
  return {
    close: () => connection.close(),
    prepare(text: string) {
      let entry = statements.get(text);
      if (!entry) {
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
        const statement = connection.prepare(text);
        entry = { statement, writes: !statement.readonly, table: WRITTEN_TABLE.exec(text)?.[1]?.toLowerCase() };
        statements.set(text, entry);
      }
      if (entry.writes) changes.localWrite(entry.table);
      return entry.statement;
    },
  };
}

const STATEMENT_CACHE_SIZE = 500;

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
    // Client-side: a server that stops answering on an open connection (frozen, partitioned) fails the
    // query instead of hanging the request. statement_timeout still ends the orphaned query server-side.
    query_timeout: QUERY_TIMEOUT_MS,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client losing its server is reported here; without a listener it would crash the process.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    // A client that loses its server while checked out (mid-query) emits 'error' too, and the pool
    // listens only to idle clients: without this, a dropped connection crashes the process. The query
    // itself still fails (→ 503) and the pool discards the dead client on release.
    client.on('error', () => {});
    // After a read timeout the query is still in flight on the connection, and the pool would hand the
    // client out again with every later query queued behind it: drop the connection instead.
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) {
        result.catch((error: unknown) => {
          if ((error as Error)?.message === 'Query read timeout') {
            (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
          }
        });
      }
      return result;
    };
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  // Prepared queries (the per-request ones) as named statements, parsed and planned once per
  // connection rather than on every run; the name is the text's hash, so one name is one text.
  const statementNames = new Map<string, string>();
  registerDirectRunner(db, (query) => {
    let name = statementNames.get(query.sql);
    if (name === undefined) statementNames.set(query.sql, (name = `dbp_${hash('sha1', query.sql)}`));
    return pool.query({ name, text: query.sql, values: query.parameters as unknown[] }).then((result) => result.rows);
  });
  if (schema) await db.schema.createSchema(schema).ifNotExists().execute();
  return { db, engine: 'postgres', location: redact(url), close: () => db.destroy() };
}

async function migrate(store: Store, schema: string | undefined): Promise<void> {
  const migrator = new Migrator({
    db: store.db,
    provider: migrationProvider({ engine: store.engine, pkType: store.engine === 'sqlite' ? 'integer' : 'serial' }),
    // Kysely looks for its bookkeeping tables in any schema unless told which one is ours.
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(`Migrating ${store.location} failed at ${failed?.migrationName ?? 'start'}: ${String(error)}`);
  }
}

/** Drops a schema made with `postgresSchema` and everything in it (test runs and benchmarks clean up with it). */
export async function dropPostgresSchemas(url: string, schemas: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const schema of schemas) {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`Invalid schema name "${schema}"`);
      await client.query(`drop schema if exists "${schema}" cascade`);
    }
  } finally {
    await client.end();
  }
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
