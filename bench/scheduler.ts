/**
 * `npm run bench:scheduler`: the scheduler at scale, on SQLite and (with a PostgreSQL URL) on
 * PostgreSQL. For each engine:
 *
 *  1. Seeds N policies across N/100 organizations (default N = 1 000 000), `--due` of them (default
 *     10 000) due at one instant T, every other one later (bench/support/scheduler-seed.ts).
 *  2. Claim throughput: the scheduler's claim (`claimDueRuns`: select due, insert runs, advance
 *     `next_invocation_at`, one transaction per batch of 500) drains the due set at now = T, beside
 *     the same due set advanced by a bare `UPDATE … RETURNING` (batches of 500, same predicate),
 *     each three times, alternating; ratio = bare time ÷ scheduler time (goal ≥ 0.5).
 *  3. End to end: a worker process (bench/support/scheduler-child.ts: the real loop, a no-op
 *     runner, its clock set so T comes a few seconds after it starts) drains the burst; lag =
 *     runner start − T, p50/p99/max (goal p99 ≤ 1 s); its RSS sampled every 50 ms from start to
 *     done (goal ≤ 200 MiB at 1M, and not growing with N).
 *
 * Results are kept per engine and N in bench/scheduler-results.json, and BENCHMARKS.md's
 * `bench:scheduler` section is rewritten from all of them (so runs at 100 000 and at 1 000 000 sit
 * side by side).
 *
 *   npm run bench:scheduler [-- --policies 1000000] [--due 10000] [--engine sqlite|postgres|all]
 *                           [--database-url postgres://…] [--without-generation-trigger] [--dry-run]
 *                           [--report-only]
 *
 * --report-only: measures nothing; rewrites BENCHMARKS.md's section from the kept results (after a
 * change to the report's text, or to bench/scheduler-results.json).
 *
 * --without-generation-trigger: a diagnostic. Drops, in the bench database only, the trigger that
 * bumps an organization's `generation` on every policy update (migration 0004, for the response
 * cache), to show how much of a claim's cost is that trigger's; such rows are labelled.
 */
import { dropPostgresSchemas } from '../src/store/database.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { fixedClock } from '../src/domain/clock.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { claimDueRuns } from '../src/scheduler/claims.js';
import { DEFAULT_SCHEDULER_SETTINGS } from '../src/scheduler/index.js';
import type { Engine } from '../src/store/database.js';
import type { Database } from '../src/store/schema.js';
import { writeBenchmarkSection } from './support/benchmarks-md.js';
import { killAllChildren, startChild } from './support/children.js';
import type { SchedulerChildConfig, SchedulerChildDone, SchedulerChildReady } from './support/scheduler-child.js';
import { seedSchedulerBench, type SeedResult } from './support/scheduler-seed.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const RESULTS_FILE = join(ROOT, 'bench', 'scheduler-results.json');
const BATCH = DEFAULT_SCHEDULER_SETTINGS.batchSize;
const GOALS = { claimRatio: 0.5, lagP99Ms: 1000, rssMiB: 200 };
const REPETITIONS = 3;
/** The worker starts this long before T (its clock is shifted so). */
const LEAD_MS = 6000;

const { values: args } = parseArgs({
  options: {
    policies: { type: 'string', default: '1000000' },
    due: { type: 'string', default: '10000' },
    engine: { type: 'string' },
    'database-url': { type: 'string' },
    'without-generation-trigger': { type: 'boolean', default: false },
    'dry-run': { type: 'boolean', default: false },
    'report-only': { type: 'boolean', default: false },
  },
});
const variant = args['without-generation-trigger'] ? 'without the generation trigger' : undefined;

const policies = wholeNumber('policies', args.policies!);
const due = wholeNumber('due', args.due!);
if (due > policies) throw new Error('--due cannot exceed --policies');
const databaseUrl = args['database-url'] ?? process.env.DATABASE_URL;
const engines: Engine[] = enginesFrom(args.engine, databaseUrl);

