/**
 * Claiming ahead and overlapping runs:
 * - the loop claims a policy due within `lookAheadSeconds` before its instant (the policy's
 *   `next_invocation_at` moves on at once, the run record shows the instant claimed) and starts it
 *   on its instant; a worker that stops or dies meanwhile leaves it to another, still exactly once;
 * - two runs of one policy never overlap: an instant that comes while the previous run is still
 *   running is recorded as skipped without calling the runner; if the previous run finishes before
 *   the instant, the instant runs.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import type { Runtime } from '../../src/runtime.js';
import { claimDueRuns, reclaimExpiredRuns } from '../../src/scheduler/claims.js';
import { schedulerFor, type BackupRunner, type SchedulerSettings } from '../../src/scheduler/index.js';
import { PREVIOUS_RUN_UNFINISHED } from '../../src/scheduler/run-records.js';
import { forEachEngine, TEST_NOW } from '../support/harness.js';
import {
  allRuns, createOrganizationWithDisk, finishedCount, HeldRunner, nextInvocationOf, RecordingRunner, seedHourlyPolicies, TestDatabase,
} from './support.js';

const HOUR = 3600;
const LEASE = 300;
/** How far ahead of its instant the tests' loops claim a run (real seconds until the instant's timer fires). */
const AHEAD = 2;

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

forEachEngine('scheduler: claiming ahead and overlapping runs', (engine) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let clock: ReturnType<typeof fixedClock>;
  let dueAt: number;
  let policyId: string;

  beforeEach(async () => {
    database = TestDatabase.create(engine);
    dueAt = TEST_NOW + HOUR;
    clock = fixedClock(dueAt);
    runtime = await database.open(clock);
    const { organization } = await createOrganizationWithDisk(runtime);
    policyId = (await seedHourlyPolicies(runtime, organization.id, 1, dueAt))[0]!;
  });
  afterEach(() => database.close());

  const scheduler = (runner: BackupRunner, settings: Partial<SchedulerSettings> = {}) =>
    schedulerFor(runtime, { logger: false, runner, settings: { leaseSeconds: LEASE, lookAheadSeconds: 5, ...settings } });
  const claimedRun = async () => (await allRuns(runtime)).length > 0;

  test('the loop claims a policy before its instant and starts it on the instant', async () => {
    clock.set(dueAt - AHEAD);
    const runner = new RecordingRunner();
    const worker = scheduler(runner);
    const finished = finishedCount(worker, 1);
    worker.start();
    await until(claimedRun, 'the claim');

    const [waiting] = await allRuns(runtime);
    assert.deepEqual([waiting!.status, waiting!.scheduled_at, waiting!.claimed_at], ['claimed', dueAt, dueAt - AHEAD]);
    assert.equal(waiting!.lease_expires_at, dueAt + 5 - AHEAD + LEASE, 'the lease covers the wait');
    assert.equal(await nextInvocationOf(runtime, policyId), dueAt + HOUR, 'next_invocation_at already shows the following instant');
    assert.equal(runner.calls.length, 0, 'not started before its instant');

    clock.set(dueAt);
    const [run] = await finished;
    await worker.stop();
    assert.deepEqual([run!.run.scheduledAt, run!.startedAt, run!.status], [dueAt, dueAt, 'succeeded']);
    assert.equal(runner.calls.length, 1);
    assert.deepEqual((await allRuns(runtime)).map((r) => [r.status, r.scheduled_at, r.attempts]), [['succeeded', dueAt, 1]]);
  });

  test('a worker stopped while it waits for an instant gives the run back; another runs it once', async () => {
    clock.set(dueAt - AHEAD);
    const first = new RecordingRunner();
    const stopping = scheduler(first);
    stopping.start();
    await until(claimedRun, 'the claim');
    await stopping.stop();
    assert.equal(first.calls.length, 0);
    const [released] = await allRuns(runtime);
    assert.deepEqual([released!.status, released!.lease_expires_at, released!.attempts], ['claimed', dueAt - AHEAD, 0]);

    clock.set(dueAt);
    const second = new RecordingRunner();
    const finished = await scheduler(second).runDue();
    assert.deepEqual(finished.map((f) => [f.run.scheduledAt, f.run.attempt, f.status]), [[dueAt, 1, 'succeeded']]);
    assert.equal(await nextInvocationOf(runtime, policyId), dueAt + HOUR, 'claimed once: the policy moved on once');
    assert.equal(second.calls.length, 1);
  });

  test("a claim ahead whose worker died is retried when its lease, which covers the wait, expires", async () => {
    const claimedAt = dueAt - 5;
    await claimDueRuns(runtime.store.db, runtime.store.engine, { now: claimedAt, until: dueAt, limit: 10, workerId: 'dead', leaseSeconds: LEASE });
    const reclaim = (now: number) =>
      reclaimExpiredRuns(runtime.store.db, runtime.store.engine, { now, limit: 10, workerId: 'next', leaseSeconds: LEASE, maxAttempts: 3 });
    assert.deepEqual((await reclaim(dueAt + LEASE - 1)).runs, []);
    const retried = await reclaim(dueAt + LEASE);
    assert.deepEqual(retried.runs.map((run) => [run.scheduledAt, run.attempt]), [[dueAt, 2]]);
  });

  test('an instant that comes while the previous run is still running is skipped, without calling the runner', async () => {
    const slow = new HeldRunner();
    // A lease longer than the test's clock jumps; heartbeats and running writes not within the test.
    const settings = { leaseSeconds: 4 * HOUR, markRunningAfterMs: 60_000 };
    const first = scheduler(slow, settings).runDue();
    await slow.whenStarted(1);

    clock.set(dueAt + HOUR);
    const other = new RecordingRunner();
    const skipped = await scheduler(other, settings).runDue();
    assert.deepEqual(skipped.map((f) => [f.run.scheduledAt, f.status, f.error]), [[dueAt + HOUR, 'skipped', PREVIOUS_RUN_UNFINISHED]]);
    assert.equal(other.calls.length, 0, 'never two runs of one policy at once');
    assert.equal(await nextInvocationOf(runtime, policyId), dueAt + 2 * HOUR, 'the series carries on');

    slow.finishAll();
    await first;
    clock.set(dueAt + 2 * HOUR);
    assert.deepEqual((await scheduler(other, settings).runDue()).map((f) => f.status), ['succeeded'], 'the next instant runs');
    assert.deepEqual(
      (await allRuns(runtime)).map((r) => [r.scheduled_at, r.status, r.error]),
      [[dueAt, 'succeeded', null], [dueAt + HOUR, 'skipped', PREVIOUS_RUN_UNFINISHED], [dueAt + 2 * HOUR, 'succeeded', null]],
    );
  });

  test('a run claimed ahead while the previous one runs still runs if that one finishes before its instant', async () => {
    const slow = new HeldRunner();
    const settings = { leaseSeconds: 4 * HOUR, markRunningAfterMs: 60_000 };
    const first = scheduler(slow, settings).runDue();
    await slow.whenStarted(1);

    clock.set(dueAt + HOUR - AHEAD);
    const runner = new RecordingRunner();
    const worker = scheduler(runner, settings);
    const finished = finishedCount(worker, 1);
    worker.start();
    await until(async () => (await allRuns(runtime)).length === 2, 'the claim of the next instant');
    slow.finishAll();
    await first;

    clock.set(dueAt + HOUR);
    const [next] = await finished;
    await worker.stop();
    assert.deepEqual([next!.run.scheduledAt, next!.status], [dueAt + HOUR, 'succeeded']);
    assert.equal(runner.calls.length, 1);
  });
});
