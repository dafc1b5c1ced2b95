import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';

forEachEngine('smoke', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization();
  });
  after(() => service.stop());

  test('a policy created for a disk is listed for it, in both lookup forms', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await service.createPolicy(org.token, disk.id);
    const byQuery = await service.call('GET', 'disks/disk/disk_backup_policies', { token: org.token, query: `disk[id]=${disk.id}` });
    const byPlaceholder = await service.call('GET', `disks/${disk.id}/disk_backup_policies`, { token: org.token });
    assert.equal(byQuery.status, 200);
    assert.deepEqual(byQuery.body, byPlaceholder.body);
    assert.deepEqual(byQuery.body.disk_backup_policies.map((p: { id: string }) => p.id), [policy.id]);
  });
});
