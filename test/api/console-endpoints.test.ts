/**
 * The extension endpoints the web console reads: the calling token (`api_token`), a policy's runs a
 * page at a time with their kept backups' sizes, and the last run of each of an organization's policies.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { forEachEngine, TestService, type CallResult, type TestOrganization } from '../support/harness.js';

function assertError(result: CallResult, status: number, code: string): void {
  assert.equal(result.status, status, result.text);
  assert.equal(result.body?.error?.code, code, result.text);
}

forEachEngine('extension API for the console', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let other: TestOrganization;
  let policyId: string;
  let idlePolicyId: string;

  before(async () => {
    service = await TestService.start(engine, { backupEngine: true });
    org = await service.createOrganization('Console', { timeZone: 'Asia/Tokyo' });
    other = await service.createOrganization('Other');
    const imagePath = join(service.dataDir, 'console.img');
    writeFileSync(imagePath, randomBytes(256 * 1024));
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name: 'console disk', sizeInGb: 1, imagePath });
    policyId = (await service.createPolicy(org.token, disk.id)).id;
    idlePolicyId = (await service.createPolicy(org.token, (await service.createDisk(org.id)).id)).id;
  });
  after(() => service.stop());

  test("api_token answers the caller's token (scopes, never a secret) and its organization's time zone, with no scope needed", async () => {
    const token = await service.createToken(org.id, ['disks:read']);
    const result = await service.call('GET', '/ext/v1/api_token', { token });
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(Object.keys(result.body.api_token), ['id', 'name', 'scopes', 'expires_at']);
    assert.deepEqual(result.body.api_token.scopes, ['disks:read']);
    assert.deepEqual(result.body.organization, { id: org.id, name: 'Console', time_zone: 'Asia/Tokyo' });
    assert.ok(!result.text.includes(token), 'the secret is not answered');

    const noZone = await service.call('GET', '/ext/v1/api_token', { token: other.token });
    assert.equal(noZone.body.organization.time_zone, 'Europe/London', "another organization: its own country's zone");
    assertError(await service.call('GET', '/ext/v1/api_token'), 400, 'missing_api_token');
    assertError(await service.call('GET', '/ext/v1/api_token', { token: 'x'.repeat(48) }), 403, 'invalid_api_token');
  });

  test("runs lists a policy's runs newest first, a page at a time, with the kept backups' sizes", async () => {
    for (let i = 0; i < 2; i++) {
      const run = await service.call('POST', `/ext/v1/disk_backup_policies/${policyId}/run`, { token: org.token });
      assert.equal(run.status, 200, run.text);
    }
    const all = await service.call('GET', `/ext/v1/disk_backup_policies/${policyId}/runs`, { token: org.token });
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.body.pagination, { current_page: 1, total_pages: 1, total: 2, per_page: 30, large_set: false });
    const [newest, oldest] = all.body.runs;
    assert.deepEqual(Object.keys(newest), [
      'id', 'disk_backup_policy_id', 'status', 'error', 'scheduled_at', 'started_at', 'finished_at', 'copy', 'backups_kept', 'bytes_read', 'bytes_stored',
    ]);
    assert.equal(newest.status, 'succeeded');
    assert.equal(newest.disk_backup_policy_id, policyId);
    assert.equal(newest.backups_kept, 1);
    assert.equal(newest.bytes_read, 256 * 1024);
    assert.equal(newest.bytes_stored, 0, 'the second backup found every chunk already stored');
    assert.ok(oldest.bytes_stored > 0, 'the first stored its data');

    const second = await service.call('GET', `/ext/v1/disk_backup_policies/${policyId}/runs`, { token: org.token, query: 'page=2&per_page=1' });
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body.runs.map((run: { id: string }) => run.id), [oldest.id]);
    assert.equal(second.body.pagination.total_pages, 2);

    assertError(await service.call('GET', `/ext/v1/disk_backup_policies/${policyId}/runs`, { token: org.token, query: 'per_page=201' }), 400, 'invalid_argument');
    assertError(await service.call('GET', `/ext/v1/disk_backup_policies/${policyId}/runs`, { token: other.token }), 403, 'permission_denied');
    const noScope = await service.createToken(org.id, ['disks:read']);
    assertError(await service.call('GET', `/ext/v1/disk_backup_policies/${policyId}/runs`, { token: noScope }), 403, 'scope_not_granted');
  });

  test("last_runs answers each of the organization's policies' newest run, and only its own", async () => {
    const result = await service.call('GET', `/ext/v1/organizations/${org.id}/last_runs`, { token: org.token });
    assert.equal(result.status, 200, result.text);
    const runs = await service.call('GET', `/ext/v1/disk_backup_policies/${policyId}/runs`, { token: org.token });
    assert.deepEqual(result.body.last_runs, [runs.body.runs[0]], 'the run policy has its newest; the idle policy none');
    assert.ok(!result.text.includes(idlePolicyId));

    const empty = await service.call('GET', `/ext/v1/organizations/${other.id}/last_runs`, { token: other.token });
    assert.deepEqual(empty.body, { last_runs: [] });
    assertError(await service.call('GET', `/ext/v1/organizations/${org.id}/last_runs`, { token: other.token }), 403, 'permission_denied');
  });
});
