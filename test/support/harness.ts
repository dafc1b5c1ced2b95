/**
 * Test harness: a real `dbp` service on loopback over a fresh database — a new SQLite file, or a
 * new schema in the PostgreSQL of TEST_DATABASE_URL — with helpers to make organizations, inventory
 * and tokens through the services and to call the API over HTTP.
 *
 * `forEachEngine` runs a suite once per engine: SQLite always, PostgreSQL whenever TEST_DATABASE_URL is set.
 */
import { dropPostgresSchemas } from '../../src/store/database.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { sql } from 'kysely';
import { fixedClock } from '../../src/domain/clock.js';
import { openBackupEngine, type BackupEngine } from '../../src/engine/index.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import type { Services } from '../../src/services/index.js';

export type Engine = 'sqlite' | 'postgres';

export const TEST_REPOSITORY_PASSWORD = 'test repository passphrase';

/** 2026-11-25T12:00:00Z: tests run on a fixed clock unless they move it. */
export const TEST_NOW = 1795608000;

export function testEngines(): Engine[] {
  return process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export function forEachEngine(name: string, suite: (engine: Engine) => void): void {
  for (const engine of testEngines()) describe(`${name} [${engine}]`, () => suite(engine));
}

export interface CallOptions {
  token?: string | null;
  query?: string;
  json?: unknown;
  /** A raw body, sent with `contentType`. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body (undefined when the body is not JSON). */
  body: any;
}

export interface TestOrganization {
  id: string;
  subDomain: string;
  /** A token of this organization with every scope. */
  token: string;
}

export class TestService {
  private constructor(
    readonly engine: Engine,
    readonly runtime: Runtime,
    readonly server: RunningServer,
    readonly clock: ReturnType<typeof fixedClock>,
    private readonly cleanup: () => Promise<void>,
    /** Opens another connection to the same database, as another process would. */
    readonly openAnotherConnection: () => Promise<Runtime>,
    /** With `backupEngine: true`: the engine the server's extension endpoints use (repository under the data directory). */
    readonly backupEngine: BackupEngine | undefined,
    readonly dataDir: string,
  ) {}

  static async start(engine: Engine = 'sqlite', options: { trustedProxies?: string[]; backupEngine?: boolean } = {}): Promise<TestService> {
    const clock = fixedClock(TEST_NOW);
    const dataDir = mkdtempSync(join(tmpdir(), 'dbp-test-'));
    const schema = `test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    const databaseUrl = engine === 'postgres' ? requirePostgresUrl() : undefined;
    const runtimeOptions = { dataDir, databaseUrl, clock, postgresSchema: engine === 'postgres' ? schema : undefined };
    const runtime = await openRuntime(runtimeOptions);
    const backupEngine = options.backupEngine
      ? await openBackupEngine(runtime, { dataDir, password: TEST_REPOSITORY_PASSWORD, workers: 2 })
      : undefined;
    const server = await startServer(runtime, {
      host: '127.0.0.1',
      port: 0,
      logger: false,
      trustedProxies: options.trustedProxies,
      backups: backupEngine,
    });
    const cleanup = async () => {
      await server.stop();
      await backupEngine?.close();
      await runtime.close();
      if (engine === 'postgres') await dropPostgresSchemas(databaseUrl!, [schema]);
      rmSync(dataDir, { recursive: true, force: true });
    };
    return new TestService(engine, runtime, server, clock, cleanup, () => openRuntime(runtimeOptions), backupEngine, dataDir);
  }

  get services(): Services {
    return this.runtime.services;
  }

  get url(): string {
    return this.server.url;
  }

  async stop(): Promise<void> {
    await this.cleanup();
  }

  /** Calls the API: `path` is below /core/v1/ unless it starts with a slash. */
  async call(method: string, path: string, options: CallOptions = {}): Promise<CallResult> {
    const url = `${this.url}${path.startsWith('/') ? path : `/core/v1/${path}`}${options.query ? `?${options.query}` : ''}`;
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.contentType) {
      headers['content-type'] = options.contentType;
    }
    const response = await fetch(url, { method, headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed };
  }

  async createOrganization(name = 'Acme', options: { timeZone?: string } = {}): Promise<TestOrganization> {
    const subDomain = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${Math.random().toString(36).slice(2, 8)}`;
    const organization = await this.services.inventory.createOrganization({ name, subDomain, timeZone: options.timeZone });
    const { secret } = await this.services.tokens.create({ organizationId: organization.id, name: 'everything' });
    return { id: organization.id, subDomain, token: secret };
  }

  async createToken(organizationId: string, scopes: string[], rateLimit?: number): Promise<string> {
    return (await this.services.tokens.create({ organizationId, scopes, rateLimit })).secret;
  }

  async createVirtualMachine(organizationId: string, name = 'vm') {
    return this.services.inventory.createVirtualMachine({ organizationId, name });
  }

  async createDisk(organizationId: string, options: { name?: string; virtualMachineId?: string } = {}) {
    return this.services.inventory.createDisk({
      organizationId,
      name: options.name ?? 'disk',
      sizeInGb: 10,
      virtualMachineId: options.virtualMachineId,
    });
  }

  /** A policy made through the API (so it is exactly what a client would have). */
  async createPolicy(token: string, diskId: string, properties: Record<string, unknown> = { retention: 3, schedule: { interval: 'daily' } }) {
    const result = await this.call('POST', 'disks/disk/disk_backup_policies', { token, json: { disk: { id: diskId }, properties } });
    if (result.status !== 200) throw new Error(`creating a policy failed: ${result.text}`);
    return result.body.disk_backup_policy as { id: string } & Record<string, unknown>;
  }

  /** Every row of every table, for "nothing changed" assertions. */
  async snapshot(): Promise<string> {
    const db = this.runtime.store.db;
    const tables = [
      'organizations', 'virtual_machines', 'disks', 'virtual_machine_disks', 'disk_backup_policies',
      'trash_objects', 'tasks', 'api_tokens',
    ] as const;
    const dump: Record<string, unknown> = {};
    for (const table of tables) {
      dump[table] = (await sql`select * from ${sql.table(table)} order by 1`.execute(db)).rows;
    }
    return JSON.stringify(dump);
  }
}

function requirePostgresUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set');
  return url;
}

