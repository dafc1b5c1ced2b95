/**
 * `backup_run.missed`: a scheduled instant that took no backup without failing. Two kinds: instants
 * passed over while no worker ran (after an outage the oldest overdue instant runs late and the series
 * resumes after now: the instants between are never run), and runs recorded as skipped (here: a
 * worker without a backup engine). Written by the claim and by the run's ending, in their transactions.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { noBackupEngineRunner, Scheduler, type BackupRunner } from '../../src/scheduler/index.js';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';
import { nextInvocationOf, RecordingRunner } from '../scheduler/support.js';

forEachEngine('webhooks: missed runs', (engine) => {
  let service: TestService;
  let org: TestOrganization;

  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Missed');
    await service.services.webhooks.create({ organizationId: org.id, url: 'http://127.0.0.1:9/unused', secret: 'missed-runs-secret-0123' });
  });
  after(() => service.stop());

  const scheduler = (runner: BackupRunner) =>
    new Scheduler({ db: service.runtime.store.db, engine: service.runtime.store.engine, clock: service.clock, runner, logger: false });

  async function outbox() {
    const rows = await service.runtime.store.db.selectFrom('webhook_deliveries').select(['event_type', 'body']).orderBy('pk').execute();
    await service.runtime.store.db.deleteFrom('webhook_deliveries').execute();
    return rows.map((row) => ({ type: row.event_type, body: JSON.parse(row.body) }));
  }

  test('instants passed over during an outage are one missed event naming them; the late run is not one of them', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await service.createPolicy(org.token, disk.id, { retention: 3, schedule: { interval: 'hourly' } });
    const due = await nextInvocationOf(service.runtime, policy.id);
    service.clock.set(due + 5 * 3600 + 60); // five more hourly instants went by with no worker
    const finished = await scheduler(new RecordingRunner()).runDue();
    assert.deepEqual(finished.map((run) => [run.run.scheduledAt, run.status]), [[due, 'succeeded']], 'the oldest overdue instant runs, late');
    const events = await outbox();
    assert.equal(events.length, 1);
    const [{ type, body }] = events as [{ type: string; body: any }];
    assert.equal(type, 'backup_run.missed');
    assert.equal(body.organization.id, org.id);
    assert.equal(body.data.reason, 'not_run');
    assert.equal(body.data.disk_backup_policy_id, policy.id);
    assert.deepEqual(body.data.missed_at, [1, 2, 3, 4, 5].map((hours) => due + hours * 3600));
    assert.equal(body.data.late_run_id, finished[0]!.run.id);

    // On time again: nothing is missed.
    service.clock.set(await nextInvocationOf(service.runtime, policy.id));
    await scheduler(new RecordingRunner()).runDue();
    assert.deepEqual(await outbox(), []);
  });

  test('a run recorded as skipped (no backup engine) is a missed event; a run that succeeded announces nothing', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await service.createPolicy(org.token, disk.id, { retention: 3, schedule: { interval: 'hourly' } });
    await outbox();
    service.clock.set(await nextInvocationOf(service.runtime, policy.id));
    const finished = await scheduler(noBackupEngineRunner).runDue();
    const skipped = finished.filter((run) => run.run.policyId === policy.id);
    assert.deepEqual(skipped.map((run) => run.status), ['skipped']);
    const events = (await outbox()).filter((event) => event.body.data.disk_backup_policy_id === policy.id);
    assert.deepEqual(events.map((event) => [event.type, event.body.data.reason, event.body.data.run.id]), [['backup_run.missed', 'skipped', skipped[0]!.run.id]]);
    assert.deepEqual(events[0]!.body.data.missed_at, [skipped[0]!.run.scheduledAt]);
  });
});
