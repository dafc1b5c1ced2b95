/**
 * `npm run bench:api`: requests/s and latency of two seed endpoints of the real service, beside a
 * bare Fastify 5 route serving the same response bodies as constants, all on loopback:
 *
 *   (a) GET   /core/v1/disks/disk/disk_backup_policies?disk[id]=…   a full page (30 of 40 policies)
 *   (b) PATCH /core/v1/disk_backup_policies/disk_backup_policy      a real write every request
 *
 * The service and the bare app each run in a child process (bench/support/*-child.ts); autocannon
 * runs here, so its CPU is not on a server's event loop. Every measurement is warmed up first; each
 * service measurement is followed by a pass rate-limited to half its peak, for latency under load.
 * Prints a Markdown report and writes it to BENCHMARKS.md (its own section only).
 *
 *   npm run bench:api [-- --engine sqlite|postgres|all] [--database-url postgres://…]
 *                     [--connections 10] [--duration 10] [--warmup 3] [--only list|update]
 *                     [--profile DIR] [--dry-run]
 *
 * PostgreSQL: with --database-url (or DATABASE_URL / TEST_DATABASE_URL set) the default engines are
 * SQLite and PostgreSQL; each run uses a fresh schema, dropped afterwards.
 * --profile DIR: the service child runs under `node --cpu-prof`; its profile is summarized at the end
 * (such runs are not written to BENCHMARKS.md: the profiler slows the service).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { BareConfig, BareReady } from './support/bare-child.js';
import { writeBenchmarkSection } from './support/benchmarks-md.js';
import { killAllChildren, startChild, type ChildHandle } from './support/children.js';
import { cpuSnapshot, cpuWindow, type CpuWindow } from './support/cpu-accounting.js';
import { formatProfileSummary, summarizeProfile } from './support/cpu-profile.js';
import { runLoad, stopAllLoad, type LoadRequest, type LoadResult } from './support/load.js';
import type { ServiceConfig, ServiceReady } from './support/service-child.js';

type Engine = 'sqlite' | 'postgres';
type EndpointName = 'list' | 'update';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const LIST_PATH = '/core/v1/disks/disk/disk_backup_policies';
const UPDATE_PATH = '/core/v1/disk_backup_policies/disk_backup_policy';
const POLICIES = 40; // more than a page, so the page is full (30) and the count is not trivially the page
const PAGE_SIZE = 30;
const GOALS: Record<EndpointName, number> = { list: 0.5, update: 0.3 };
const HALF_LOAD_P99_GOAL_MS = 10;

const { values: args } = parseArgs({
  options: {
    engine: { type: 'string' },
    'database-url': { type: 'string' },
    connections: { type: 'string', default: '10' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    only: { type: 'string' },
    profile: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
});

const connections = positiveInteger('connections', args.connections!);
const duration = positiveInteger('duration', args.duration!);
const warmup = Number(args.warmup);
if (!(warmup >= 0)) throw new Error('--warmup must be a number of seconds ≥ 0');
const databaseUrl = args['database-url'] ?? process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const engines: Engine[] = enginesFrom(args.engine, databaseUrl);
const endpoints: EndpointName[] = args.only ? [endpointFrom(args.only)] : ['list', 'update'];
const profileDir = args.profile ? resolve(args.profile) : undefined;
const writeReport = !args['dry-run'] && !profileDir;

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number ≥ 1`);
  return value;
}

function enginesFrom(option: string | undefined, url: string | undefined): Engine[] {
  const wanted = option === undefined ? (url ? ['sqlite', 'postgres'] : ['sqlite']) : option === 'all' ? ['sqlite', 'postgres'] : option.split(',');
  for (const engine of wanted) if (engine !== 'sqlite' && engine !== 'postgres') throw new Error(`--engine: unknown engine "${engine}"`);
  if (wanted.includes('postgres') && !url) throw new Error('--engine postgres needs --database-url postgres://… (or DATABASE_URL / TEST_DATABASE_URL)');
  if (wanted.includes('postgres') && !/^postgres(ql)?:\/\//.test(url!)) throw new Error('--database-url must be a postgres:// URL');
  return wanted as Engine[];
}

function endpointFrom(text: string): EndpointName {
  if (text !== 'list' && text !== 'update') throw new Error('--only must be list or update');
  return text;
}

// ---- Processes and clean-up ------------------------------------------------------------------------

interface Service {
  readonly engine: Engine;
  readonly child: ChildHandle<ServiceReady>;
  readonly dataDir: string;
}

const temporaryDirs: string[] = [];
/** PostgreSQL schemas handed to service children; each child drops its own, this is the fallback. */
const postgresSchemas: string[] = [];
const services: Service[] = [];
let bare: ChildHandle<BareReady> | undefined;

async function stopEverything(): Promise<void> {
  stopAllLoad();
  await Promise.allSettled([...services.map((s) => s.child.stop()), bare?.stop()]);
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
  if (postgresSchemas.length > 0) await dropSchemas(postgresSchemas.splice(0)).catch(() => {});
}

