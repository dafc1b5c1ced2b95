/**
 * Leases: a run whose worker died (claimed, never finished) is taken over once its lease expires and
 * retried (one attempt more, a bounded number of times); a worker that lost its lease can no longer
 * write the run; a finished run is never run again; a live worker keeps its lease by renewing it; a
 * stopping worker gives its runs back.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import type { Runtime } from '../../src/runtime.js';
import { claimDueRuns, LEASE_EXPIRED_ERROR, reclaimExpiredRuns } from '../../src/scheduler/claims.js';
import { schedulerFor, type BackupRunner, type SchedulerSettings } from '../../src/scheduler/index.js';
import { finishRun } from '../../src/scheduler/run-records.js';
import { forEachEngine, TEST_NOW } from '../support/harness.js';
import { allRuns, createDiskPolicy, createOrganizationWithDisk, HeldRunner, nextInvocationOf, RecordingRunner, TestDatabase } from './support.js';

const DAY = 86400;
const LEASE = 300;

forEachEngine('scheduler: leases and retries', (engine) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let clock: ReturnType<typeof fixedClock>;
  let anchor: number;
  let policyId: string;

  beforeEach(async () => {
    database = TestDatabase.create(engine);
    clock = fixedClock(TEST_NOW);
    runtime = await database.open(clock);
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const policy = await createDiskPolicy(runtime, organization.id, disk);
    anchor = policy.next_invocation_at;
    policyId = policy.id;
    clock.set(anchor);
  });
  afterEach(() => database.close());

  const claimAs = (workerId: string) =>
    claimDueRuns(runtime.store.db, runtime.store.engine, { now: clock.now(), limit: 10, workerId, leaseSeconds: LEASE });
  const scheduler = (runner: BackupRunner, settings: Partial<SchedulerSettings> = {}) =>
    schedulerFor(runtime, { logger: false, runner, settings: { leaseSeconds: LEASE, ...settings } });

  test("a dead worker's run is retried by another once its lease expires, and only then", async () => {
    const claimed = await claimAs('dead-worker'); // claims, then never runs or finishes
    assert.equal(claimed.runs.length, 1);
    assert.equal(await nextInvocationOf(runtime, policyId), anchor + DAY, 'the claim advanced the policy');
    const runner = new RecordingRunner();

    clock.set(anchor + LEASE - 1);
    assert.deepEqual(await scheduler(runner).runDue(), [], 'the lease still holds');

    clock.set(anchor + LEASE);
    const finished = await scheduler(runner).runDue();
    assert.deepEqual(finished.map((f) => [f.run.id, f.run.attempt, f.status]), [[claimed.runs[0]!.id, 2, 'succeeded']]);
    const runs = await allRuns(runtime);
    assert.equal(runs.length, 1, 'the same run, not a new one');
    assert.equal(runs[0]!.attempts, 2);
    assert.equal(runs[0]!.status, 'succeeded');
    assert.notEqual(runs[0]!.worker_id, 'dead-worker');
    assert.equal(await nextInvocationOf(runtime, policyId), anchor + DAY, 'the retry does not advance the policy again');

    // The dead worker comes back and reports: nothing it writes counts any more.
    const lateReport = { run: claimed.runs[0]!, result: { status: 'failed', error: 'late' } as const, startedAt: anchor, finishedAt: clock.now() };
    assert.equal(await finishRun(runtime.store.db, runtime.store.engine, lateReport, 'dead-worker'), false);
    assert.equal((await allRuns(runtime))[0]!.status, 'succeeded');

    // A finished run is never repeated, however long after.
    clock.set(anchor + DAY - 1);
    assert.deepEqual(await scheduler(runner).runDue(), []);
    assert.equal(runner.calls.length, 1);
  });

  test('a run whose workers keep dying is failed after the last attempt, without running', async () => {
    await claimAs('dead-1');
    for (const [step, worker] of [[1, 'dead-2'], [2, 'dead-3']] as const) {
      clock.set(anchor + step * LEASE);
      const retried = await reclaimExpiredRuns(runtime.store.db, runtime.store.engine, {
        now: clock.now(), limit: 10, workerId: worker, leaseSeconds: LEASE, maxAttempts: 3,
      });
      assert.equal(retried.runs[0]?.attempt, step + 1);
    }
    clock.set(anchor + 3 * LEASE);
    const runner = new RecordingRunner();
    assert.deepEqual(await scheduler(runner, { maxAttempts: 3 }).runDue(), []);
    assert.equal(runner.calls.length, 0);
    const [run] = await allRuns(runtime);
    assert.equal(run!.status, 'failed');
    assert.equal(run!.attempts, 3);
    assert.equal(run!.error, `${LEASE_EXPIRED_ERROR} (3 attempts)`);
    assert.equal(run!.lease_expires_at, null);
    assert.equal(run!.finished_at, anchor + 3 * LEASE);
  });

  test('a worker that lost its lease to another is cut short and its result is not recorded', async () => {
    const slow = new HeldRunner();
    // Heartbeat every 200 s and the running write after a minute: neither within this test.
    const first = schedulerFor(runtime, { logger: false, runner: slow, settings: { leaseSeconds: 600, markRunningAfterMs: 60_000 } });
    const firstDone = first.runDue();
    await slow.whenStarted(1);

    clock.set(anchor + 600);
    const second = await scheduler(new RecordingRunner()).runDue();
    assert.deepEqual(second.map((f) => [f.run.attempt, f.status, f.recorded]), [[2, 'succeeded', true]]);

    slow.finishAll();
    const firstFinished = await firstDone;
    assert.deepEqual(firstFinished.map((f) => f.recorded), [false]);
    const [run] = await allRuns(runtime);
    assert.equal(run!.status, 'succeeded');
    assert.equal(run!.attempts, 2);
  });

  test('a live worker renews its lease, so nobody takes its run over', async () => {
    const slow = new HeldRunner();
    const holder = scheduler(slow, { leaseSeconds: 3 }); // renews every second
    const done = holder.runDue();
    await slow.whenStarted(1);
    clock.set(anchor + 2);
    await new Promise((resolve) => setTimeout(resolve, 1300)); // a renewal: the lease now ends at anchor + 5
    clock.set(anchor + 4);
    const other = new RecordingRunner();
    assert.deepEqual(await scheduler(other, { leaseSeconds: 3 }).runDue(), []);
    slow.finishAll();
    assert.deepEqual((await done).map((f) => [f.status, f.recorded]), [['succeeded', true]]);
    assert.equal(other.calls.length, 0);
  });

  test('a run that takes a while is written as running while it runs', async () => {
    const slow = new HeldRunner();
    const worker = scheduler(slow, { markRunningAfterMs: 20 });
    const done = worker.runDue();
    await slow.whenStarted(1);
    for (let i = 0; i < 100 && (await allRuns(runtime))[0]!.status !== 'running'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const [running] = await allRuns(runtime);
    assert.equal(running!.status, 'running');
    assert.equal(running!.started_at, anchor);
    assert.equal(running!.finished_at, null);
    slow.finishAll();
    await done;
    const [finished] = await allRuns(runtime);
    assert.deepEqual([finished!.status, finished!.started_at, finished!.finished_at], ['succeeded', anchor, anchor]);
  });

  test('a stopping worker gives its running run back, and the next worker retries it at once', async () => {
    const slow = new HeldRunner();
    const stopping = scheduler(slow);
    stopping.start();
    await slow.whenStarted(1);
    await stopping.stop();
    assert.equal(slow.aborted.length, 1, 'the run was told to stop');

    const [released] = await allRuns(runtime);
    assert.equal(released!.status, 'claimed', 'it ran for less than markRunningAfterMs: never written as running');
    assert.equal(released!.lease_expires_at, anchor, 'its lease ends now');
    assert.equal(released!.attempts, 1, 'it did start: the attempt counts');

    const finished = await scheduler(new RecordingRunner()).runDue();
    assert.deepEqual(finished.map((f) => [f.run.attempt, f.status]), [[2, 'succeeded']]);
  });
});
