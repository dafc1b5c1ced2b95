/**
 * Several scheduler processes on one database (the same PostgreSQL schema, or the same SQLite file):
 * a burst of policies due in the same minute runs exactly once in all, each run recorded once.
 *
 * The 10 000-policy variant in which one of three workers is killed with SIGKILL mid-burst runs only
 * when DBP_SCHEDULER_STRESS=1 (it waits out lease expiry):
 *   DBP_SCHEDULER_STRESS=1 [TEST_DATABASE_URL=postgres://…] node --import tsx --test test/scheduler/workers.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { systemClock } from '../../src/domain/clock.js';
import type { Runtime } from '../../src/runtime.js';
import { forEachEngine } from '../support/harness.js';
import type { WorkerConfig } from './fixtures/worker-process.js';
import { createOrganizationWithDisk, seedHourlyPolicies, startNode, TestDatabase, waitForLine, type ChildResult } from './support.js';

const WORKER_SCRIPT = 'test/scheduler/fixtures/worker-process.ts';

interface Burst {
  readonly policies: number;
  readonly workers: number;
  /** Kill (SIGKILL) the first worker once its runner has completed this many runs (so it holds more). */
  readonly killAfterCompletions?: number;
  readonly leaseSeconds: number;
  readonly maxRunMs: number;
  readonly timeoutMs: number;
}

interface BurstOutcome {
  readonly policyIds: string[];
  readonly dueAt: number;
  /** What each worker's runner completed: `policy scheduled_at run attempt` per line. */
  readonly completions: string[][];
  readonly runs: { policy_id: string; scheduled_at: number; status: string; attempts: number; worker_id: string | null }[];
  readonly exits: ChildResult[];
}

