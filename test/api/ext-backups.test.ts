import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { forEachEngine, TEST_NOW, TestService, type CallResult, type TestOrganization } from '../support/harness.js';
import { corruptChunks } from '../support/repository-damage.js';
import { DEFAULT_CHUNK_SIZE } from '../../src/engine/repository/index.js';

/** The extension API under /ext/v1/: a policy's backups, run now, restore to a new disk, verify — and every error it documents. */
function assertError(result: CallResult, status: number, code: string): void {
  assert.equal(result.status, status, result.text);
  assert.equal(result.body?.error?.code, code, result.text);
}

forEachEngine('extension API: backups', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let other: TestOrganization;
  let policyId: string;
  let backupId: string;
  const ext = (path: string) => `/ext/v1/${path}`;

  before(async () => {
    service = await TestService.start(engine, { backupEngine: true });
    org = await service.createOrganization('Ext');
    other = await service.createOrganization('Other');
    const imagePath = join(service.dataDir, 'ext.img');
    writeFileSync(imagePath, Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(512 * 1024)]));
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name: 'ext disk', sizeInGb: 1, imagePath });
    policyId = (await service.createPolicy(org.token, disk.id)).id;
  });
  after(() => service.stop());

  test('run now backs the policy up and answers the finished run', async () => {
    const result = await service.call('POST', ext(`disk_backup_policies/${policyId}/run`), { token: org.token });
    assert.equal(result.status, 200, result.text);
    const { run } = result.body;
    assert.deepEqual(Object.keys(run), ['id', 'status', 'error', 'live_read', 'copy', 'scheduled_at', 'started_at', 'finished_at', 'backups']);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.copy, null, 'no second copy without --copy-to');
    assert.equal(run.error, null, 'a run that succeeded carries no error, live read or not');
    assert.equal(run.scheduled_at, TEST_NOW, 'a manual run is for the instant it was asked for');
    assert.equal(run.backups.length, 1);
    assert.deepEqual(Object.keys(run.backups[0]), ['id', 'disk_id', 'bytes_read', 'bytes_stored', 'duration_ms', 'live_read']);
    assert.equal(run.backups[0].bytes_read, 1.5 * 1024 * 1024);
    assert.ok(run.backups[0].bytes_stored > 0, 'a first backup stores its data');
    assert.equal(run.live_read, run.backups[0].live_read);
  });

  test("list answers the policy's backups with exactly the Backup fields", async () => {
    const result = await service.call('GET', ext(`disk_backup_policies/${policyId}/backups`), { token: org.token });
    assert.equal(result.status, 200, result.text);
    assert.equal(result.body.backups.length, 1);
    const [backup] = result.body.backups;
    assert.deepEqual(Object.keys(backup), [
      'id', 'disk_backup_policy_id', 'disk_id', 'run_id', 'created_at', 'size', 'new_stored_size', 'consistency', 'live_read', 'read_mode', 'read_note', 'snapshot_group', 'last_verification',
    ]);
    assert.deepEqual([backup.read_mode, backup.read_note, backup.snapshot_group], [null, null, null], 'an image file is not an RBD disk');
    assert.equal(backup.last_verification, null, 'never verified yet');
    assert.equal(backup.live_read, backup.consistency === 'live');
    assert.equal(backup.disk_backup_policy_id, policyId);
    assert.equal(backup.size, 1.5 * 1024 * 1024);
    backupId = backup.id;
  });

  test('restore makes a new disk of the organization from the backup', async () => {
    const result = await service.call('POST', ext(`backups/${backupId}/restore`), { token: org.token, json: { name: 'restored disk' } });
    assert.equal(result.status, 200, result.text);
    assert.equal(result.body.disk.name, 'restored disk');
    const disk = await service.call('GET', `disks/${result.body.disk.id}`, { token: org.token });
    assert.equal(disk.status, 200, disk.text);
    const row = await service.runtime.store.db.selectFrom('disks').select('image_path').where('id', '=', result.body.disk.id).executeTakeFirstOrThrow();
    assert.deepEqual(readFileSync(row.image_path!), readFileSync(join(service.dataDir, 'ext.img')));
  });

  test('verify answers a clean check', async () => {
    const result = await service.call('POST', ext(`backups/${backupId}/verify`), { token: org.token });
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(result.body.verification, { ok: true, chunks_checked: (1024 * 1024) / DEFAULT_CHUNK_SIZE, bad_chunks: [] });
    const [listed] = (await service.call('GET', ext(`disk_backup_policies/${policyId}/backups`), { token: org.token })).body.backups;
    assert.deepEqual(listed.last_verification, { verified_at: TEST_NOW, outcome: 'ok', detail: 'every chunk read and authenticated', bytes_checked: 1024 * 1024 });
  });

  describe('errors', () => {
    test('backup_not_found for a backup that does not exist', async () => {
      assertError(await service.call('POST', ext('backups/bkp_doesnotexist0000/verify'), { token: org.token }), 404, 'backup_not_found');
      assertError(await service.call('POST', ext('backups/bkp_doesnotexist0000/restore'), { token: org.token, json: { name: 'x' } }), 404, 'backup_not_found');
    });
    test("permission_denied for another organization's backup or policy", async () => {
      assertError(await service.call('POST', ext(`backups/${backupId}/verify`), { token: other.token }), 403, 'permission_denied');
      assertError(await service.call('GET', ext(`disk_backup_policies/${policyId}/backups`), { token: other.token }), 403, 'permission_denied');
      assertError(await service.call('POST', ext(`disk_backup_policies/${policyId}/run`), { token: other.token }), 403, 'permission_denied');
    });
    test('disk_backup_policy_not_found for a policy that does not exist', async () => {
      assertError(await service.call('POST', ext('disk_backup_policies/dbp_doesnotexist0000/run'), { token: org.token }), 404, 'disk_backup_policy_not_found');
      assertError(await service.call('GET', ext('disk_backup_policies/dbp_doesnotexist0000/backups'), { token: org.token }), 404, 'disk_backup_policy_not_found');
    });
    test('restore needs a name', async () => {
      assertError(await service.call('POST', ext(`backups/${backupId}/restore`), { token: org.token }), 400, 'missing_required_argument');
    });
    test('a read-only token may list but not run, restore or verify', async () => {
      const readOnly = await service.createToken(org.id, ['disk_backup_policies:read']);
      assert.equal((await service.call('GET', ext(`disk_backup_policies/${policyId}/backups`), { token: readOnly })).status, 200);
      assertError(await service.call('POST', ext(`disk_backup_policies/${policyId}/run`), { token: readOnly }), 403, 'scope_not_granted');
      assertError(await service.call('POST', ext(`backups/${backupId}/verify`), { token: readOnly }), 403, 'scope_not_granted');
    });
    test('a damaged backup: verify names the bad chunk, restore answers backup_unreadable and makes no disk', async () => {
      assert.ok((await corruptChunks(service.backupEngine!.repository)) > 0);
      const verified = await service.call('POST', ext(`backups/${backupId}/verify`), { token: org.token });
      assert.equal(verified.status, 200, verified.text);
      assert.equal(verified.body.verification.ok, false);
      assert.equal(verified.body.verification.bad_chunks[0].problem, 'corrupt');
      const [listed] = (await service.call('GET', ext(`disk_backup_policies/${policyId}/backups`), { token: org.token })).body.backups;
      assert.equal(listed.last_verification.outcome, 'failed');
      assert.match(listed.last_verification.detail, /bad chunk.*corrupt/);
      const disksBefore = await service.snapshot();
      assertError(await service.call('POST', ext(`backups/${backupId}/restore`), { token: org.token, json: { name: 'nope' } }), 422, 'backup_unreadable');
      assert.equal(await service.snapshot(), disksBefore);
    });
  });
});

