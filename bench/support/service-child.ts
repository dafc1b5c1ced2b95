/**
 * The service under test, in its own process: a fresh database (a new SQLite file in the data
 * directory it is given, or a new schema in PostgreSQL), seeded through the services with one
 * organization, a token with every scope and a very high rate limit, one disk with `policies`
 * policies, then the real server (`startServer`) on 127.0.0.1, port 0.
 *
 * Given `seeded` (PostgreSQL only), the child instead opens a schema another child has already
 * created and seeded, serves it as it is (no seeding), and leaves the schema to that child to drop:
 * a second process on the same database, as `dbp serve` would run beside another.
 *
 * `authentication: 'off'` (bench-only, for the cost of authentication in bench:api): every request
 * is taken as the seeded guarded token's without hashing or querying the token, and the rate limiter
 * permits everything without counting; only the answers version is still checked (`authFreeTwin`).
 * Production code has no such switch; it is patched in here.
 *
 * Started by bench/api.ts with its configuration as JSON in argv[2]; answers `ready` over IPC.
 */
import { dropPostgresSchemas } from '../../src/store/database.js';
import { rmSync } from 'node:fs';
import { DatabaseRateLimiter, MemoryRateLimiter, type RateLimitResult } from '../../src/http/rate-limit.js';
import { startServer } from '../../src/http/server.js';
import { sql } from 'kysely';
import { Coalescer } from '../../src/store/coalescing.js';
import { prepareQuery } from '../../src/store/prepared.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { serveChild } from './children.js';

export interface ServiceConfig {
  readonly engine: 'sqlite' | 'postgres';
  /** The SQLite file goes here; removed on stop. */
  readonly dataDir: string;
  readonly databaseUrl?: string;
  /** PostgreSQL: the schema to create (and drop on stop). */
  readonly postgresSchema?: string;
  readonly policies: number;
  /**
   * PostgreSQL: what another child seeded in `postgresSchema`; this child then neither seeds nor
   * drops the schema (its owner does, and must be stopped after this one).
   */
  readonly seeded?: Seeded;
  /** `off`: the auth-free twin (see above). */
  readonly authentication?: 'on' | 'off';
  /** The auth-free twin's answers version: checked per request (`fresh`, default) or read once (`frozen`). */
  readonly authFreeTwin?: 'fresh' | 'frozen';
}

export interface Seeded {
  readonly token: string;
  /**
   * A token as a careful customer makes one: one read scope, authorized networks, an expiry and
   * a rate limit (no bench reaches it), so that every check of authentication runs.
   */
  readonly guardedToken: string;
  readonly organizationId: string;
  readonly diskId: string;
  /** The policy the update endpoint is measured on. */
  readonly policyId: string;
}

export interface ServiceReady extends Seeded {
  readonly url: string;
  readonly pid: number;
}

/** A token limit no bench reaches (the default, 1000 a minute, would answer 429s within a second). */
const BENCH_RATE_LIMIT = 100_000_000;

