/**
 * `npm run bench:api`: requests/s and latency of two seed endpoints of the real service, beside a
 * bare Fastify 5 route serving the same response bodies as constants, all on loopback:
 *
 *   (a) GET   /core/v1/disks/disk/disk_backup_policies?disk[id]=…   a full page (30 of 40 policies)
 *   (b) PATCH /core/v1/disk_backup_policies/disk_backup_policy      a real write every request
 *   (c) `auth`: the list (a) with a guarded token (one read scope, authorized networks, an expiry, a
 *       rate limit — every check runs, and the rate limiter counts) beside the same list on an
 *       auth-free twin of the service (bench/support/service-child.ts, `authentication: 'off'`):
 *       the difference is what authentication and rate limiting cost (goal: < 15 % of the request),
 *       in --auth-rounds rounds (default 5), judged on the median of the rounds' shares.
 *       Single-process setups only; written to its own BENCHMARKS.md section (`api-auth`).
 *
 * The service and the bare app each run in a child process (bench/support/*-child.ts); autocannon
 * runs here, so its CPU is not on a server's event loop. Every measurement is warmed up first; each
 * service measurement is followed by a pass rate-limited to half its peak, for latency under load.
 * Prints a Markdown report and writes it to BENCHMARKS.md (its own section only).
 *
 *   npm run bench:api [-- --engine sqlite|postgres|postgres-x2|all (or a comma-separated list)]
 *                     [--database-url postgres://…] [--connections 10] [--duration 10] [--warmup 3]
 *                     [--only list|update|auth] [--auth-rounds 5] [--auth-control] [--auth-free-twin fresh|frozen] [--profile DIR] [--dry-run]
 *
 * PostgreSQL: with --database-url (or DATABASE_URL / TEST_DATABASE_URL set) the default engines (and
 * `all`) are SQLite, PostgreSQL with one service process and PostgreSQL with two; each PostgreSQL
 * setup uses a fresh schema, dropped afterwards. `postgres-x2` (shown as `postgres ×2`): two service
 * processes on one schema — the first seeds it, the second opens it as it is — loaded at once by two
 * autocannon instances, one per process, each with half the connections; req/s is their sum and
 * the latency percentiles are over every request of both.
 * --profile DIR: the service child runs under `node --cpu-prof`; its profile is summarized at the end
 * (such runs are not written to BENCHMARKS.md: the profiler slows the service).
 */
import { dropPostgresSchemas } from '../src/store/database.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BareConfig, BareReady } from './support/bare-child.js';
import { writeBenchmarkSection } from './support/benchmarks-md.js';
import { killAllChildren, startChild, type ChildHandle } from './support/children.js';
import { cpuSnapshot, cpuWindow, type CpuWindow } from './support/cpu-accounting.js';
import { formatProfileSummary, summarizeProfile } from './support/cpu-profile.js';
import { runLoad, runLoads, stopAllLoad, type LoadRequest, type LoadResult } from './support/load.js';
import type { ServiceConfig, ServiceReady } from './support/service-child.js';

type Engine = 'sqlite' | 'postgres';
type EndpointName = 'list' | 'update' | 'auth';

/** What is measured: an engine and how many service processes share its database. */
interface Setup {
  /** As shown in the report. */
  readonly name: string;
  /** As given to --engine, and in file names. */
  readonly key: string;
  readonly engine: Engine;
  readonly processes: number;
}

const SETUPS: readonly Setup[] = [
  { name: 'sqlite', key: 'sqlite', engine: 'sqlite', processes: 1 },
  { name: 'postgres ×1', key: 'postgres', engine: 'postgres', processes: 1 },
  { name: 'postgres ×2', key: 'postgres-x2', engine: 'postgres', processes: 2 },
];

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const LIST_PATH = '/core/v1/disks/disk/disk_backup_policies';
const UPDATE_PATH = '/core/v1/disk_backup_policies/disk_backup_policy';
const POLICIES = 40; // more than a page, so the page is full (30) and the count is not trivially the page
const PAGE_SIZE = 30;
const GOALS: Record<Exclude<EndpointName, 'auth'>, number> = { list: 0.5, update: 0.3 };
/** Authentication and rate limiting may cost at most this share of a request. */
const AUTH_SHARE_GOAL = 0.15;
/**
 * Authenticated and auth-free measurements alternate this many times by default (neighbours' load
 * moves); the share is judged on the median of the rounds' shares, so one disturbed round cannot
 * decide it.
 */
const DEFAULT_AUTH_ROUNDS = 5;
const HALF_LOAD_P99_GOAL_MS = 10;

