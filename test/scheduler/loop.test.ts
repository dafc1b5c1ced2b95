/**
 * The worker's loop (`start` / `stop`): it drains a burst larger than a batch and than its queue,
 * each policy once, and sleeps until the earliest `next_invocation_at` when nothing is due.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { fixedClock, type Clock } from '../../src/domain/clock.js';
import type { Runtime } from '../../src/runtime.js';
import { schedulerFor } from '../../src/scheduler/index.js';
import { forEachEngine, TEST_NOW } from '../support/harness.js';
import { allRuns, createOrganizationWithDisk, finishedCount, RecordingRunner, seedHourlyPolicies, TestDatabase } from './support.js';

forEachEngine('scheduler: the loop', (engine) => {
  let database: TestDatabase;

  beforeEach(() => {
    database = TestDatabase.create(engine);
  });
  afterEach(() => database.close());

  test('drains a burst bigger than a batch and its queue, every policy once', async () => {
    const dueAt = TEST_NOW + 3600;
    const runtime: Runtime = await database.open(fixedClock(dueAt));
    const { organization } = await createOrganizationWithDisk(runtime);
    const ids = await seedHourlyPolicies(runtime, organization.id, 60, dueAt);
    const runner = new RecordingRunner({ status: 'succeeded' }, 1);
    const scheduler = schedulerFor(runtime, {
      logger: false,
      runner,
      settings: { batchSize: 7, maxConcurrentRuns: 3, maxQueuedRuns: 5 },
    });
    const done = finishedCount(scheduler, 60);
    scheduler.start();
    await done;
    await scheduler.stop();

    assert.deepEqual(runner.calls.map((run) => run.policyId).sort(), [...ids].sort());
    const runs = await allRuns(runtime);
    assert.equal(runs.length, 60);
    assert.ok(runs.every((run) => run.status === 'succeeded' && run.scheduled_at === dueAt));
    const policies = await runtime.store.db.selectFrom('disk_backup_policies').select('next_invocation_at').execute();
    assert.ok(policies.every((policy) => policy.next_invocation_at === dueAt + 3600));
  });

  test('sleeps until the earliest next_invocation_at, then runs it', async () => {
    // A clock that runs at real speed, set to 0.4 s before the policy is due when the loop starts.
    const dueAt = TEST_NOW + 3600;
    let offsetMs = TEST_NOW * 1000 - Date.now();
    const nowMs = () => Date.now() + offsetMs;
    const clock: Clock = { now: () => Math.floor(nowMs() / 1000), nowMs };
    const runtime = await database.open(clock);
    const { organization } = await createOrganizationWithDisk(runtime);
    const [id] = await seedHourlyPolicies(runtime, organization.id, 1, dueAt);

    const runner = new RecordingRunner();
    const scheduler = schedulerFor(runtime, { logger: false, runner });
    const done = finishedCount(scheduler, 1);
    offsetMs = dueAt * 1000 - 400 - Date.now();
    scheduler.start();
    const [finished] = await done;
    await scheduler.stop();
    assert.equal(finished!.run.policyId, id);
    assert.equal(finished!.run.scheduledAt, dueAt);
    assert.ok(finished!.startedAt >= dueAt, 'not before it was due');
  });
});
