import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';

/**
 * Answers of reads (and, on SQLite, the tokens that authenticate them) are reused while nothing they
 * were made from changed; these prove a reused answer or token is never served once anything it was
 * made from changed, whoever changed it (the API, a service call as the CLI or the scheduler make,
 * plain SQL, another connection as another process), and that one organization's writes leave
 * another's generation be.
 */
forEachEngine('response cache', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let other: TestOrganization;
  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Cached');
    other = await service.createOrganization('Other');
  });
  after(() => service.stop());

  const listIds = async (diskId: string, token = org.token) => {
    const result = await service.call('GET', `disks/${diskId}/disk_backup_policies`, { token });
    assert.equal(result.status, 200, result.text);
    return { ids: result.body.disk_backup_policies.map((p: { id: string }) => p.id) as string[], text: result.text };
  };

  test('a write made by a service call (as the CLI and the scheduler make) shows in the next read', async () => {
    const disk = await service.createDisk(org.id);
    assert.deepEqual((await listIds(disk.id)).ids, []);
    const policy = await service.services.policies.create(org.id, { type: 'Disk', id: disk.id, name: 'disk' }, {
      retention: 2,
      schedule: { interval: 'hourly' },
    });
    assert.deepEqual((await listIds(disk.id)).ids, [policy.id]);
  });

  test('a change made in plain SQL (another process) shows in the next read', async () => {
    const disk = await service.createDisk(org.id, { name: 'before' });
    await service.createPolicy(org.token, disk.id);
    const first = await listIds(disk.id);
    assert.match(first.text, /"name":"before"/);
    await sql`update disks set name = 'after' where id = ${disk.id}`.execute(service.runtime.store.db);
    assert.match((await listIds(disk.id)).text, /"name":"after"/);
  });

  test('a change committed through another connection (another process) shows in the next read', async () => {
    const disk = await service.createDisk(org.id, { name: 'mine' });
    await service.createPolicy(org.token, disk.id);
    assert.match((await listIds(disk.id)).text, /"name":"mine"/);
    const elsewhere = await service.openAnotherConnection();
    try {
      await elsewhere.store.db.updateTable('disks').set({ name: 'theirs' }).where('id', '=', disk.id).execute();
    } finally {
      await elsewhere.close();
    }
    assert.match((await listIds(disk.id)).text, /"name":"theirs"/);
  });

  test('a token or organization changed through another connection is seen at the next request', async () => {
    const subject = await service.createOrganization('Changed elsewhere');
    const readOnly = await service.createToken(subject.id, ['disk_backup_policies:read']);
    const readOnlyId = (await service.runtime.store.db.selectFrom('api_tokens').select('id').where('organization_id', '=', subject.id).where('scopes', '=', '["disk_backup_policies:read"]').executeTakeFirstOrThrow()).id;
    assert.equal((await service.call('GET', 'organizations', { token: subject.token })).status, 200);
    assert.equal((await service.call('GET', 'organizations', { token: readOnly })).status, 403);
    const elsewhere = await service.openAnotherConnection();
    try {
      await elsewhere.store.db.updateTable('api_tokens').set({ scopes: '["organizations:read"]' }).where('id', '=', readOnlyId).execute();
      assert.equal((await service.call('GET', 'organizations', { token: readOnly })).status, 200);
      await elsewhere.store.db.deleteFrom('api_tokens').where('id', '=', readOnlyId).execute();
      const revoked = await service.call('GET', 'organizations', { token: readOnly });
      assert.equal(revoked.body?.error?.code, 'invalid_api_token', revoked.text);
      await elsewhere.store.db.updateTable('organizations').set({ suspended: 1 }).where('id', '=', subject.id).execute();
      const suspended = await service.call('GET', 'organizations', { token: subject.token });
      assert.equal(suspended.body?.error?.code, 'organization_suspended', suspended.text);
    } finally {
      await elsewhere.close();
    }
  });

  test('putting a policy in the trash and restoring it both show at once', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await service.createPolicy(org.token, disk.id);
    assert.deepEqual((await listIds(disk.id)).ids, [policy.id]);
    const trashObject = await service.services.trash.put({ organizationId: org.id, objectType: 'DiskBackupPolicy', objectId: policy.id });
    assert.deepEqual((await listIds(disk.id)).ids, []);
    await service.services.trash.restore(trashObject);
    assert.deepEqual((await listIds(disk.id)).ids, [policy.id]);
  });

  test("another organization's writes do not change this organization's generation", async () => {
    const generation = async (id: string) =>
      Number((await service.runtime.store.db.selectFrom('organizations').select('generation').where('id', '=', id).executeTakeFirstOrThrow()).generation);
    const before = await generation(org.id);
    const otherDisk = await service.createDisk(other.id);
    await service.createPolicy(other.token, otherDisk.id);
    assert.equal(await generation(org.id), before);
    assert.ok((await generation(other.id)) > 0);
  });
});