interface Result {
  readonly engine: Engine;
  /** A diagnostic variant of the set-up (labelled in the report), or none. */
  readonly variant?: string | undefined;
  readonly policies: number;
  readonly organizations: number;
  readonly due: number;
  readonly date: string;
  readonly commit: string;
  readonly machine: string;
  /** 1-minute load average when the measurements began and when they ended (other work on the machine). */
  readonly loadAverage: [number, number];
  readonly seedSeconds: number;
  readonly claim: { schedulerMs: number[]; bareMs: number[]; ratio: number };
  readonly endToEnd: {
    lagP50Ms: number; lagP99Ms: number; lagMaxMs: number; drainMs: number; runsPerSecond: number;
    rssIdleMiB: number; rssPeakMiB: number; heapUsedMiB: number; recorded: number;
  };
}

function wholeNumber(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number ≥ 1`);
  return value;
}

function enginesFrom(option: string | undefined, url: string | undefined): Engine[] {
  const wanted = option === undefined ? (url ? ['sqlite', 'postgres'] : ['sqlite']) : option === 'all' ? ['sqlite', 'postgres'] : option.split(',');
  for (const engine of wanted) if (engine !== 'sqlite' && engine !== 'postgres') throw new Error(`--engine: unknown engine "${engine}"`);
  if (wanted.includes('postgres') && !url?.match(/^postgres(ql)?:\/\//)) throw new Error('--engine postgres needs --database-url postgres://… (or DATABASE_URL)');
  return wanted as Engine[];
}

function log(message: string): void {
  process.stderr.write(`[bench:scheduler ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---- One engine ---------------------------------------------------------------------------------

interface Location {
  readonly engine: Engine;
  readonly dataDir: string;
  readonly databaseUrl?: string;
  readonly postgresSchema?: string;
}

async function benchEngine(engine: Engine): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), `dbp-bench-scheduler-${engine}-`));
  const location: Location =
    engine === 'postgres' ? { engine, dataDir, databaseUrl: databaseUrl!, postgresSchema: `bench_scheduler_${process.pid}` } : { engine, dataDir };
  // A whole minute a day ahead: every seeded instant is in the future of the real clock too.
  const dueAt = Math.ceil(Date.now() / 60_000) * 60 + 86400;
  const runtime = await openRuntime({ ...location, clock: fixedClock(dueAt) });
  try {
    log(`${engine}: seeding ${policies} policies (${due} due at ${new Date(dueAt * 1000).toISOString()})`);
    const seeded = await seedSchedulerBench(runtime.store.db, engine, { policies, due, dueAt });
    log(`${engine}: seeded ${seeded.policies} policies in ${seeded.organizations} organizations in ${seeded.seconds.toFixed(1)} s`);
    if (variant) {
      const on = engine === 'postgres' ? sql` on disk_backup_policies` : sql``;
      await sql`drop trigger if exists disk_backup_policies_generation_update${on}`.execute(runtime.store.db);
      log(`${engine}: ${variant}`);
    }

    const loadBefore = loadavg()[0]!;
    const claim = await measureClaims(runtime, dueAt, seeded.due);
    log(`${engine}: claim ${median(claim.schedulerMs).toFixed(0)} ms vs bare ${median(claim.bareMs).toFixed(0)} ms (ratio ${claim.ratio.toFixed(2)})`);

    await resetDue(runtime.store.db, dueAt);
    const endToEnd = await measureWorker(location, dueAt, seeded.due);
    log(`${engine}: lag p99 ${endToEnd.lagP99Ms.toFixed(0)} ms, drained in ${endToEnd.drainMs.toFixed(0)} ms, RSS peak ${endToEnd.rssPeakMiB.toFixed(0)} MiB`);
    return result(engine, seeded, claim, endToEnd, [loadBefore, loadavg()[0]!]);
  } finally {
    await runtime.close();
    if (location.postgresSchema) await dropPostgresSchemas(location.databaseUrl!, [location.postgresSchema]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Puts the due set back as seeded: due at T, no runs. */
async function resetDue(db: Kysely<Database>, dueAt: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('backup_runs').execute();
    await trx.updateTable('disk_backup_policies').set({ next_invocation_at: dueAt }).where('schedule_anchor_at', '=', dueAt).execute();
  });
  if ((await db.selectFrom('backup_runs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n != 0) throw new Error('reset failed');
}

async function measureClaims(runtime: Runtime, dueAt: number, expected: number) {
  const { db, engine } = runtime.store;
  const schedulerMs: number[] = [];
  const bareMs: number[] = [];
  for (let repetition = 0; repetition < REPETITIONS; repetition++) {
    await resetDue(db, dueAt);
    schedulerMs.push(await timeDrain(expected, async () => {
      const claimed = await claimDueRuns(db, engine, { now: dueAt, limit: BATCH, workerId: 'bench', leaseSeconds: 300 });
      return claimed.policies;
    }));
    await resetDue(db, dueAt);
    bareMs.push(await timeDrain(expected, () => bareClaim(db, engine, dueAt)));
  }
  return { schedulerMs, bareMs, ratio: median(bareMs) / median(schedulerMs) };
}

/** Calls `claim` until it takes nothing; answers the time it took, checking it took `expected` in all. */
async function timeDrain(expected: number, claim: () => Promise<number>): Promise<number> {
  const started = performance.now();
  let total = 0;
  for (;;) {
    const taken = await claim();
    if (taken === 0) break;
    total += taken;
  }
  const elapsed = performance.now() - started;
  if (total !== expected) throw new Error(`drained ${total} policies, expected ${expected}`);
  return elapsed;
}

/**
 * The database's own floor for a claim: the due predicate the scheduler uses, the batch it takes,
 * advanced and returned by one statement (its own transaction), no runs written and no schedule
 * maths (each row moves on by an hour).
 */
async function bareClaim(db: Kysely<Database>, engine: Engine, now: number): Promise<number> {
  const lock = engine === 'postgres' ? sql`for update of p skip locked` : sql``;
  const { rows } = await sql<{ id: string }>`
    update disk_backup_policies set next_invocation_at = next_invocation_at + 3600
    where id in (
      select p.id from disk_backup_policies p
      where p.next_invocation_at <= ${now}
        and not exists (select 1 from trash_objects t where t.object_id = p.id)
        and (p.auto_move_to_trash_at is null or p.auto_move_to_trash_at > ${now})
      order by p.next_invocation_at
      limit ${BATCH}
      ${lock})
    returning id, organization_id, next_invocation_at`.execute(db);
  return rows.length;
}

async function measureWorker(location: Location, dueAt: number, expected: number): Promise<Result['endToEnd']> {
  const config: SchedulerChildConfig = {
    dataDir: location.dataDir,
    ...(location.databaseUrl ? { databaseUrl: location.databaseUrl, postgresSchema: location.postgresSchema! } : {}),
    clockOffsetMs: dueAt * 1000 - LEAD_MS - Date.now(),
    expected,
  };
  const child = await startChild<SchedulerChildReady>('scheduler worker', new URL('./support/scheduler-child.ts', import.meta.url), config);
  const samples: number[] = [];
  let idle = 0;
  const sampler = setInterval(() => {
    const rss = statusField(child.ready.pid, 'VmRSS');
    if (rss !== undefined) samples.push(rss);
  }, 50);
  const idleProbe = setTimeout(() => (idle = statusField(child.ready.pid, 'VmRSS') ?? 0), Math.max(0, LEAD_MS - 1500));
  try {
    const done = await new Promise<SchedulerChildDone>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error('the worker did not drain the burst within 10 minutes')), 600_000);
      child.process.on('message', (message: { type?: string }) => {
        if (message?.type !== 'done') return;
        clearTimeout(timer);
        resolvePromise(message as SchedulerChildDone);
      });
      child.process.once('exit', () => reject(new Error('the worker exited')));
    });
    const peak = Math.max(statusField(child.ready.pid, 'VmHWM') ?? 0, ...samples);
    const lags = [...done.lagsMs].sort((a, b) => a - b);
    return {
      lagP50Ms: quantile(lags, 0.5),
      lagP99Ms: quantile(lags, 0.99),
      lagMaxMs: lags[lags.length - 1] ?? 0,
      drainMs: done.drainMs,
      runsPerSecond: expected / (done.drainMs / 1000),
      rssIdleMiB: idle / 1024,
      rssPeakMiB: peak / 1024,
      heapUsedMiB: done.heapUsedBytes / 2 ** 20,
      recorded: done.recorded,
    };
  } finally {
    clearInterval(sampler);
    clearTimeout(idleProbe);
    await child.stop();
  }
}