async function runBurst(database: TestDatabase, runtime: Runtime, burst: Burst): Promise<BurstOutcome> {
  const { organization } = await createOrganizationWithDisk(runtime);
  // Not due while the workers start; made due (all at one instant) once they are all running.
  const policyIds = await seedHourlyPolicies(runtime, organization.id, burst.policies, Math.floor(Date.now() / 1000) + 3600);
  let dueAt = 0;

  const recordFiles = Array.from({ length: burst.workers }, (_, i) => join(database.location.dataDir, `worker-${i}.log`));
  const workers = recordFiles.map((recordFile) => {
    const config: WorkerConfig = {
      location: database.location,
      mode: 'loop',
      recordFile,
      maxRunMs: burst.maxRunMs,
      settings: { leaseSeconds: burst.leaseSeconds, batchSize: 200, maxPollMs: 500 },
    };
    return startNode(WORKER_SCRIPT, [JSON.stringify(config)]);
  });
  try {
    await Promise.all(workers.map(({ child }) => waitForLine(child, 'ready')));
    for (const { child } of workers) child.stdin!.write('go\n');
    await Promise.all(workers.map(({ child }) => waitForLine(child, 'started')));
    dueAt = Math.floor(Date.now() / 1000) + 1;
    await runtime.store.db.updateTable('disk_backup_policies').set({ schedule_anchor_at: dueAt, next_invocation_at: dueAt }).execute();

    if (burst.killAfterCompletions !== undefined) {
      const completions = () => (existsSync(recordFiles[0]!) ? readFileSync(recordFiles[0]!, 'utf8').split('\n').length - 1 : 0);
      await waitUntil(async () => completions() >= burst.killAfterCompletions!, burst.timeoutMs);
      workers[0]!.child.kill('SIGKILL');
    }
    await waitUntil(async () => (await finishedRuns(runtime)) === burst.policies, burst.timeoutMs).catch(async (error: Error) => {
      throw new Error(`${error.message}; runs by status and attempts: ${JSON.stringify(await runsByStatus(runtime))}`);
    });
  } finally {
    for (const { child } of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
  const exits = await Promise.all(workers.map(({ done }) => done));
  const completions = recordFiles.map((file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []));
  const runs = await runtime.store.db
    .selectFrom('backup_runs')
    .select(['policy_id', 'scheduled_at', 'status', 'attempts', 'worker_id'])
    .execute();
  return { policyIds, dueAt, completions, runs, exits };
}

async function finishedRuns(runtime: Runtime): Promise<number> {
  const row = await runtime.store.db
    .selectFrom('backup_runs')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('status', '=', 'succeeded')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** How many runs have each status and attempt count (what a burst that did not finish left behind). */
async function runsByStatus(runtime: Runtime) {
  return runtime.store.db
    .selectFrom('backup_runs')
    .select((eb) => ['status', 'attempts', eb.fn.countAll<number | string>().as('n')])
    .groupBy(['status', 'attempts'])
    .execute();
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One run per policy, for the instant it was due, succeeded; every policy moved on by an hour. */
async function assertEachPolicyRanOnce(runtime: Runtime, outcome: BurstOutcome): Promise<void> {
  const { policyIds, dueAt, runs } = outcome;
  assert.equal(runs.length, policyIds.length, 'one run record per policy');
  assert.deepEqual(runs.map((run) => run.policy_id).sort(), [...policyIds].sort());
  assert.ok(runs.every((run) => run.scheduled_at === dueAt && run.status === 'succeeded'));
  const policies = await runtime.store.db.selectFrom('disk_backup_policies').select('next_invocation_at').where('id', 'in', policyIds).execute();
  assert.ok(policies.every((policy) => policy.next_invocation_at === dueAt + 3600), 'each advanced exactly once');
}

forEachEngine('scheduler: several worker processes', (engine) => {
  let database: TestDatabase;
  let runtime: Runtime;

  beforeEach(async () => {
    database = TestDatabase.create(engine);
    runtime = await database.open(systemClock);
  });
  afterEach(() => database.close());

  test('two workers, 2 000 policies due in the same minute: each runs exactly once', async () => {
    const outcome = await runBurst(database, runtime, { policies: 2000, workers: 2, leaseSeconds: 60, maxRunMs: 2, timeoutMs: 40_000 });
    for (const exit of outcome.exits) assert.equal(exit.code, 0, exit.stderr);
    await assertEachPolicyRanOnce(runtime, outcome);
    const completed = outcome.completions.flat().map((line) => line.split(' ')[0]!);
    assert.equal(completed.length, 2000, 'the runners ran 2 000 times in all');
    assert.equal(new Set(completed).size, 2000, 'no policy ran twice');
    assert.ok(outcome.runs.every((run) => run.attempts === 1));
  });

  test(
    'three workers, 10 000 policies, one killed (SIGKILL) mid-burst: every policy ran, each recorded once',
    { skip: process.env.DBP_SCHEDULER_STRESS === '1' ? false : 'set DBP_SCHEDULER_STRESS=1 to run it' },
    async () => {
      const outcome = await runBurst(database, runtime, {
        policies: 10_000, workers: 3, killAfterCompletions: 50, leaseSeconds: 3, maxRunMs: 5, timeoutMs: 120_000,
      });
      assert.equal(outcome.exits[0]!.signal, 'SIGKILL');
      await assertEachPolicyRanOnce(runtime, outcome);

      // The runner may have completed a run twice only when the killed worker completed it but died
      // before recording it: such runs were claimed again (attempts > 1).
      const completions = new Map<string, number>();
      for (const line of outcome.completions.flat()) {
        const policy = line.split(' ')[0]!;
        completions.set(policy, (completions.get(policy) ?? 0) + 1);
      }
      const attempts = new Map(outcome.runs.map((run) => [run.policy_id, run.attempts]));
      for (const policy of outcome.policyIds) {
        const times = completions.get(policy) ?? 0;
        assert.ok(times >= 1, `${policy} never completed`);
        if (times > 1) assert.ok(attempts.get(policy)! > 1, `${policy} completed ${times} times in its first attempt`);
      }
      const retried = outcome.runs.filter((run) => run.attempts > 1).length;
      const killedWorkerRuns = outcome.completions[0]!.length;
      process.stdout.write(`# killed worker completed ${killedWorkerRuns} runs before SIGKILL; ${retried} runs were retried after its leases expired\n`);
    },
  );
});