describe('extension API without a backup engine', () => {
  let service: TestService;
  let org: TestOrganization;
  before(async () => {
    service = await TestService.start('sqlite');
    org = await service.createOrganization('No engine');
  });
  after(() => service.stop());

  test('run, restore and verify answer backup_engine_unavailable; the list still answers', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await service.createPolicy(org.token, disk.id);
    assertError(await service.call('POST', `/ext/v1/disk_backup_policies/${policy.id}/run`, { token: org.token }), 503, 'backup_engine_unavailable');
    const list = await service.call('GET', `/ext/v1/disk_backup_policies/${policy.id}/backups`, { token: org.token });
    assert.deepEqual(list.body, { backups: [] });
  });

  test('the extension API has its own OpenAPI document; the Core API document does not list it', async () => {
    const extension = await service.call('GET', '/ext/v1/openapi.json');
    assert.equal(extension.status, 200);
    assert.deepEqual(Object.keys(extension.body.paths).sort(), [
      '/api_token',
      '/backups/backup/restore',
      '/backups/backup/verify',
      '/disk_backup_policies/disk_backup_policy/backups',
      '/disk_backup_policies/disk_backup_policy/run',
      '/disk_backup_policies/disk_backup_policy/runs',
      '/operations/operation',
      '/organizations/organization/last_runs',
      '/organizations/organization/webhooks',
      '/webhooks/webhook',
      '/webhooks/webhook/deliveries',
    ]);
    const core = await service.call('GET', '/core/v1/openapi.json');
    assert.ok(!Object.keys(core.body.paths).some((path) => path.endsWith('/backups') || path.endsWith('/run') || path.endsWith('/verify')));
  });
});