const { values: args } = parseArgs({
  options: {
    engine: { type: 'string' },
    'database-url': { type: 'string' },
    connections: { type: 'string', default: '10' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    only: { type: 'string' },
    'auth-rounds': { type: 'string', default: String(DEFAULT_AUTH_ROUNDS) },
    'auth-control': { type: 'boolean', default: false },
    'auth-free-twin': { type: 'string', default: 'fresh' },
    profile: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
});

const connections = positiveInteger('connections', args.connections!);
const duration = positiveInteger('duration', args.duration!);
const authRounds = positiveInteger('auth-rounds', args['auth-rounds']!);
const authControl = args['auth-control']!;
const authFreeTwin = args['auth-free-twin'] as 'fresh' | 'frozen';
if (authFreeTwin !== 'fresh' && authFreeTwin !== 'frozen') throw new Error('--auth-free-twin must be fresh or frozen');
const warmup = Number(args.warmup);
if (!(warmup >= 0)) throw new Error('--warmup must be a number of seconds ≥ 0');
const databaseUrl = args['database-url'] ?? process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const setups: readonly Setup[] = setupsFrom(args.engine, databaseUrl);
// `auth` compares the service's list with a freshly seeded twin's, so it runs before `update` changes the policies.
const endpoints: EndpointName[] = args.only ? [endpointFrom(args.only)] : ['list', 'auth', 'update'];
const profileDir = args.profile ? resolve(args.profile) : undefined;
const writeReport = !args['dry-run'] && !profileDir && !authControl;

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number ≥ 1`);
  return value;
}

function setupsFrom(option: string | undefined, url: string | undefined): Setup[] {
  const aliases: Record<string, string> = { 'postgres-x1': 'postgres', 'postgres×1': 'postgres', 'postgres×2': 'postgres-x2', 'postgres*2': 'postgres-x2' };
  const keys =
    option === undefined ? (url ? SETUPS.map((s) => s.key) : ['sqlite']) : option === 'all' ? SETUPS.map((s) => s.key) : option.split(',').map((k) => aliases[k.trim()] ?? k.trim());
  const wanted = [...new Set(keys)].map((key) => {
    const setup = SETUPS.find((s) => s.key === key);
    if (!setup) throw new Error(`--engine: unknown engine "${key}" (sqlite, postgres, postgres-x2 or all)`);
    return setup;
  });
  if (wanted.some((s) => s.engine === 'postgres')) {
    if (!url) throw new Error('--engine postgres needs --database-url postgres://… (or DATABASE_URL / TEST_DATABASE_URL)');
    if (!/^postgres(ql)?:\/\//.test(url)) throw new Error('--database-url must be a postgres:// URL');
  }
  if (wanted.some((s) => s.processes > connections)) throw new Error(`--connections must be at least the number of service processes (${Math.max(...wanted.map((s) => s.processes))})`);
  return wanted;
}

function endpointFrom(text: string): EndpointName {
  if (text !== 'list' && text !== 'update' && text !== 'auth') throw new Error('--only must be list, update or auth');
  return text;
}

// ---- Processes and clean-up ------------------------------------------------------------------------

interface Service {
  readonly setup: Setup;
  /** The first seeded the database (and drops it when it stops); any other serves the same database. */
  readonly children: readonly ChildHandle<ServiceReady>[];
  /** The first child's seed (every child of the service answers with the same token and ids). */
  readonly ready: ServiceReady;
}

const temporaryDirs: string[] = [];
/** PostgreSQL schemas handed to service children; each child drops its own, this is the fallback. */
const postgresSchemas: string[] = [];
const services: Service[] = [];
let bare: ChildHandle<BareReady> | undefined;

async function stopEverything(): Promise<void> {
  stopAllLoad();
  // Second processes first: the first of each service drops its PostgreSQL schema when it stops.
  await Promise.allSettled([...services.flatMap((s) => s.children.slice(1).map((c) => c.stop())), bare?.stop()]);
  await Promise.allSettled(services.map((s) => s.children[0]!.stop()));
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
  if (postgresSchemas.length > 0) await dropPostgresSchemas(databaseUrl!, postgresSchemas.splice(0)).catch(() => {});
}


// Last resort (an uncaught error, process.exit): children killed, temporary directories removed.
process.on('exit', () => {
  killAllChildren();
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the bench\n`);
    void stopEverything().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

/**
 * Starts a setup's service processes: the first on a fresh database, which it seeds; any further
 * one (PostgreSQL only) on the same schema, given the first one's seed instead of seeding.
 */
async function startService(setup: Setup, authentication: 'on' | 'off' = 'on'): Promise<Service> {
  const { engine } = setup;
  const postgresSchema = engine === 'postgres' ? `bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}` : undefined;
  if (postgresSchema) postgresSchemas.push(postgresSchema);
  const children: ChildHandle<ServiceReady>[] = [];
  // Tracked before the first child is ready, so that a failure part-way still stops what did start.
  const service: Service & { ready: ServiceReady } = { setup, children, ready: undefined as unknown as ServiceReady };
  services.push(service);
  for (let index = 0; index < setup.processes; index++) {
    const dataDir = mkdtempSync(join(tmpdir(), `dbp-bench-${setup.key}-`));
    temporaryDirs.push(dataDir);
    const first = children[0]?.ready;
    const config: ServiceConfig = {
      engine,
      dataDir,
      policies: POLICIES,
      authentication,
      authFreeTwin,
      ...(postgresSchema ? { databaseUrl: databaseUrl!, postgresSchema } : {}),
      ...(first ? { seeded: { token: first.token, guardedToken: first.guardedToken, organizationId: first.organizationId, diskId: first.diskId, policyId: first.policyId } } : {}),
    };
    // Auth-free twins are not profiled: the profile to read is the guarded service's.
    const execArgv = profileDir && authentication === 'on' ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, setup.key)}`] : [];
    const twin = authentication === 'off' ? ', auth-free twin' : '';
    const name = setup.processes > 1 ? `service (${setup.name}${twin}, process ${index + 1})` : `service (${setup.name}${twin})`;
    const child = await startChild<ServiceReady>(name, new URL('./support/service-child.ts', import.meta.url), config, { execArgv });
    children.push(child);
    if (index === 0) service.ready = child.ready;
  }
  return service;
}

// ---- Requests ----------------------------------------------------------------------------------------

function listRequest(ready: ServiceReady, token = ready.token): LoadRequest {
  return { method: 'GET', path: `${LIST_PATH}?disk[id]=${ready.diskId}`, headers: { authorization: `Bearer ${token}` } };
}

/**
 * A different retention every request (1…1000, the valid range), so every request really writes.
 * With several load generators on one policy, generator `lane` of `lanes` sends only the values
 * ≡ lane + 1 (mod lanes), so two generators never send the same value one after the other.
 */
function updateRequest(ready: ServiceReady, lane = 0, lanes = 1): LoadRequest {
  const prefix = `{"disk_backup_policy":{"id":${JSON.stringify(ready.policyId)}},"properties":{"retention":`;
  return {
    method: 'PATCH',
    path: UPDATE_PATH,
    headers: { authorization: `Bearer ${ready.token}`, 'content-type': 'application/json' },
    body: (sequence) => `${prefix}${1 + ((sequence * lanes + lane) % 1000)}}}`,
  };
}

function requestFor(endpoint: Exclude<EndpointName, 'auth'>, ready: ServiceReady, lane = 0, lanes = 1): LoadRequest {
  return endpoint === 'list' ? listRequest(ready) : updateRequest(ready, lane, lanes);
}

/** One real request, checked, whose body the bare app will serve (a generated body: number `sequence`). */
async function capture(url: string, request: LoadRequest, check: (body: any) => string | null, sequence = 6): Promise<string> {
  const body = typeof request.body === 'function' ? request.body(sequence) : request.body;
  const response = await fetch(url + request.path, { method: request.method, headers: request.headers, body });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${request.method} ${request.path}: HTTP ${response.status}: ${text}`);
  const problem = check(JSON.parse(text));
  if (problem) throw new Error(`${request.method} ${request.path}: ${problem}`);
  return text;
}