/** A `kB` field of /proc/PID/status (VmRSS, VmHWM), or undefined when it cannot be read. */
function statusField(pid: number, field: string): number | undefined {
  try {
    const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}


// ---- Report -------------------------------------------------------------------------------------

function result(engine: Engine, seeded: SeedResult, claim: Result['claim'], endToEnd: Result['endToEnd'], loadAverage: [number, number]): Result {
  return {
    engine,
    variant,
    policies: seeded.policies,
    organizations: seeded.organizations,
    due: seeded.due,
    date: new Date().toISOString(),
    commit: commit(),
    machine: `nproc ${availableParallelism()}, ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}, Node ${process.version}`,
    loadAverage,
    seedSeconds: seeded.seconds,
    claim,
    endToEnd,
  };
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function loadResults(): Result[] {
  return existsSync(RESULTS_FILE) ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Result[]) : [];
}

function saveResults(results: Result[]): void {
  const temporary = `${RESULTS_FILE}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(temporary, RESULTS_FILE);
}

function render(results: readonly Result[]): string {
  const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
  const n = (value: number) => value.toLocaleString('en-US');
  const sorted = [...results].sort(
    (a, b) => (a.variant ?? '').localeCompare(b.variant ?? '') || a.engine.localeCompare(b.engine) || a.policies - b.policies,
  );
  const engineOf = (r: Result) => (r.variant ? `${r.engine}, ${r.variant}` : r.engine);
  const claimRows = [
    '| Engine | Policies | Due | Scheduler claim (ms, median of 3) | Bare `UPDATE … RETURNING` (ms) | Ratio (bare ÷ scheduler) | Goal | Met? | Claimed/s |',
    '|---|--:|--:|--:|--:|--:|--:|:-:|--:|',
    ...sorted.map((r) => {
      const scheduler = median(r.claim.schedulerMs);
      return `| ${engineOf(r)} | ${n(r.policies)} | ${n(r.due)} | ${scheduler.toFixed(0)} (${r.claim.schedulerMs.map((x) => x.toFixed(0)).join(', ')}) | ${median(r.claim.bareMs).toFixed(0)} (${r.claim.bareMs.map((x) => x.toFixed(0)).join(', ')}) | ${r.claim.ratio.toFixed(2)} | ≥ ${GOALS.claimRatio} | ${yes(r.claim.ratio >= GOALS.claimRatio)} | ${n(Math.round(r.due / (scheduler / 1000)))} |`;
    }),
  ];
  const workerRows = [
    '| Engine | Policies | Due at once | Lag p50 (ms) | Lag p99 (ms) | Lag max (ms) | Goal p99 | Met? | Drained in (ms) | Runs/s | RSS idle (MiB) | RSS peak (MiB) | Goal | Met? |',
    '|---|--:|--:|--:|--:|--:|--:|:-:|--:|--:|--:|--:|--:|:-:|',
    ...sorted.map((r) => {
      const e = r.endToEnd;
      return `| ${engineOf(r)} | ${n(r.policies)} | ${n(r.due)} | ${e.lagP50Ms.toFixed(0)} | ${e.lagP99Ms.toFixed(0)} | ${e.lagMaxMs.toFixed(0)} | ≤ ${GOALS.lagP99Ms} | ${yes(e.lagP99Ms <= GOALS.lagP99Ms)} | ${e.drainMs.toFixed(0)} | ${n(Math.round(e.runsPerSecond))} | ${e.rssIdleMiB.toFixed(0)} | ${e.rssPeakMiB.toFixed(0)} | ≤ ${GOALS.rssMiB} | ${yes(e.rssPeakMiB <= GOALS.rssMiB)} |`;
    }),
  ];
  const runs = sorted.map((r) => `- ${engineOf(r)}, ${n(r.policies)} policies in ${n(r.organizations)} organizations: ${r.date}, commit ${r.commit} (working tree may hold uncommitted changes), seeded in ${r.seedSeconds.toFixed(0)} s; load average ${r.loadAverage.map((x) => x.toFixed(1)).join(' → ')} during the measurements; ${r.machine}`);
  return [
    '## Scheduler (`npm run bench:scheduler`)',
    '',
    '- Command: `npm run bench:scheduler -- --policies N [--engine sqlite|postgres|all] [--database-url postgres://…]`; each row below is the latest run for its engine and N (kept in `bench/scheduler-results.json`).',
    ...runs,
    '',
    '### Claim throughput beside the database\'s own time',
    '',
    ...claimRows,
    '',
    '### A burst of due policies through a worker process (no-op runner)',
    '',
    ...workerRows,
    '',
    '### Method',
    '',
    '- Seed: N policies across N/100 organizations, spread over the reference countries (so over 10 time zones), inserted in batches of 10 000 rows (one `json_each` document on SQLite, one array per column with `unnest` on PostgreSQL), 100 000 rows per transaction; `analyze` after. `Due` of them (every N/Due-th) are hourly or daily schedules whose series starts at one instant T; all others are hourly, daily, weekly or monthly schedules whose first instant is after T + 60 s. Every schedule is real: its anchor is computed by the product\'s schedule maths in its organization\'s time zone.',
    `- Claim: the scheduler's \`claimDueRuns\` (the loop's own claim: select due policies — PostgreSQL \`FOR UPDATE SKIP LOCKED\`, SQLite \`BEGIN IMMEDIATE\` — insert a run per policy \`ON CONFLICT DO NOTHING\` and advance \`next_invocation_at\` with the schedule maths — one statement on PostgreSQL, two on SQLite, each batch's rows as one JSON document — one transaction per ${BATCH}) drains the due set at now = T, in this process. Bare: the same due set advanced by one \`UPDATE disk_backup_policies SET next_invocation_at = next_invocation_at + 3600 WHERE id IN (SELECT … same due predicate … ORDER BY next_invocation_at LIMIT ${BATCH} [FOR UPDATE OF p SKIP LOCKED]) RETURNING id, organization_id, next_invocation_at\`, repeated until it returns nothing. The due set is reset between passes; three passes each, alternating; ratio = median bare ÷ median scheduler.`,
    '- Burst: a worker process runs the real scheduler loop (`schedulerFor(runtime).start()`, default settings) with a runner that returns `succeeded` at once; its clock is shifted so that T comes 6 s after it starts. Like a real worker it sleeps until \`lookAheadSeconds\` (${DEFAULT_SCHEDULER_SETTINGS.lookAheadSeconds} s) before T, claims the burst ahead (leases covering the wait), holds the runs and calls the runner for each when T comes. Lag = the moment the runner was called − T (the scheduler\'s own lag metric is the same quantity); drained = the last run recorded − T. RSS is read from /proc every 50 ms from the worker\'s start until the burst is drained (peak includes VmHWM); "idle" is 1.5 s before T, when the worker already holds the burst it claimed ahead. The worker runs TypeScript through tsx, whose loader adds its own memory to the RSS of a compiled (`dist/`) worker.',
    '- What a claim does beyond the bare statement: the bare statement only advances policies; a claim also inserts one run record per policy (its table has four indexes: primary key, run id — time-ordered, so it grows at one end —, the unique (policy, instant) and lease expiry) and reads whether an earlier run of the policy is unfinished (one index probe per run, for the no-overlap rule), and commits that much more. With 100 000 policies the bare statement is cheapest (10 due policies per organization, so its trigger bumps 50 organizations per batch, not 500), so the ratio is lowest there.',
    '- The machine is shared: other work (test suites, other benchmarks) ran beside these measurements, as the load averages show (2 cores). Every figure is then pessimistic, and the burst lag most of all: it is wall-clock time of a worker and a PostgreSQL server sharing two busy cores.',
    '- Triggers from other work (organization `generation` bumps on every policy write, migration 0004, for the response cache) are part of both the scheduler\'s and the bare statement\'s cost. Rows labelled "without the generation trigger" are a diagnostic (`--without-generation-trigger`): the same measurement with that trigger dropped from the bench database, to show its share. With 1 000 000 policies the due set has one policy per organization, so each claim of 500 bumps 500 organizations; with 100 000, 10 per organization (50 per claim).',
  ].join('\n');
}

// ---- Main -------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  process.on('exit', killAllChildren);
  const fresh: Result[] = [];
  if (!args['report-only']) for (const engine of engines) fresh.push(await benchEngine(engine));
  const sameSetUp = (a: Result, b: Result) => a.engine === b.engine && a.policies === b.policies && a.variant === b.variant;
  const results = loadResults().filter((old) => !fresh.some((r) => sameSetUp(r, old)));
  results.push(...fresh);
  const markdown = render(results);
  process.stdout.write(`${markdown}\n`);
  if (!args['dry-run']) {
    saveResults(results);
    writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), 'scheduler', markdown);
    log('wrote BENCHMARKS.md (section bench:scheduler) and bench/scheduler-results.json');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:scheduler failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  killAllChildren();
  process.exit(1);
});