async function seed(runtime: Runtime, policies: number): Promise<Seeded> {
  const { inventory, tokens, policies: policyService } = runtime.services;
  const organization = await inventory.createOrganization({
    name: 'Bench Organization',
    subDomain: `bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    timeZone: 'Europe/London',
  });
  const { secret } = await tokens.create({ organizationId: organization.id, name: 'bench (every scope)', rateLimit: BENCH_RATE_LIMIT });
  const guarded = await tokens.create({
    organizationId: organization.id,
    name: 'bench (guarded)',
    scopes: ['disk_backup_policies:read'],
    authorizedIpAddresses: ['10.0.0.0/8', '192.168.0.0/16', '127.0.0.0/8', '::1'],
    expiresAt: runtime.services.clock.now() + 365 * 86_400,
    rateLimit: BENCH_RATE_LIMIT,
  });
  const disk = await inventory.createDisk({ organizationId: organization.id, name: 'bench disk', sizeInGb: 10 });
  const target = { type: 'Disk' as const, id: disk.id, name: disk.name };
  const intervals = ['hourly', 'daily', 'weekly', 'monthly'] as const;
  let first: string | undefined;
  for (let i = 0; i < policies; i++) {
    const policy = await policyService.create(organization.id, target, {
      retention: 1 + (i % 30),
      schedule: { interval: intervals[i % intervals.length]!, frequency: 1 + (i % 3), time: i % 24, minute: (i * 7) % 60 },
    });
    first ??= policy.id;
  }
  return { organizationId: organization.id, token: secret, guardedToken: guarded.secret, diskId: disk.id, policyId: first! };
}

/**
 * The auth-free twin: one real authentication up front, then every request reuses its answer and
 * the rate limiter counts nothing. `fresh` (the default): what a service without authentication would
 * still have to do so that its response cache never serves an answer another process has made stale —
 * find the organization's answers version per request (SQLite: `Store.changes`, i.e. `PRAGMA
 * data_version`; PostgreSQL: one prepared query of the organization's generation, coalesced across
 * concurrent requests as the guarded service's token statement is). `frozen`: the
 * version read at start is kept (no check at all; such a service would miss other processes' writes).
 */
async function switchAuthenticationOff(runtime: Runtime, seeded: Seeded, twin: 'fresh' | 'frozen'): Promise<void> {
  const tokens = runtime.services.tokens;
  const answer = await tokens.authenticate(seeded.guardedToken, '127.0.0.1');
  if (!answer.ok) throw new Error(`the guarded token does not authenticate: ${answer.reason}`);
  const changes = runtime.store.changes;
  if (twin === 'frozen') {
    // At once, as the service answers a token it has seen before on SQLite (no promise).
    tokens.authenticate = () => answer;
  } else if (changes !== undefined) {
    tokens.authenticate = () => ({ ...answer, answersVersion: changes.read(NO_TABLES).any });
  } else {
    // Coalesced as the guarded service coalesces its token statements (src/store/coalescing.ts).
    const db = runtime.store.db;
    const readGenerations = prepareQuery(db, ['ids'], ({ ids }: { ids: string[] }) =>
      db.selectFrom('organizations').select(['id', 'generation']).where('id', '=', sql<string>`any(cast(${ids} as text[]))`),
    );
    const generations = new Coalescer<string, number>(async (ids) => {
      const rows = await readGenerations({ ids: [...ids] });
      return ids.map((id) => rows.find((row) => row.id === id)?.generation);
    });
    const organizationId = seeded.organizationId;
    // Written as lean as the guarded service's counting path (no async frame, no spread), so the
    // difference stays authentication's alone.
    const { token, organizationSuspended } = answer;
    tokens.authenticate = () =>
      generations.ask(organizationId, organizationId).then(({ answer: generation }) => ({ ok: true, token, organizationSuspended, answersVersion: Number(generation) }));
  }
  const permitAll = (_key: string, permitted: number): RateLimitResult => ({ allowed: true, permitted, remaining: permitted });
  MemoryRateLimiter.prototype.consume = permitAll;
  DatabaseRateLimiter.prototype.consume = permitAll as unknown as DatabaseRateLimiter['consume'];
}

const NO_TABLES: readonly string[] = [];

serveChild<ServiceReady>(async () => {
  const config = JSON.parse(process.argv[2] ?? '{}') as ServiceConfig;
  const postgres = config.engine === 'postgres';
  if (postgres && (!config.databaseUrl || !config.postgresSchema)) throw new Error('postgres needs databaseUrl and postgresSchema');
  if (config.seeded && !postgres) throw new Error('seeded: only a PostgreSQL schema can be shared by two processes');
  const ownsSchema = postgres && !config.seeded;
  const cleanup = async (runtime?: Runtime) => {
    try {
      await runtime?.close();
    } finally {
      if (ownsSchema) await dropPostgresSchemas(config.databaseUrl!, [config.postgresSchema!]);
      rmSync(config.dataDir, { recursive: true, force: true });
    }
  };

  let runtime: Runtime | undefined;
  try {
    runtime = await openRuntime({
      dataDir: config.dataDir,
      databaseUrl: postgres ? config.databaseUrl : undefined,
      postgresSchema: postgres ? config.postgresSchema : undefined,
    });
    const seeded = config.seeded ?? (await seed(runtime, config.policies));
    if (config.authentication === 'off') await switchAuthenticationOff(runtime, seeded, config.authFreeTwin ?? 'fresh');
    const server = await startServer(runtime, { host: '127.0.0.1', port: 0, logger: false });
    const opened = runtime;
    return {
      ready: { url: server.url, token: seeded.token, guardedToken: seeded.guardedToken, organizationId: seeded.organizationId, diskId: seeded.diskId, policyId: seeded.policyId, pid: process.pid },
      stop: async () => {
        try {
          await server.stop();
        } finally {
          await cleanup(opened);
        }
      },
    };
  } catch (error) {
    await cleanup(runtime).catch(() => {});
    throw error;
  }
});