/**
 * Several processes on one database: every one lists (filling its response cache), the first one
 * writes, and every other one must then answer with the write — the cache follows the organization's
 * generation across processes.
 */
async function checkSharedDatabase(service: Service): Promise<void> {
  const [owner, ...others] = service.children.map((c) => c.ready);
  const full = (body: any) => (body.disk_backup_policies?.length !== PAGE_SIZE ? 'not a full page' : null);
  for (const ready of [owner!, ...others]) await capture(ready.url, listRequest(ready), full);
  const retention = 11; // updateRequest's body number 10; not the 7 set before
  const updated = (body: any) => (body.disk_backup_policy?.retention !== retention ? `expected retention ${retention} in ${JSON.stringify(body)}` : null);
  await capture(owner!.url, updateRequest(owner!), updated, retention - 1);
  for (const ready of others) {
    await capture(ready.url, listRequest(ready), (body) => {
      const policy = body.disk_backup_policies?.find((p: { id?: string }) => p.id === ready.policyId);
      return policy?.retention !== retention ? `another process's update not seen: retention ${policy?.retention}, expected ${retention}` : null;
    });
  }
}

// ---- Measuring -----------------------------------------------------------------------------------------

interface Measured {
  readonly load: LoadResult;
  readonly cpu: CpuWindow;
  /** Microseconds of server CPU per request. */
  readonly serverCpuUs: number;
}

interface Measurement {
  readonly endpoint: Exclude<EndpointName, 'auth'>;
  readonly setup: Setup;
  readonly peak: Measured;
  readonly half: Measured;
  readonly halfRate: number;
}

/** One or more server processes measured together; their CPU counts as the server's. */
interface Target {
  readonly servers: readonly ChildHandle<{ url: string }>[];
  /** The request for the load generator of server `lane` of `lanes`. */
  request(lane: number, lanes: number): LoadRequest;
}

/** `total` split into `parts` whole shares that add up to it (the first ones one larger). */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * Warms up (not counted), then measures, with the CPU each process used over the measured window.
 * Several servers: one autocannon instance each, all at once, the connections (and the rate, if any)
 * split between them.
 */
async function measure(label: string, target: Target, options: { warmup: number; overallRate?: number }): Promise<Measured> {
  const lanes = target.servers.length;
  const shares = split(connections, lanes);
  const rates = options.overallRate ? split(options.overallRate, lanes) : undefined;
  const loads = (seconds: number) =>
    runLoads(
      target.servers.map((server, lane) => ({
        url: server.ready.url,
        request: target.request(lane, lanes),
        connections: shares[lane]!,
        duration: seconds,
        overallRate: rates ? Math.max(1, rates[lane]!) : 0,
      })),
    );
  const servers = { cpuUsage: () => sumCpu(target.servers) };
  if (options.warmup > 0) await loads(options.warmup);
  const before = await cpuSnapshot(servers);
  const load = await loads(duration);
  const cpu = cpuWindow(before, await cpuSnapshot(servers));
  checkResult(label, load);
  return { load, cpu, serverCpuUs: cpu.serverMicrosecondsPer(load.requests) };
}

