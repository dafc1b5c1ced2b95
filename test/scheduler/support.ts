/**
 * What the scheduler tests share: a fresh database per test (a SQLite file, or a PostgreSQL schema
 * when the engine is postgres) that several runtimes — in this process or in child processes — can
 * open, policies made through the services or seeded in bulk, and a runner that records its calls.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { fixedClock, type Clock } from '../../src/domain/clock.js';
import { newId } from '../../src/domain/ids.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import type { BackupRunner, ClaimedRun, FinishedRun, RunResult, Scheduler } from '../../src/scheduler/index.js';
import type { PolicyChanges } from '../../src/services/policies.js';
import type { NewDiskBackupPolicy } from '../../src/store/schema.js';
import { TEST_NOW, type Engine } from '../support/harness.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where a test database is, in the form `openRuntime` (and a child process) takes. */
export interface DatabaseLocation {
  readonly dataDir: string;
  readonly databaseUrl?: string | undefined;
  readonly postgresSchema?: string | undefined;
}

/** The `dbp` flags that point a CLI process at this database: `--database-url` with the schema for PostgreSQL, none for SQLite. */
export function databaseUrlArgs(location: DatabaseLocation): string[] {
  const { databaseUrl, postgresSchema } = location;
  if (!databaseUrl) return [];
  return ['--database-url', `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${postgresSchema}`)}`];
}

export class TestDatabase {
  private readonly runtimes: Runtime[] = [];

  private constructor(
    readonly engine: Engine,
    readonly location: DatabaseLocation,
  ) {}

  static create(engine: Engine): TestDatabase {
    const dataDir = mkdtempSync(join(tmpdir(), 'dbp-scheduler-test-'));
    if (engine === 'sqlite') return new TestDatabase(engine, { dataDir });
    const databaseUrl = process.env.TEST_DATABASE_URL;
    if (!databaseUrl) throw new Error('TEST_DATABASE_URL is not set');
    const postgresSchema = `test_sched_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    return new TestDatabase(engine, { dataDir, databaseUrl, postgresSchema });
  }

  /** A runtime on this database (closed by `close`). */
  async open(clock: Clock = fixedClock(TEST_NOW)): Promise<Runtime> {
    const runtime = await openRuntime({ ...this.location, clock });
    this.runtimes.push(runtime);
    return runtime;
  }

  async close(): Promise<void> {
    for (const runtime of this.runtimes.splice(0)) await runtime.close();
    if (this.location.postgresSchema) {
      const client = new pg.Client({ connectionString: this.location.databaseUrl });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${this.location.postgresSchema} cascade`);
      } finally {
        await client.end();
      }
    }
    rmSync(this.location.dataDir, { recursive: true, force: true });
  }
}

/** An organization (in `timeZone`'s country) with one disk. */
export async function createOrganizationWithDisk(runtime: Runtime, options: { timeZone?: string } = {}) {
  const { inventory } = runtime.services;
  const organization = await inventory.createOrganization({
    name: 'Scheduler Test',
    subDomain: `sched-${Math.random().toString(36).slice(2, 10)}`,
    timeZone: options.timeZone,
  });
  const disk = await inventory.createDisk({ organizationId: organization.id, name: 'disk', sizeInGb: 10 });
  return { organization, disk };
}

/** A policy on the disk, made through the policy service at the runtime clock's now. */
export async function createDiskPolicy(
  runtime: Runtime,
  organizationId: string,
  disk: { id: string; name: string },
  schedule: PolicyChanges['schedule'] = { interval: 'daily', time: 2, minute: 30 },
) {
  return runtime.services.policies.create(organizationId, { type: 'Disk', id: disk.id, name: disk.name }, { retention: 3, schedule });
}

/**
 * Inserts `count` hourly policies whose series starts at `dueAt` (so they are due then and every
 * hour after), each on its own (made-up) disk id, in multi-row inserts in one transaction.
 * Answers their ids.
 */
export async function seedHourlyPolicies(runtime: Runtime, organizationId: string, count: number, dueAt: number): Promise<string[]> {
  const rows: NewDiskBackupPolicy[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({
      id: newId('diskBackupPolicy'),
      organization_id: organizationId,
      target_type: 'Disk',
      target_id: newId('disk'),
      retention: 3,
      total_size_bytes: 0,
      schedule_interval: 'hourly',
      schedule_frequency: 1,
      schedule_time: 0,
      schedule_minute: Math.floor(dueAt / 60) % 60,
      schedule_anchor_at: dueAt,
      next_invocation_at: dueAt,
      auto_move_to_trash_at: null,
      created_at: dueAt - 3600,
    });
  }
  await runtime.store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 500) await trx.insertInto('disk_backup_policies').values(rows.slice(i, i + 500)).execute();
  });
  return rows.map((row) => row.id);
}

/** Answers `result` for every run, after `delayMs`, and remembers each call. */
export class RecordingRunner implements BackupRunner {
  readonly calls: ClaimedRun[] = [];

  constructor(
    private readonly result: RunResult = { status: 'succeeded' },
    private readonly delayMs = 0,
  ) {}

  async run(run: ClaimedRun): Promise<RunResult> {
    this.calls.push(run);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return this.result;
  }
}

/** A runner whose runs last until `finish()` (or their signal aborts). */
export class HeldRunner implements BackupRunner {
  readonly started: ClaimedRun[] = [];
  readonly aborted: ClaimedRun[] = [];
  private readonly waiting: (() => void)[] = [];
  private onStart: (() => void) | undefined;

  run(run: ClaimedRun, signal: AbortSignal): Promise<RunResult> {
    this.started.push(run);
    this.onStart?.();
    return new Promise((resolve) => {
      signal.addEventListener('abort', () => {
        this.aborted.push(run);
        resolve({ status: 'failed', error: 'aborted' });
      });
      this.waiting.push(() => resolve({ status: 'succeeded' }));
    });
  }

  whenStarted(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.started.length >= count) resolve();
      };
      this.onStart = check;
      check();
    });
  }

  finishAll(): void {
    for (const finish of this.waiting.splice(0)) finish();
  }
}

/** Resolves with the next `count` runs the scheduler finishes. */
export function finishedCount(scheduler: Scheduler, count: number): Promise<FinishedRun[]> {
  const finished: FinishedRun[] = [];
  return new Promise((resolve) => {
    const stopListening = scheduler.onFinished((run) => {
      finished.push(run);
      if (finished.length === count) {
        stopListening();
        resolve(finished);
      }
    });
  });
}

/** Every run row, oldest first. */
export function allRuns(runtime: Runtime) {
  return runtime.store.db.selectFrom('backup_runs').selectAll().orderBy('pk').execute();
}

export async function nextInvocationOf(runtime: Runtime, policyId: string): Promise<number> {
  const row = await runtime.store.db
    .selectFrom('disk_backup_policies')
    .select('next_invocation_at')
    .where('id', '=', policyId)
    .executeTakeFirstOrThrow();
  return row.next_invocation_at;
}

// ---- Child processes --------------------------------------------------------------------------

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `node --import tsx <script> <args…>` from the repository root. */
export function startNode(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; done: Promise<ChildResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<ChildResult>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Resolves once the child has written `line` (a whole line) to stdout. */
export function waitForLine(child: ChildProcess, line: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no "${line}" from the child within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer | string) => {
      seen += chunk.toString();
      if (seen.split('\n').includes(line)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`the child exited before "${line}"`));
    });
  });
}
