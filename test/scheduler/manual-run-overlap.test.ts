import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { claimDueRuns } from '../../src/scheduler/claims.js';
import { forEachEngine, TEST_NOW, TestService, type TestOrganization } from '../support/harness.js';

/**
 * A manual run (the extension API's "run now") while the policy's scheduled run is unfinished is
 * refused at once, 409 `run_in_progress` naming that run, and records nothing (issue 15, defect 3:
 * two runs of one policy never overlap, whichever started them).
 */
forEachEngine('manual runs never overlap a scheduled run of the policy', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let policyId: string;

  before(async () => {
    service = await TestService.start(engine, { backupEngine: true });
    org = await service.createOrganization('Overlap');
    const imagePath = join(service.dataDir, 'overlap.img');
    writeFileSync(imagePath, randomBytes(256 * 1024));
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name: 'overlap disk', sizeInGb: 1, imagePath });
    policyId = (await service.createPolicy(org.token, disk.id)).id;
  });
  after(() => service.stop());

  test('run now while a claimed scheduled run is unfinished: 409 run_in_progress with its id; after it ends, run now works', async () => {
    const { db, engine: dbEngine } = service.runtime.store;
    await db.updateTable('disk_backup_policies').set({ next_invocation_at: TEST_NOW }).where('id', '=', policyId).execute();
    const claim = await claimDueRuns(db, dbEngine, { now: TEST_NOW, limit: 10, workerId: 'test-worker', leaseSeconds: 300 });
    const scheduled = claim.runs.find((run) => run.policyId === policyId);
    assert.ok(scheduled, 'the scheduled run is claimed');

    const refused = await service.call('POST', `/ext/v1/disk_backup_policies/${policyId}/run`, { token: org.token });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, 'run_in_progress');
    assert.deepEqual(refused.body.error.detail, { run_id: scheduled.id });
    const runs = await db.selectFrom('backup_runs').select('id').where('policy_id', '=', policyId).execute();
    assert.deepEqual(runs.map((run) => run.id), [scheduled.id], 'the refused run is not recorded');

    await db.updateTable('backup_runs').set({ status: 'succeeded', finished_at: TEST_NOW, lease_expires_at: null }).where('id', '=', scheduled.id).execute();
    const ran = await service.call('POST', `/ext/v1/disk_backup_policies/${policyId}/run`, { token: org.token });
    assert.equal(ran.status, 200, ran.text);
    assert.equal(ran.body.run.status, 'succeeded');
  });
});