/**
 * Two servers loaded at the same time, each by its own autocannon instance with `connections`
 * connections, each server's CPU counted on its own: both meet the same neighbours' load, so their
 * CPU per request compare even while that load moves. Others' CPU excludes both servers.
 */
async function measureSideBySide(label: string, servers: readonly [ChildHandle<{ url: string }>, ChildHandle<{ url: string }>], requests: readonly [LoadRequest, LoadRequest]): Promise<[Measured, Measured]> {
  const loads = (seconds: number) =>
    Promise.all(servers.map((server, i) => runLoad({ url: server.ready.url, request: requests[i]!, connections, duration: seconds, overallRate: 0 })));
  if (warmup > 0) await loads(warmup);
  // One after the other: a child answers one CPU question at a time.
  const snapshots = async () => [await cpuSnapshot(servers[0]), await cpuSnapshot(servers[1])] as const;
  const before = await snapshots();
  const results = await loads(duration);
  const after = await snapshots();
  const windows = [cpuWindow(before[0], after[0]), cpuWindow(before[1], after[1])] as const;
  return results.map((load, i) => {
    checkResult(`${label} (${i === 0 ? 'first' : 'second'})`, load);
    const own = windows[i]!;
    const other = windows[1 - i]!;
    const cpu = { ...own, others: own.others === null ? null : Math.max(0, own.others - other.server) };
    return { load, cpu, serverCpuUs: own.serverMicrosecondsPer(load.requests) };
  }) as [Measured, Measured];
}

async function sumCpu(servers: readonly { cpuUsage(): Promise<NodeJS.CpuUsage> }[]): Promise<NodeJS.CpuUsage> {
  const usages = await Promise.all(servers.map((s) => s.cpuUsage()));
  return usages.reduce((sum, u) => ({ user: sum.user + u.user, system: sum.system + u.system }), { user: 0, system: 0 });
}

function describe(measured: Measured): string {
  const { load, cpu } = measured;
  const others = cpu.others === null ? 'unknown' : cpu.others.toFixed(2);
  return `${rps(load.rps)} req/s, p50 ${ms(load.exact.p50)} ms, p99 ${ms(load.exact.p99)} ms (autocannon ${load.autocannon.p99} ms); server ${measured.serverCpuUs.toFixed(0)} µs CPU/req, ${cpu.server.toFixed(2)} cores; autocannon ${cpu.generator.toFixed(2)} cores; others ${others} cores`;
}

function checkResult(label: string, result: LoadResult): void {
  if (result.non2xx > 0 || result.errors > 0 || result.requests === 0) {
    throw new Error(
      `${label}: ${result.requests} responses, ${result.non2xx} not 2xx (${JSON.stringify(result.statusCodes)}), ${result.errors} errors (${result.timeouts} timeouts): the measurement is not valid`,
    );
  }
}

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : '—');
const rps = (value: number) => Math.round(value).toLocaleString('en-US');