async function dropSchemas(schemas: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
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

async function startService(engine: Engine): Promise<Service> {
  const dataDir = mkdtempSync(join(tmpdir(), `dbp-bench-${engine}-`));
  temporaryDirs.push(dataDir);
  const config: ServiceConfig = {
    engine,
    dataDir,
    policies: POLICIES,
    ...(engine === 'postgres'
      ? { databaseUrl: databaseUrl!, postgresSchema: `bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}` }
      : {}),
  };
  if (config.postgresSchema) postgresSchemas.push(config.postgresSchema);
  const execArgv = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, engine)}`] : [];
  const child = await startChild<ServiceReady>(`service (${engine})`, new URL('./support/service-child.ts', import.meta.url), config, { execArgv });
  const service = { engine, child, dataDir };
  services.push(service);
  return service;
}

// ---- Requests ----------------------------------------------------------------------------------------

function listRequest(ready: ServiceReady): LoadRequest {
  return { method: 'GET', path: `${LIST_PATH}?disk[id]=${ready.diskId}`, headers: { authorization: `Bearer ${ready.token}` } };
}

/** A different retention every request (1…1000, the valid range), so every request really writes. */
function updateRequest(ready: ServiceReady): LoadRequest {
  const prefix = `{"disk_backup_policy":{"id":${JSON.stringify(ready.policyId)}},"properties":{"retention":`;
  return {
    method: 'PATCH',
    path: UPDATE_PATH,
    headers: { authorization: `Bearer ${ready.token}`, 'content-type': 'application/json' },
    body: (sequence) => `${prefix}${1 + (sequence % 1000)}}}`,
  };
}

function requestFor(endpoint: EndpointName, ready: ServiceReady): LoadRequest {
  return endpoint === 'list' ? listRequest(ready) : updateRequest(ready);
}

/** One real request, checked, whose body the bare app will serve. */
async function capture(url: string, request: LoadRequest, check: (body: any) => string | null): Promise<string> {
  const body = typeof request.body === 'function' ? request.body(6) : request.body;
  const response = await fetch(url + request.path, { method: request.method, headers: request.headers, body });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${request.method} ${request.path}: HTTP ${response.status}: ${text}`);
  const problem = check(JSON.parse(text));
  if (problem) throw new Error(`${request.method} ${request.path}: ${problem}`);
  return text;
}

// ---- Measuring -----------------------------------------------------------------------------------------

interface Measured {
  readonly load: LoadResult;
  readonly cpu: CpuWindow;
  /** Microseconds of server CPU per request. */
  readonly serverCpuUs: number;
}

interface Measurement {
  readonly endpoint: EndpointName;
  readonly engine: Engine;
  readonly peak: Measured;
  readonly half: Measured;
  readonly halfRate: number;
}

/** Warms up (not counted), then measures, with the CPU each process used over the measured window. */
async function measure(
  label: string,
  server: ChildHandle<{ url: string }>,
  request: LoadRequest,
  options: { warmup: number; overallRate?: number },
): Promise<Measured> {
  const url = server.ready.url;
  if (options.warmup > 0) await runLoad({ url, request, connections, duration: options.warmup, overallRate: options.overallRate ?? 0 });
  const before = await cpuSnapshot(server);
  const load = await runLoad({ url, request, connections, duration, overallRate: options.overallRate ?? 0 });
  const cpu = cpuWindow(before, await cpuSnapshot(server));
  checkResult(label, load);
  return { load, cpu, serverCpuUs: cpu.serverMicrosecondsPer(load.requests) };
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
  log(`engines: ${engines.join(', ')}; endpoints: ${endpoints.join(', ')}; ${connections} connections, pipelining 1, warm-up ${warmup} s, ${duration} s per measurement`);
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  for (const engine of engines) {
    const service = await startService(engine);
    log(`service (${engine}) ready at ${service.child.ready.url} (pid ${service.child.ready.pid})`);
  }

  // The bodies the bare app serves: captured once from the real service (the first engine).
  const first = services[0]!.child.ready;
  const listBody = await capture(first.url, listRequest(first), (body) =>
    body.disk_backup_policies?.length !== PAGE_SIZE ? `expected a full page of ${PAGE_SIZE} policies, got ${body.disk_backup_policies?.length}` : null,
  );
  const updateBody = await capture(first.url, updateRequest(first), (body) =>
    body.disk_backup_policy?.retention !== 7 ? `expected retention 7 in ${JSON.stringify(body)}` : null,
  );
  for (const service of services.slice(1)) {
    const ready = service.child.ready;
    await capture(ready.url, listRequest(ready), (body) => (body.disk_backup_policies?.length !== PAGE_SIZE ? 'not a full page' : null));
    await capture(ready.url, updateRequest(ready), (body) => (body.disk_backup_policy?.retention !== 7 ? 'retention not updated' : null));
  }
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
  for (const endpoint of endpoints) {
    log(`${endpoint}: bare Fastify…`);
    const bareResult = await measure(`bare ${endpoint}`, bare, requestFor(endpoint, first), { warmup });
    bareResults.set(endpoint, bareResult);
    log(`${endpoint}: bare Fastify: ${describe(bareResult)}`);

    for (const service of services) {
      const request = requestFor(endpoint, service.child.ready);
      log(`${endpoint}: service (${service.engine}), peak…`);
      const peak = await measure(`${endpoint} (${service.engine})`, service.child, request, { warmup });
      log(`${endpoint}: service (${service.engine}): ${describe(peak)}`);
      const halfRate = Math.max(1, Math.floor(peak.load.rps / 2));
      log(`${endpoint}: service (${service.engine}), half load (${rps(halfRate)} req/s)…`);
      const half = await measure(`${endpoint} (${service.engine}) at half load`, service.child, request, { warmup: 0, overallRate: halfRate });
      log(`${endpoint}: service (${service.engine}) at half load: ${describe(half)}`);
      measurements.push({ endpoint, engine: service.engine, peak, half, halfRate });
    }
  }

  await stopEverything();
  const elapsed = (Date.now() - started) / 1000;

  const report = renderReport(measurements, bareResults, { elapsedSeconds: elapsed, listBytes: listBody.length, updateBytes: updateBody.length, loadAverage });
  process.stdout.write(`\n${report}\n`);
  if (writeReport) {
    writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), 'api', report);
    log('BENCHMARKS.md: section "api" written');
  } else {
    log('BENCHMARKS.md left as it is (--dry-run or --profile)');
  }

  if (profileDir) {
    for (const file of findProfiles(profileDir)) {
      process.stdout.write(`\n== CPU profile ${file}\n${formatProfileSummary(summarizeProfile(file))}\n`);
    }
  }
}

function findProfiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findProfiles(path));
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (others: the loader's worker).
    else if (/^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(entry)) found.push(path);
  }
  return found.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs).slice(0, engines.length);
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
  const label: Record<EndpointName, string> = {
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
    const base = bareResults.get(endpoint)!;
    for (const m of measurements.filter((x) => x.endpoint === endpoint)) {
      const ratio = m.peak.load.rps / base.load.rps;
      peakRows.push(
        `| ${label[endpoint]} | ${m.engine} | ${rps(m.peak.load.rps)} | ${ms(m.peak.load.exact.p50)} | ${ms(m.peak.load.exact.p99)} | ${rps(base.load.rps)} | ${(ratio * 100).toFixed(1)} % | ≥ ${GOALS[endpoint] * 100} % | ${yes(ratio >= GOALS[endpoint])} | ${m.peak.serverCpuUs.toFixed(0)} | ${((base.serverCpuUs / m.peak.serverCpuUs) * 100).toFixed(1)} % | ${cores(m.peak)} |`,
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
      `| ${label[m.endpoint]} | ${m.engine} | ${rps(m.halfRate)} | ${rps(m.half.load.rps)} | ${ms(m.half.load.exact.p50)} | ${ms(m.half.load.exact.p99)} | ${ms(m.half.load.exact.max)} | ${m.half.load.autocannon.p99} | < ${HALF_LOAD_P99_GOAL_MS} ms | ${yes(p99 < HALF_LOAD_P99_GOAL_MS)} | ${cores(m.half)} |`,
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
    '- Three processes: this script (autocannon), the service (`startServer` on a fresh SQLite file in a temporary directory, or a fresh PostgreSQL schema) and the baseline, a bare Fastify 5 app. Only one server is under load at a time.',
    `- The service is seeded through \`runtime.services\`: one organization, one disk with ${POLICIES} policies (so the list answers a full page of ${PAGE_SIZE} and counts ${POLICIES}), and a token with every scope and a rate limit of 100 000 000 a minute.`,
    "- The baseline serves the bodies captured once from the real service as constant strings (`application/json`) on the same paths; its PATCH route parses the JSON body with Fastify's default parser and ignores it. Ratio = service req/s ÷ baseline req/s for the same request.",
    '- Every update request sends a different `retention` (1…1000), so every request is a real write. A run with any non-2xx response or socket error fails instead of reporting.',
    `- ${connections} connections: the service is one Node event loop (and better-sqlite3 is synchronous), so a few requests in flight saturate it; more connections add only queueing time to every latency (Little's law), not throughput. 10 is also the size of the PostgreSQL pool.`,
    '- p50/p99 are exact (every 2xx response\'s own time). "p99, autocannon" is autocannon\'s own figure: whole milliseconds, and in rate-limited runs "corrected" for coordinated omission with an expected interval of 1 ms. autocannon meets a rate by letting each connection send its per-second quota back to back and then wait for the next second, so a half-load pass is bursts at full speed for part of each second, not evenly spaced requests. The goal counts as met only when both p99 figures are under 10 ms.',
    "- CPU columns: the server's own CPU time (user + system) over the measured window ÷ requests, and the busy CPU of every other process on the machine (from /proc/stat) in cores — for PostgreSQL rows that includes the PostgreSQL server itself. On a shared machine req/s moves with the neighbours' load, CPU per request much less, so \"ratio by CPU/req\" (baseline µs/req ÷ service µs/req) is the steadier capacity ratio; when others' CPU is well above 0, treat req/s and latencies as pessimistic.",
  ].join('\n');
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:api failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  await stopEverything().catch(() => {});
  process.exit(1);
});
