/**
 * The scheduler's promises about one policy, on a fixed clock: it runs when `next_invocation_at`
 * says, exactly once, then `next_invocation_at` moves to the next instant of its series; downtime
 * over many instants gives one run; trashed policies and policies past their scheduled deletion do
 * not run; the organization's time zone (and its DST rules) decides the instants.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import { nextInvocationAfter } from '../../src/domain/schedule.js';
import type { Runtime } from '../../src/runtime.js';
import { NO_BACKUP_ENGINE, schedulerFor, type BackupRunner } from '../../src/scheduler/index.js';
import { forEachEngine, TEST_NOW } from '../support/harness.js';
import {
  allRuns,
  createDiskPolicy,
  createOrganizationWithDisk,
  nextInvocationOf,
  RecordingRunner,
  TestDatabase,
} from './support.js';

const DAY = 86400;
const DAILY_0230 = { interval: 'daily', frequency: 1, time: 2, minute: 30 } as const;

forEachEngine('scheduler: when a policy runs', (engine) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let clock: ReturnType<typeof fixedClock>;

  beforeEach(async () => {
    database = TestDatabase.create(engine);
    clock = fixedClock(TEST_NOW);
    runtime = await database.open(clock);
  });
  afterEach(() => database.close());

  const scheduler = (runner: BackupRunner = new RecordingRunner()) => schedulerFor(runtime, { logger: false, runner });

  test('a due policy runs exactly once, and next_invocation_at moves to the next instant of its series', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const policy = await createDiskPolicy(runtime, organization.id, disk, DAILY_0230);
    const anchor = policy.next_invocation_at;
    assert.equal(anchor, Date.UTC(2026, 10, 26, 2, 30) / 1000, 'Europe/London is on GMT in November');
    const runner = new RecordingRunner();

    clock.set(anchor - 1);
    assert.deepEqual(await scheduler(runner).runDue(), [], 'not due a second early');

    clock.set(anchor);
    const finished = await scheduler(runner).runDue();
    assert.equal(finished.length, 1);
    assert.deepEqual(
      { policy: finished[0]!.run.policyId, scheduledAt: finished[0]!.run.scheduledAt, disks: finished[0]!.run.targetDiskIds, status: finished[0]!.status },
      { policy: policy.id, scheduledAt: anchor, disks: [disk.id], status: 'succeeded' },
    );
    assert.equal(await nextInvocationOf(runtime, policy.id), anchor + DAY);

    // Asking again at the same instant, or any time before the next one, runs nothing.
    assert.deepEqual(await scheduler(runner).runDue(), []);
    clock.set(anchor + DAY - 1);
    assert.deepEqual(await scheduler(runner).runDue(), []);
    assert.equal(runner.calls.length, 1);

    const [run] = await allRuns(runtime);
    assert.equal(run!.policy_id, policy.id);
    assert.equal(run!.organization_id, organization.id);
    assert.deepEqual(JSON.parse(run!.target_disk_ids), [disk.id]);
    assert.equal(run!.scheduled_at, anchor);
    assert.equal(run!.status, 'succeeded');
    assert.equal(run!.started_at, anchor);
    assert.equal(run!.finished_at, anchor);
    assert.equal(run!.lease_expires_at, null, 'a finished run holds no lease');
    assert.equal(run!.attempts, 1);
    assert.match(run!.id, /^run_[A-Za-z0-9]{16}$/);

    clock.set(anchor + DAY);
    const second = await scheduler(runner).runDue();
    assert.deepEqual(second.map((f) => f.run.scheduledAt), [anchor + DAY]);
    assert.equal(await nextInvocationOf(runtime, policy.id), anchor + 2 * DAY);
    assert.equal((await allRuns(runtime)).length, 2);
  });

  test('after downtime over many due instants the policy runs once and continues at its next future instant', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const policy = await createDiskPolicy(runtime, organization.id, disk, DAILY_0230);
    const anchor = policy.next_invocation_at;
    const runner = new RecordingRunner();

    const now = anchor + 5 * DAY + 3600; // five more instants passed while nothing ran
    clock.set(now);
    const finished = await scheduler(runner).runDue();
    assert.deepEqual(finished.map((f) => f.run.scheduledAt), [anchor], 'one run, for the instant it was waiting for');
    assert.equal(await nextInvocationOf(runtime, policy.id), anchor + 6 * DAY);
    assert.equal(await nextInvocationOf(runtime, policy.id), nextInvocationAfter(DAILY_0230, 'Europe/London', anchor, now));
    assert.deepEqual(await scheduler(runner).runDue(), []);
    assert.equal(runner.calls.length, 1);
  });

  test("instants follow the organization's time zone, through a DST gap", async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime, { timeZone: 'America/New_York' });
    const policy = await createDiskPolicy(runtime, organization.id, disk, DAILY_0230);
    const anchor = policy.next_invocation_at;
    assert.equal(anchor, Date.UTC(2026, 10, 26, 7, 30) / 1000, '02:30 EST');

    // Down from the anchor until the day before clocks go forward (Sunday 2027-03-14, 02:00 → 03:00).
    clock.set(Date.UTC(2027, 2, 13, 12, 0) / 1000);
    assert.equal((await scheduler().runDue()).length, 1);
    const gapDay = Date.UTC(2027, 2, 14, 7, 0) / 1000; // 02:30 does not exist that day: 03:00 EDT
    assert.equal(await nextInvocationOf(runtime, policy.id), gapDay);

    clock.set(gapDay);
    assert.deepEqual((await scheduler().runDue()).map((f) => f.run.scheduledAt), [gapDay]);
    assert.equal(await nextInvocationOf(runtime, policy.id), Date.UTC(2027, 2, 15, 6, 30) / 1000, '02:30 EDT');
  });

  test('without a backup engine every run is recorded as skipped, never as a backup', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const policy = await createDiskPolicy(runtime, organization.id, disk);
    clock.set(policy.next_invocation_at);
    const finished = await schedulerFor(runtime, { logger: false }).runDue();
    assert.deepEqual(finished.map((f) => [f.status, f.error]), [['skipped', NO_BACKUP_ENGINE]]);
    const [run] = await allRuns(runtime);
    assert.equal(run!.status, 'skipped');
    assert.equal(run!.error, 'no backup engine');
  });

  test('a runner that throws fails the run with its message; the policy still moves on', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const policy = await createDiskPolicy(runtime, organization.id, disk);
    clock.set(policy.next_invocation_at);
    const throwing: BackupRunner = {
      async run() {
        throw new Error('disk image missing');
      },
    };
    await scheduler(throwing).runDue();
    const [run] = await allRuns(runtime);
    assert.equal(run!.status, 'failed');
    assert.equal(run!.error, 'disk image missing');
    assert.equal(await nextInvocationOf(runtime, policy.id), policy.next_invocation_at + DAY);
  });

  test("a virtual machine's policy backs up the disks attached to it when the run is claimed", async () => {
    const { organization } = await createOrganizationWithDisk(runtime);
    const { inventory, policies } = runtime.services;
    const vm = await inventory.createVirtualMachine({ organizationId: organization.id, name: 'web' });
    const disks = [
      await inventory.createDisk({ organizationId: organization.id, name: 'a', sizeInGb: 1, virtualMachineId: vm.id }),
      await inventory.createDisk({ organizationId: organization.id, name: 'b', sizeInGb: 1, virtualMachineId: vm.id }),
    ];
    const policy = await policies.create(organization.id, { type: 'VirtualMachine', id: vm.id, name: vm.name }, { retention: 2, schedule: { interval: 'hourly', minute: 15 } });
    clock.set(policy.next_invocation_at);
    const runner = new RecordingRunner();
    await scheduler(runner).runDue();
    assert.deepEqual([...runner.calls[0]!.targetDiskIds].sort(), disks.map((d) => d.id).sort());
    assert.equal(await nextInvocationOf(runtime, policy.id), policy.next_invocation_at + 3600);
  });

  test('a policy in the trash does not run; restored, it runs once for the instant it missed', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const policy = await createDiskPolicy(runtime, organization.id, disk, DAILY_0230);
    const anchor = policy.next_invocation_at;
    await runtime.services.policies.delete(policy);
    const runner = new RecordingRunner();

    clock.set(anchor + 3600);
    assert.deepEqual(await scheduler(runner).runDue(), []);
    assert.equal(await nextInvocationOf(runtime, policy.id), anchor, 'untouched while in the trash');

    const trashObject = await runtime.services.trash.find({ object_id: policy.id });
    await runtime.services.trash.restore(trashObject!);
    assert.deepEqual((await scheduler(runner).runDue()).map((f) => f.run.scheduledAt), [anchor]);
    assert.equal(await nextInvocationOf(runtime, policy.id), anchor + DAY);
  });

  test('a policy whose scheduled deletion comes before its next instant does not run; one after it does', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const { policies } = runtime.services;
    const deletedFirst = await createDiskPolicy(runtime, organization.id, disk, DAILY_0230);
    const deletedLater = await createDiskPolicy(runtime, organization.id, disk, DAILY_0230);
    const anchor = deletedFirst.next_invocation_at;
    await policies.scheduleDelete(deletedFirst, anchor - 600);
    await policies.scheduleDelete(deletedLater, anchor + 600);
    const runner = new RecordingRunner();

    clock.set(anchor);
    assert.deepEqual((await scheduler(runner).runDue()).map((f) => f.run.policyId), [deletedLater.id]);
    assert.equal(await nextInvocationOf(runtime, deletedFirst.id), anchor);

    // Not even after downtime past the deletion, before the sweeper has moved it to the trash.
    clock.set(anchor + 2 * DAY);
    assert.deepEqual(await scheduler(runner).runDue(), [], 'both are past their scheduled deletion now');
    assert.equal(await policies.trashScheduledDeletions(), 2);
    assert.equal(runner.calls.length, 1);
  });

  test("changing only the retention keeps the scheduler's progress; changing the schedule re-anchors it", async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const { policies } = runtime.services;
    const policy = await createDiskPolicy(runtime, organization.id, disk, DAILY_0230);
    const anchor = policy.next_invocation_at;
    const readBeforeTheRun = (await policies.find(policy.id))!;

    clock.set(anchor);
    await scheduler().runDue();
    // An update that read the policy before the run must not put back the instant that just ran.
    await policies.update(readBeforeTheRun, { retention: 9 });
    assert.equal(await nextInvocationOf(runtime, policy.id), anchor + DAY);
    assert.deepEqual(await scheduler().runDue(), []);

    clock.set(anchor + 60);
    const changed = await policies.update((await policies.find(policy.id))!, { schedule: { interval: 'hourly', minute: 0 } });
    assert.equal(changed.schedule_anchor_at, anchor - 30 * 60 + 3600, 'the first 03:00 after the change');
    assert.equal(changed.next_invocation_at, changed.schedule_anchor_at);
    clock.set(changed.next_invocation_at);
    assert.deepEqual((await scheduler().runDue()).map((f) => f.run.scheduledAt), [changed.next_invocation_at]);
    assert.equal(await nextInvocationOf(runtime, policy.id), changed.next_invocation_at + 3600);
  });
});