async function main(): Promise<void> {
  const started = Date.now();
  const loadAverage = loadavg();
  log(`engines: ${setups.map((s) => s.name).join(', ')}; endpoints: ${endpoints.join(', ')}; ${connections} connections, pipelining 1, warm-up ${warmup} s, ${duration} s per measurement`);
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  for (const setup of setups) {
    const service = await startService(setup);
    for (const child of service.children) log(`${child.name} ready at ${child.ready.url} (pid ${child.ready.pid})`);
  }

  // The bodies the bare app serves: captured once from the real service (the first engine).
  const first = services[0]!.ready;
  const listBody = await capture(first.url, listRequest(first), (body) =>
    body.disk_backup_policies?.length !== PAGE_SIZE ? `expected a full page of ${PAGE_SIZE} policies, got ${body.disk_backup_policies?.length}` : null,
  );
  const updateBody = await capture(first.url, updateRequest(first), (body) =>
    body.disk_backup_policy?.retention !== 7 ? `expected retention 7 in ${JSON.stringify(body)}` : null,
  );
  for (const service of services.slice(1)) {
    const ready = service.ready;
    await capture(ready.url, listRequest(ready), (body) => (body.disk_backup_policies?.length !== PAGE_SIZE ? 'not a full page' : null));
    await capture(ready.url, updateRequest(ready), (body) => (body.disk_backup_policy?.retention !== 7 ? 'retention not updated' : null));
  }
  for (const service of services) if (service.children.length > 1) await checkSharedDatabase(service);
  const bareConfig: BareConfig = {
    routes: [
      { method: 'GET', path: LIST_PATH, body: listBody },
      { method: 'PATCH', path: UPDATE_PATH, body: updateBody },
    ],
  };
  bare = await startChild<BareReady>('bare Fastify', new URL('./support/bare-child.ts', import.meta.url), bareConfig);
  log(`bare Fastify ready at ${bare.ready.url} (pid ${bare.ready.pid}); list body ${listBody.length} bytes, update body ${updateBody.length} bytes`);
  for (const [endpoint, expected] of [['list', listBody], ['update', updateBody]] as const) {
    const request = requestFor(endpoint, first);
    const body = typeof request.body === 'function' ? request.body(0) : request.body;
    const response = await fetch(bare.ready.url + request.path, { method: request.method, headers: request.headers, body });
    if (response.status !== 200 || (await response.text()) !== expected) throw new Error(`bare ${endpoint}: unexpected response`);
  }

  const bareResults = new Map<EndpointName, Measured>();
  const measurements: Measurement[] = [];
  const authMeasurements: AuthMeasurement[] = [];
  for (const endpoint of endpoints) {
    if (endpoint === 'auth') {
      for (const service of services.filter((s) => s.children.length === 1)) authMeasurements.push(await measureAuthentication(service.setup));
      for (const service of services.filter((s) => s.children.length > 1)) log(`auth: ${service.setup.name} skipped (single-process setups only)`);
      continue;
    }
    log(`${endpoint}: bare Fastify…`);
    const bareTarget: Target = { servers: [bare], request: () => requestFor(endpoint, first) };
    const bareResult = await measure(`bare ${endpoint}`, bareTarget, { warmup });
    bareResults.set(endpoint, bareResult);
    log(`${endpoint}: bare Fastify: ${describe(bareResult)}`);

    for (const service of services) {
      const name = service.setup.name;
      const target: Target = { servers: service.children, request: (lane, lanes) => requestFor(endpoint, service.ready, lane, lanes) };
      log(`${endpoint}: service (${name}), peak…`);
      const peak = await measure(`${endpoint} (${name})`, target, { warmup });
      log(`${endpoint}: service (${name}): ${describe(peak)}`);
      const halfRate = Math.max(service.children.length, Math.floor(peak.load.rps / 2));
      log(`${endpoint}: service (${name}), half load (${rps(halfRate)} req/s)…`);
      const half = await measure(`${endpoint} (${name}) at half load`, target, { warmup: 0, overallRate: halfRate });
      log(`${endpoint}: service (${name}) at half load: ${describe(half)}`);
      measurements.push({ endpoint, setup: service.setup, peak, half, halfRate });
    }
  }

  await stopEverything();
  const elapsed = (Date.now() - started) / 1000;

  const context = { elapsedSeconds: elapsed, listBytes: listBody.length, updateBytes: updateBody.length, loadAverage };
  const sections: [string, string][] = [];
  if (measurements.length > 0) sections.push(['api', renderReport(measurements, bareResults, context)]);
  if (authMeasurements.length > 0) sections.push(['api-auth', renderAuthReport(authMeasurements, context)]);
  for (const [, report] of sections) process.stdout.write(`\n${report}\n`);
  if (writeReport) {
    for (const [name, report] of sections) {
      writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), name, report);
      log(`BENCHMARKS.md: section "${name}" written`);
    }
  } else {
    log('BENCHMARKS.md left as it is (--dry-run or --profile)');
  }

  if (profileDir) {
    for (const file of findProfiles(profileDir)) {
      process.stdout.write(`\n== CPU profile ${file}\n${formatProfileSummary(summarizeProfile(file))}\n`);
    }
  }
}

// ---- The cost of authentication and rate limiting ------------------------------------------------------

interface AuthMeasurement {
  readonly setup: Setup;
  readonly authenticated: Measured[];
  readonly authFree: Measured[];
}

/**
 * The list with the guarded token on a service, beside the same list on an auth-free twin (its own
 * process and database, seeded alike), in `authRounds` rounds. Each round starts a fresh pair (a
 * process's own layout and JIT decisions move its CPU per request by several per cent, for all its
 * life), loads both at once (side by side: both meet the same neighbours' load), the two autocannon
 * instances' order swapped every other round, and stops them. With --auth-control the guarded side
 * is an auth-free twin too: an A/A run whose shares show the method's own noise.
 */
/** Of each setup, the guarded service of the last round (whose CPU profile --profile summarizes). */
const lastGuardedPids: number[] = [];

async function measureAuthentication(setup: Setup): Promise<AuthMeasurement> {
  const name = setup.name;
  const full = (body: any) => (body.disk_backup_policies?.length !== PAGE_SIZE ? 'not a full page' : null);
  const authenticated: Measured[] = [];
  const authFree: Measured[] = [];
  for (let round = 1; round <= authRounds; round++) {
    log(`auth: ${name}, round ${round} of ${authRounds}: starting a guarded service and its auth-free twin…`);
    const [service, twin] = await Promise.all([startService(setup, authControl ? 'off' : 'on'), startService(setup, 'off')]);
    try {
      const guarded = listRequest(service.ready, service.ready.guardedToken);
      const free = listRequest(twin.ready, twin.ready.guardedToken);
      const [withAuth, withoutAuth] = await Promise.all([capture(service.ready.url, guarded, full), capture(twin.ready.url, free, full)]);
      if (withAuth.length !== withoutAuth.length) throw new Error('the auth-free twin answers a different body');
      const [first, second] = [service.children[0]!, twin.children[0]!];
      if (round === authRounds) lastGuardedPids.push(first.ready.pid);
      log(`auth: ${name}, round ${round}: guarded service pid ${first.ready.pid}, auth-free twin pid ${second.ready.pid}`);
      const swap = round % 2 === 0;
      const pair = swap
        ? (await measureSideBySide(`auth (${name})`, [second, first], [free, guarded])).reverse()
        : await measureSideBySide(`auth (${name})`, [first, second], [guarded, free]);
      const [g, f] = pair as [Measured, Measured];
      authenticated.push(g);
      authFree.push(f);
      log(`auth: ${name}, guarded token${authControl ? ' (control: auth-free too)' : ''}: ${describe(g)}`);
      log(`auth: ${name}, auth-free twin: ${describe(f)}`);
      const share = authShares(g, f);
      log(`auth: ${name}, round ${round}: share by CPU/req ${pct(share.byCpu)}, by req/s ${pct(share.byRps)}`);
    } finally {
      for (const stopped of [service, twin]) services.splice(services.indexOf(stopped), 1);
      await Promise.all([service.children[0]!.stop(), twin.children[0]!.stop()]);
    }
  }
  return { setup, authenticated, authFree };
}

/** One round's shares: of the guarded request's CPU, and of the twin's req/s. */
function authShares(guarded: Measured, free: Measured): { byCpu: number; byRps: number } {
  return { byCpu: (guarded.serverCpuUs - free.serverCpuUs) / guarded.serverCpuUs, byRps: 1 - guarded.load.rps / free.load.rps };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const pct = (share: number) => `${(share * 100).toFixed(1)} %`;

function renderAuthReport(
  measurements: readonly AuthMeasurement[],
  context: { elapsedSeconds: number; loadAverage: number[] },
): string {
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const rows = [
    '| Engine | guarded list req/s | auth-free req/s | guarded CPU/req (µs) | auth-free CPU/req (µs) | share by CPU/req | share by req/s | goal | met? | others\' CPU (cores) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|:-:|--:|',
  ];
  for (const m of measurements) {
    const shares = m.authenticated.map((x, i) => authShares(x, m.authFree[i]!));
    const shareByCpu = median(shares.map((s) => s.byCpu));
    const shareByRps = median(shares.map((s) => s.byRps));
    const others = [...m.authenticated, ...m.authFree].map((x) => x.cpu.others);
    const othersText = others.some((x) => x === null) ? '?' : (mean(others as number[])).toFixed(2);
    rows.push(
      `| ${m.setup.name} | ${rps(median(m.authenticated.map((x) => x.load.rps)))} | ${rps(median(m.authFree.map((x) => x.load.rps)))} | ${median(m.authenticated.map((x) => x.serverCpuUs)).toFixed(0)} | ${median(m.authFree.map((x) => x.serverCpuUs)).toFixed(0)} | ${pct(shareByCpu)} | ${pct(shareByRps)} | < ${AUTH_SHARE_GOAL * 100} % | ${shareByCpu < AUTH_SHARE_GOAL ? 'yes' : '**no**'} | ${othersText} |`,
    );
    const rounds = m.authenticated.map(
      (x, i) =>
        `${rps(x.load.rps)} / ${rps(m.authFree[i]!.load.rps)} req/s, ${x.serverCpuUs.toFixed(0)} / ${m.authFree[i]!.serverCpuUs.toFixed(0)} µs (${pct(shares[i]!.byCpu)})`,
    );
    rows.push(`| ${m.setup.name}: each round (guarded / auth-free, share by CPU/req) | ${rounds.join('; ')} | | | | | | | | |`);
  }
  return [
    '## API: the cost of authentication and rate limiting (`npm run bench:api -- --only auth`)',
    '',
    `- Command: \`${commandLine()}\` (took ${context.elapsedSeconds.toFixed(0)} s)`,
    `- Date: ${new Date().toISOString()}; commit ${commit()} (the working tree may hold uncommitted changes)`,
    `- Machine: \`nproc\` ${availableParallelism()}, ${cpus()[0]?.model.trim() ?? 'unknown CPU'}; Node ${process.version}; load average at start ${context.loadAverage.map((x) => x.toFixed(2)).join(' / ')}. The machine was shared with other work while this ran.`,
    `- Load: ${authRounds} rounds; each starts a fresh guarded service and a fresh auth-free twin and loads both at once (side by side, so both meet the same load of the shared machine), each by its own autocannon instance with ${connections} connections, pipelining 1, ${warmup} s warm-up then ${duration} s measured; the two instances' order swaps every other round. The table shows medians over the rounds: of req/s, of CPU/req, and of each round's own shares (the goal is judged on the median share by CPU/req); others' CPU (neither service nor autocannon) is the mean.${authControl ? ' CONTROL RUN (--auth-control): the guarded side is an auth-free twin too.' : ''}`,
    '',
    ...rows,
    '',
    `- Request: \`GET ${LIST_PATH}?disk[id]=…\` (30 of ${POLICIES} policies). The guarded token holds only \`disk_backup_policies:read\`, four authorized networks (one of them 127.0.0.0/8), an expiry a year ahead and a rate limit no pass reaches; so every request hashes the secret, finds the token (SQLite: reused from the previous request while \`PRAGMA data_version\` and this process's own writes show no change of tokens or organizations; PostgreSQL: one statement that reads the token and its organization's generation and counts the request in the token's shared rate-limit window — one round trip, shared by the requests that arrive while one runs, each taking its own place in the count), checks the expiry, the network, the suspension and the scope, and counts against the rate limit (in memory on SQLite, in that statement on PostgreSQL).`,
    authFreeTwin === 'fresh'
      ? "- Auth-free twin (`--auth-free-twin fresh`, the default): the same service and seed in its own process and database, with authentication answered from one result computed at start and a rate limiter that counts nothing (a switch of the bench's service child; production code has none). It still finds, per request, the organization's answers version its response cache is keyed by — what a service without authentication would need too so that the cache never serves an answer another process has made stale: on SQLite `PRAGMA data_version` (through `Store.changes`), on PostgreSQL one prepared query of the organization's generation (one round trip, shared by the requests that arrive while one runs, as the guarded service shares its token statement: `src/store/coalescing.ts`; its answer is made as leanly as the guarded service's, without an async frame or an object spread). Everything else — routing, argument parsing, the response cache, serialization, headers — is the same. So the difference is authentication and rate limiting alone."
      : "- Auth-free twin (`--auth-free-twin frozen`): the same service and seed in its own process and database, with authentication answered from one result computed at start (answers version included: the twin never looks for changes, so it would miss other processes' writes) and a rate limiter that counts nothing. The difference therefore also holds the answers-version check (SQLite: `PRAGMA data_version`; PostgreSQL: the whole round trip).",
    '- Share by CPU/req = (guarded − auth-free) ÷ guarded server CPU per request, per round: the part of each request\'s own CPU that authentication and rate limiting take. Share by req/s = 1 − guarded ÷ auth-free req/s, per round; side by side, the two services split the CPU, so it understates the cost and only CPU/req counts. Why side by side, fresh processes and medians: loaded one after the other, an A/A run (`--auth-control`: both sides auth-free) gave per-round shares from −17 % to +30 % as the neighbours\' load moved; loaded together but in the same two processes for every round, one pair stayed 8–18 % apart in all its rounds (a per-process offset). Side by side with fresh pairs (this method), an A/A run of 6 rounds of 5 s gave shares from −4 % to +12 % around a median of −0.2 %: one round is still noisy, the median of several is not.',
  ].join('\n');
}

function findProfiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findProfiles(path));
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (others: the loader's worker).
    else if (/^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(entry)) found.push(path);
  }
  // --only auth: the last round's guarded service of each setup (the main services only answered a few captures).
  const wanted = endpoints.length === 1 && endpoints[0] === 'auth' ? found.filter((path) => lastGuardedPids.includes(Number(path.split('.').at(-4)))) : found;
  return wanted.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs).slice(0, setups.reduce((n, s) => n + s.processes, 0));
}

// ---- Report ------------------------------------------------------------------------------------------

function commandLine(): string {
  const extra = process.argv.slice(2);
  return `npm run bench:api${extra.length > 0 ? ` -- ${extra.map((a) => (/^[\w./:=,@-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}` : ''}`.replace(
    /(postgres(ql)?:\/\/[^:/@]+):[^@]*@/g,
    '$1:***@',
  );
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function renderReport(
  measurements: readonly Measurement[],
  bareResults: ReadonlyMap<EndpointName, Measured>,
  context: { elapsedSeconds: number; listBytes: number; updateBytes: number; loadAverage: number[] },
): string {
  const label: Record<Exclude<EndpointName, 'auth'>, string> = {
    list: '`GET disks/disk/disk_backup_policies` (30 of 40)',
    update: '`PATCH disk_backup_policies/disk_backup_policy`',
  };
  const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
  const cores = (m: Measured) => (m.cpu.others === null ? '?' : m.cpu.others.toFixed(2));
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';

  const peakRows = [
    '| Endpoint | Engine | req/s | p50 (ms) | p99 (ms) | bare req/s | ratio | goal | met? | server CPU/req (µs) | ratio by CPU/req | others\' CPU (cores) |',
    '|---|---|--:|--:|--:|--:|--:|--:|:-:|--:|--:|--:|',
  ];
  for (const endpoint of endpoints) {
    if (endpoint === 'auth') continue; // its own section (renderAuthReport)
    const base = bareResults.get(endpoint)!;
    for (const m of measurements.filter((x) => x.endpoint === endpoint)) {
      const ratio = m.peak.load.rps / base.load.rps;
      peakRows.push(
        `| ${label[endpoint]} | ${m.setup.name} | ${rps(m.peak.load.rps)} | ${ms(m.peak.load.exact.p50)} | ${ms(m.peak.load.exact.p99)} | ${rps(base.load.rps)} | ${(ratio * 100).toFixed(1)} % | ≥ ${GOALS[endpoint] * 100} % | ${yes(ratio >= GOALS[endpoint])} | ${m.peak.serverCpuUs.toFixed(0)} | ${((base.serverCpuUs / m.peak.serverCpuUs) * 100).toFixed(1)} % | ${cores(m.peak)} |`,
      );
    }
    peakRows.push(
      `| ${label[endpoint]} | bare Fastify (baseline) | ${rps(base.load.rps)} | ${ms(base.load.exact.p50)} | ${ms(base.load.exact.p99)} | — | — | — | — | ${base.serverCpuUs.toFixed(0)} | — | ${cores(base)} |`,
    );
  }

  const halfRows = [
    '| Endpoint | Engine | rate asked (req/s) | req/s done | p50 (ms) | p99 (ms) | max (ms) | p99, autocannon (ms) | goal | met? | others\' CPU (cores) |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|:-:|--:|',
  ];
  for (const m of measurements) {
    const p99 = Math.max(m.half.load.exact.p99, m.half.load.autocannon.p99);
    halfRows.push(
      `| ${label[m.endpoint]} | ${m.setup.name} | ${rps(m.halfRate)} | ${rps(m.half.load.rps)} | ${ms(m.half.load.exact.p50)} | ${ms(m.half.load.exact.p99)} | ${ms(m.half.load.exact.max)} | ${m.half.load.autocannon.p99} | < ${HALF_LOAD_P99_GOAL_MS} ms | ${yes(p99 < HALF_LOAD_P99_GOAL_MS)} | ${cores(m.half)} |`,
    );
  }

  return [
    '## API (`npm run bench:api`)',
    '',
    `- Command: \`${commandLine()}\` (took ${context.elapsedSeconds.toFixed(0)} s)`,
    `- Date: ${new Date().toISOString()}; commit ${commit()} (the working tree may hold uncommitted changes)`,
    `- Machine: \`nproc\` ${availableParallelism()}, ${cpu}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}; Node ${process.version}; load average at start ${context.loadAverage.map((x) => x.toFixed(2)).join(' / ')}`,
    `- Load: autocannon, ${connections} connections, pipelining 1, ${warmup} s warm-up then ${duration} s measured, on 127.0.0.1; bodies ${context.listBytes} bytes (list), ${context.updateBytes} bytes (update)`,
    `- autocannon's own CPU while driving the baseline: ${[...bareResults].map(([endpoint, m]) => `${m.cpu.generator.toFixed(2)} cores (${endpoint})`).join(', ')} — well under one core means the baseline was not limited by the load generator`,
    '',
    '### Peak throughput',
    '',
    ...peakRows,
    '',
    `### Latency at half of peak load (autocannon \`overallRate\` = ½ × the service's peak req/s, ${duration} s)`,
    '',
    ...halfRows,
    '',
    '### Method',
    '',
    '- Processes: this script (autocannon), the service (`startServer` on a fresh SQLite file in a temporary directory, or a fresh PostgreSQL schema) and the baseline, a bare Fastify 5 app. Only one setup is under load at a time.',
    `- \`postgres ×2\`: two service processes on one fresh PostgreSQL schema — the first seeds it, the second opens it as it is, given the first one's token and ids (before measuring, a write through the first must show in the second's list answer). They are loaded at once by two autocannon instances in this script, one per process, each with half of the ${connections} connections (and, at half load, half of the rate): req/s is the sum, p50/p99/max are over every request of both, "p99, autocannon" is the higher of the two instances' figures, and server CPU is both processes' together. Both share the one token, so every request upserts the same \`rate_limit_windows\` row; on ${availableParallelism()} cores the two processes, PostgreSQL and autocannon all compete for the same CPUs. Its ratio is still against the one bare process.`,
    `- The service is seeded through \`runtime.services\`: one organization, one disk with ${POLICIES} policies (so the list answers a full page of ${PAGE_SIZE} and counts ${POLICIES}), and a token with every scope and a rate limit of 100 000 000 a minute.`,
    "- The baseline serves the bodies captured once from the real service as constant strings (`application/json`) on the same paths; its PATCH route parses the JSON body with Fastify's default parser and ignores it. Ratio = service req/s ÷ baseline req/s for the same request.",
    '- Every update request sends a different `retention` (1…1000), so every request is a real write. A run with any non-2xx response or socket error fails instead of reporting.',
    `- ${connections} connections: the service is one Node event loop (and better-sqlite3 is synchronous), so a few requests in flight saturate it; more connections add only queueing time to every latency (Little's law), not throughput. 10 is also the size of the PostgreSQL pool (per process).`,
    '- p50/p99 are exact (every 2xx response\'s own time). "p99, autocannon" is autocannon\'s own figure: whole milliseconds, and in rate-limited runs "corrected" for coordinated omission with an expected interval of 1 ms. autocannon meets a rate by letting each connection send its per-second quota back to back and then wait for the next second, so a half-load pass is bursts at full speed for part of each second, not evenly spaced requests. The goal counts as met only when both p99 figures are under 10 ms.',
    "- CPU columns: the server's own CPU time (user + system) over the measured window ÷ requests, and the busy CPU of every other process on the machine (from /proc/stat) in cores — for PostgreSQL rows that includes the PostgreSQL server itself. On a shared machine req/s moves with the neighbours' load, CPU per request much less, so \"ratio by CPU/req\" (baseline µs/req ÷ service µs/req) is the steadier capacity ratio; when others' CPU is well above 0, treat req/s and latencies as pessimistic.",
  ].join('\n');
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:api failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  await stopEverything().catch(() => {});
  process.exit(1);
});
