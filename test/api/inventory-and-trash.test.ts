/**
 * The read endpoints around the policies (organizations, disks, virtual machines) and the trash
 * endpoints: what each answers (field sets as in real traffic and the official OpenAPI document),
 * both lookup forms, pagination, and that another organization's objects are never reachable.
 * Every 200 body is also validated against the official OpenAPI 2.68 response schema.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TRASH_RETENTION_SECONDS } from '../../src/domain/policy-rules.js';
import { forEachEngine, TEST_NOW, TestService, type CallResult, type TestOrganization } from '../support/harness.js';
import { validateAgainstOfficial } from '../support/openapi-validator.js';

const ORGANIZATION_LIST_FIELDS = ['id', 'name', 'sub_domain', 'infrastructure_domain', 'created_at', 'activated_at', 'suspended', 'managed'];
const ORGANIZATION_FIELDS = [
  ...ORGANIZATION_LIST_FIELDS,
  'billing_name', 'address1', 'address2', 'address3', 'address4', 'postcode', 'vat_number', 'phone_number',
  'currency', 'country', 'country_state',
];
const DISK_LIST_FIELDS = ['id', 'name', 'size_in_gb', 'wwn', 'state', 'virtual_machine_disk'];
/** As in the recorded real `GET disks/disk` answer. */
const DISK_FIELDS = [
  'id', 'name', 'size_in_gb', 'wwn', 'state', 'created_at', 'storage_speed', 'io_profile', 'bus_type', 'data_center',
  'virtual_machine_disk', 'installation',
];
const VM_LIST_FIELDS = ['id', 'name', 'hostname', 'fqdn', 'created_at', 'zone', 'package', 'gpu_type', 'ip_addresses', 'hypervisor'];
const TRASH_OBJECT_FIELDS = ['id', 'keep_until', 'object_id', 'object_type'];
const TASK_FIELDS = ['id', 'name', 'status', 'created_at', 'started_at', 'finished_at', 'progress'];

function keys(value: unknown): string[] {
  return Object.keys(value as object).sort();
}

function sorted(list: readonly string[]): string[] {
  return [...list].sort();
}

/** A 200 whose body the official OpenAPI document's schema accepts. */
function assertOk(result: CallResult, method: string, officialPath: string): void {
  assert.equal(result.status, 200, `${method} ${officialPath}: ${result.text}`);
  assert.deepEqual(validateAgainstOfficial(method, officialPath, 200, result.body), [], `${method} ${officialPath}: ${result.text}`);
}

function assertError(result: CallResult, status: number, code: string): void {
  assert.equal(result.status, status, result.text);
  assert.equal(result.body?.error?.code, code, result.text);
}

forEachEngine('inventory and trash', (engine) => {
  let service: TestService;
  /** The caller's organization: a VM with two disks, and a standalone disk. */
  let org: TestOrganization;
  let other: TestOrganization;
  let vm: { id: string; fqdn: string };
  let bootDisk: { id: string };
  let dataDisk: { id: string };
  let standalone: { id: string; name: string };
  let otherVm: { id: string; fqdn: string };
  let otherDisk: { id: string };

  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Inventory');
    other = await service.createOrganization('Elsewhere');
    vm = await service.createVirtualMachine(org.id, 'web');
    bootDisk = await service.createDisk(org.id, { virtualMachineId: vm.id, name: 'web system' });
    dataDisk = await service.createDisk(org.id, { virtualMachineId: vm.id, name: 'web data' });
    standalone = await service.createDisk(org.id, { name: 'archive' });
    otherVm = await service.createVirtualMachine(other.id, 'theirs');
    otherDisk = await service.createDisk(other.id, { virtualMachineId: otherVm.id, name: 'their disk' });
  });
  after(() => service.stop());

  /** Makes a policy on a fresh disk of `owner` and deletes it: answers its id and its trash object. */
  async function trashedPolicy(owner: TestOrganization) {
    const disk = await service.createDisk(owner.id, { name: 'trash me' });
    const policy = await service.createPolicy(owner.token, disk.id);
    const deleted = await service.call('DELETE', `disk_backup_policies/${policy.id}`, { token: owner.token });
    assert.equal(deleted.status, 200, deleted.text);
    const found = await service.call('GET', 'trash_objects/_', { token: owner.token, query: `trash_object[object_id]=${policy.id}` });
    assert.equal(found.status, 200, found.text);
    return { policyId: policy.id, trashObject: found.body.trash_object as { id: string; object_id: string } };
  }

  // ---- Organizations ---------------------------------------------------------------------------

  test("GET organizations lists only the token's own organization", async () => {
    const result = await service.call('GET', 'organizations', { token: org.token });
    assertOk(result, 'GET', '/organizations');
    assert.deepEqual(result.body.organizations.map((o: { id: string }) => o.id), [org.id]);
    const theirs = await service.call('GET', 'organizations', { token: other.token });
    assert.deepEqual(theirs.body.organizations.map((o: { id: string }) => o.id), [other.id]);
  });

  test('GET organizations answers exactly the list field set, with the right values', async () => {
    const result = await service.call('GET', 'organizations', { token: org.token });
    assert.deepEqual(keys(result.body), ['organizations']);
    const [organization] = result.body.organizations;
    assert.deepEqual(keys(organization), sorted(ORGANIZATION_LIST_FIELDS));
    assert.deepEqual(organization, {
      id: org.id,
      name: 'Inventory',
      sub_domain: org.subDomain,
      infrastructure_domain: `${org.subDomain}.katapult.cloud`,
      created_at: TEST_NOW,
      activated_at: TEST_NOW,
      suspended: false,
      managed: false,
    });
  });

  test('GET organizations/:organization finds the organization by id in the path', async () => {
    const result = await service.call('GET', `organizations/${org.id}`, { token: org.token });
    assertOk(result, 'GET', '/organizations/organization');
    assert.deepEqual(keys(result.body), ['organization']);
    assert.deepEqual(keys(result.body.organization), sorted(ORGANIZATION_FIELDS));
    assert.equal(result.body.organization.id, org.id);
    assert.equal(result.body.organization.sub_domain, org.subDomain);
  });

  test('GET organizations/:organization finds the organization by organization[sub_domain]', async () => {
    const byId = await service.call('GET', `organizations/${org.id}`, { token: org.token });
    const bySubDomain = await service.call('GET', 'organizations/_', { token: org.token, query: `organization[sub_domain]=${org.subDomain}` });
    assertOk(bySubDomain, 'GET', '/organizations/organization');
    assert.equal(bySubDomain.text, byId.text);
  });

  test("another organization is permission_denied, by id and by sub-domain", async () => {
    for (const query of [`organization[id]=${other.id}`, `organization[sub_domain]=${other.subDomain}`]) {
      const result = await service.call('GET', 'organizations/_', { token: org.token, query });
      assertError(result, 403, 'permission_denied');
      assert.ok('details' in result.body.error.detail, result.text);
    }
  });

  test('an unknown organization is organization_not_found', async () => {
    assertError(await service.call('GET', 'organizations/org_doesNotExist0000', { token: org.token }), 404, 'organization_not_found');
    assertError(
      await service.call('GET', 'organizations/_', { token: org.token, query: 'organization[sub_domain]=no-such-org' }),
      404,
      'organization_not_found',
    );
  });

  // ---- Disks of an organization ----------------------------------------------------------------

  test('organizations/:organization/disks answers its disks in an array named `disk`, with pagination', async () => {
    const result = await service.call('GET', 'organizations/_/disks', { token: org.token, query: `organization[id]=${org.id}` });
    assertOk(result, 'GET', '/organizations/organization/disks');
    assert.deepEqual(keys(result.body), ['disk', 'pagination']);
    assert.deepEqual(result.body.disk.map((d: { id: string }) => d.id), [bootDisk.id, dataDisk.id, standalone.id]);
    for (const disk of result.body.disk) assert.deepEqual(keys(disk), sorted(DISK_LIST_FIELDS));
    assert.deepEqual(result.body.pagination, { current_page: 1, total_pages: 1, total: 3, per_page: 30, large_set: false });
  });

  test('a listed standalone disk has virtual_machine_disk null; an attached one names its VM by id and fqdn', async () => {
    const result = await service.call('GET', `organizations/${org.subDomain}/disks`, {
      token: org.token,
      query: `organization[sub_domain]=${org.subDomain}`,
    });
    const byId = new Map(result.body.disk.map((d: { id: string }) => [d.id, d]));
    assert.equal((byId.get(standalone.id) as { virtual_machine_disk: unknown }).virtual_machine_disk, null);
    assert.deepEqual((byId.get(bootDisk.id) as { virtual_machine_disk: unknown }).virtual_machine_disk, {
      virtual_machine: { id: vm.id, fqdn: vm.fqdn },
    });
  });

  test('the disks of an organization page through every disk once', async () => {
    const many = await service.createOrganization('Many disks');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await service.createDisk(many.id, { name: `disk ${i}` })).id);
    const seen: string[] = [];
    for (const page of [1, 2, 3]) {
      const result = await service.call('GET', `organizations/${many.id}/disks`, { token: many.token, query: `page=${page}&per_page=2` });
      assertOk(result, 'GET', '/organizations/organization/disks');
      assert.deepEqual(result.body.pagination, { current_page: page, total_pages: 3, total: 5, per_page: 2, large_set: false });
      assert.equal(result.body.disk.length, page < 3 ? 2 : 1);
      seen.push(...result.body.disk.map((d: { id: string }) => d.id));
    }
    assert.deepEqual(seen, ids);
    const beyond = await service.call('GET', `organizations/${many.id}/disks`, { token: many.token, query: 'page=4&per_page=2' });
    assert.deepEqual(beyond.body.disk, []);
    assert.equal(beyond.body.pagination.current_page, 4);
  });

  test("another organization's disks are permission_denied", async () => {
    assertError(await service.call('GET', `organizations/${other.id}/disks`, { token: org.token }), 403, 'permission_denied');
  });

  // ---- One disk --------------------------------------------------------------------------------

  test('disks/:disk answers the field set of real traffic, plus annotations []', async () => {
    const result = await service.call('GET', 'disks/disk', { token: org.token, query: `disk[id]=${standalone.id}` });
    assertOk(result, 'GET', '/disks/disk');
    assert.deepEqual(keys(result.body), ['annotations', 'disk']);
    assert.deepEqual(result.body.annotations, []);
    const disk = result.body.disk;
    assert.deepEqual(keys(disk), sorted(DISK_FIELDS));
    assert.equal(disk.id, standalone.id);
    assert.equal(disk.name, 'archive');
    assert.equal(disk.size_in_gb, 10);
    assert.match(disk.wwn, /^[0-9a-f]{16}$/);
    assert.equal(disk.created_at, TEST_NOW);
    assert.deepEqual(keys(disk.data_center), ['id', 'name', 'permalink']);
    assert.deepEqual(keys(disk.io_profile), ['id', 'iops', 'name', 'permalink', 'speed_in_mb']);
    assert.equal(disk.virtual_machine_disk, null);
    assert.equal(disk.installation, null);
  });

  test('disks/:disk takes the id in the path as well as in the query', async () => {
    const inPath = await service.call('GET', `disks/${standalone.id}`, { token: org.token });
    const inQuery = await service.call('GET', 'disks/_', { token: org.token, query: `disk[id]=${standalone.id}` });
    assert.equal(inPath.status, 200);
    assert.equal(inPath.text, inQuery.text);
  });

  test("an attached disk's virtual_machine_disk is {virtual_machine{id,fqdn}, attach_on_boot, boot, state}", async () => {
    const result = await service.call('GET', `disks/${bootDisk.id}`, { token: org.token });
    assertOk(result, 'GET', '/disks/disk');
    assert.deepEqual(result.body.disk.virtual_machine_disk, {
      virtual_machine: { id: vm.id, fqdn: vm.fqdn },
      attach_on_boot: true,
      boot: true,
      state: 'attached',
    });
    const data = await service.call('GET', `disks/${dataDisk.id}`, { token: org.token });
    assert.equal(data.body.disk.virtual_machine_disk.boot, false);
  });

  test("another organization's disk is permission_denied; an unknown one disk_not_found", async () => {
    assertError(await service.call('GET', `disks/${otherDisk.id}`, { token: org.token }), 403, 'permission_denied');
    assertError(await service.call('GET', 'disks/_', { token: org.token, query: 'disk[id]=disk_missing' }), 404, 'disk_not_found');
  });

  // ---- Disks of a virtual machine --------------------------------------------------------------

  test('virtual_machines/:virtual_machine/disks answers attachments with the short disk field set', async () => {
    const result = await service.call('GET', 'virtual_machines/_/disks', { token: org.token, query: `virtual_machine[id]=${vm.id}` });
    assertOk(result, 'GET', '/virtual_machines/virtual_machine/disks');
    assert.deepEqual(keys(result.body), ['disks', 'pagination']);
    assert.deepEqual(result.body.pagination, { current_page: 1, total_pages: 1, total: 2, per_page: 30, large_set: false });
    const [first] = result.body.disks;
    assert.deepEqual(keys(first), ['attach_on_boot', 'boot', 'disk', 'state']);
    assert.deepEqual(keys(first.disk), ['created_at', 'id', 'name', 'size_in_gb', 'state', 'wwn']);
    assert.deepEqual(
      { ...first, disk: { ...first.disk, wwn: 'x' } },
      {
        disk: { id: bootDisk.id, name: 'web system', size_in_gb: 10, wwn: 'x', state: 'built', created_at: TEST_NOW },
        attach_on_boot: true,
        boot: true,
        state: 'attached',
      },
    );
  });

  test('the boot disk is listed first even when it was attached last', async () => {
    const machine = await service.createVirtualMachine(org.id, 'reorder');
    const first = await service.createDisk(org.id, { virtualMachineId: machine.id, name: 'first' });
    const second = await service.createDisk(org.id, { virtualMachineId: machine.id, name: 'second' });
    const db = service.runtime.store.db;
    await db.updateTable('virtual_machine_disks').set({ boot: 0 }).where('disk_id', '=', first.id).execute();
    await db.updateTable('virtual_machine_disks').set({ boot: 1 }).where('disk_id', '=', second.id).execute();
    const result = await service.call('GET', `virtual_machines/${machine.id}/disks`, { token: org.token });
    assert.deepEqual(
      result.body.disks.map((a: { disk: { id: string }; boot: boolean }) => [a.disk.id, a.boot]),
      [[second.id, true], [first.id, false]],
    );
  });

  test('the disks of a virtual machine are found by fqdn too, and paginate', async () => {
    const page = await service.call('GET', 'virtual_machines/_/disks', {
      token: org.token,
      query: `virtual_machine[fqdn]=${vm.fqdn}&per_page=1&page=2`,
    });
    assertOk(page, 'GET', '/virtual_machines/virtual_machine/disks');
    assert.deepEqual(page.body.disks.map((a: { disk: { id: string } }) => a.disk.id), [dataDisk.id]);
    assert.deepEqual(page.body.pagination, { current_page: 2, total_pages: 2, total: 2, per_page: 1, large_set: false });
  });

  test("another organization's virtual machine's disks are permission_denied", async () => {
    assertError(await service.call('GET', `virtual_machines/${otherVm.id}/disks`, { token: org.token }), 403, 'permission_denied');
  });

  // ---- Virtual machines ------------------------------------------------------------------------

  test('organizations/:organization/virtual_machines lists its own machines with the list field set', async () => {
    const many = await service.createOrganization('Machines');
    const a = await service.createVirtualMachine(many.id, 'alpha');
    const b = await service.createVirtualMachine(many.id, 'beta');
    const result = await service.call('GET', 'organizations/_/virtual_machines', { token: many.token, query: `organization[id]=${many.id}` });
    assertOk(result, 'GET', '/organizations/organization/virtual_machines');
    assert.deepEqual(keys(result.body), ['pagination', 'virtual_machines']);
    assert.deepEqual(result.body.virtual_machines.map((v: { id: string }) => v.id), [a.id, b.id]);
    for (const machine of result.body.virtual_machines) assert.deepEqual(keys(machine), sorted(VM_LIST_FIELDS));
    assert.equal(result.body.virtual_machines[0].fqdn, a.fqdn);
    assert.deepEqual(result.body.pagination, { current_page: 1, total_pages: 1, total: 2, per_page: 30, large_set: false });
    const second = await service.call('GET', `organizations/${many.id}/virtual_machines`, { token: many.token, query: 'per_page=1&page=2' });
    assert.deepEqual(second.body.virtual_machines.map((v: { id: string }) => v.id), [b.id]);
  });

  test("another organization's virtual machines are permission_denied", async () => {
    assertError(await service.call('GET', `organizations/${other.id}/virtual_machines`, { token: org.token }), 403, 'permission_denied');
  });

  test('virtual_machines/:virtual_machine answers the machine by id and by fqdn, with annotations []', async () => {
    const byId = await service.call('GET', `virtual_machines/${vm.id}`, { token: org.token });
    assertOk(byId, 'GET', '/virtual_machines/virtual_machine');
    assert.deepEqual(keys(byId.body), ['annotations', 'virtual_machine']);
    assert.deepEqual(byId.body.annotations, []);
    assert.equal(byId.body.virtual_machine.id, vm.id);
    assert.equal(byId.body.virtual_machine.fqdn, vm.fqdn);
    assert.equal(byId.body.virtual_machine.organization.id, org.id);
    const byFqdn = await service.call('GET', 'virtual_machines/_', { token: org.token, query: `virtual_machine[fqdn]=${vm.fqdn}` });
    assert.equal(byFqdn.status, 200, byFqdn.text);
    assert.equal(byFqdn.text, byId.text);
  });

  test("another organization's virtual machine is permission_denied; an unknown one virtual_machine_not_found", async () => {
    assertError(await service.call('GET', 'virtual_machines/_', { token: org.token, query: `virtual_machine[fqdn]=${otherVm.fqdn}` }), 403, 'permission_denied');
    assertError(await service.call('GET', `virtual_machines/${otherVm.id}`, { token: org.token }), 403, 'permission_denied');
    assertError(await service.call('GET', 'virtual_machines/vm_missing', { token: org.token }), 404, 'virtual_machine_not_found');
  });

  // ---- Trash -----------------------------------------------------------------------------------

  test("organizations/:organization/trash_objects lists the organization's trash, with pagination", async () => {
    const bin = await service.createOrganization('Bin');
    const trashed = [await trashedPolicy(bin), await trashedPolicy(bin), await trashedPolicy(bin)];
    const first = await service.call('GET', `organizations/${bin.id}/trash_objects`, { token: bin.token, query: 'per_page=2' });
    assertOk(first, 'GET', '/organizations/organization/trash_objects');
    assert.deepEqual(keys(first.body), ['pagination', 'trash_objects']);
    assert.deepEqual(first.body.pagination, { current_page: 1, total_pages: 2, total: 3, per_page: 2, large_set: false });
    const second = await service.call('GET', 'organizations/_/trash_objects', {
      token: bin.token,
      query: `organization[sub_domain]=${bin.subDomain}&per_page=2&page=2`,
    });
    assertOk(second, 'GET', '/organizations/organization/trash_objects');
    const listed = [...first.body.trash_objects, ...second.body.trash_objects];
    assert.deepEqual(listed.map((t: { object_id: string }) => t.object_id), trashed.map((t) => t.policyId));
    for (const item of listed) {
      assert.deepEqual(keys(item), TRASH_OBJECT_FIELDS.slice().sort());
      assert.match(item.id, /^trsh_[A-Za-z0-9]{16}$/);
      assert.equal(item.object_type, 'DiskBackupPolicy');
      assert.equal(item.keep_until, TEST_NOW + TRASH_RETENTION_SECONDS);
    }
  });

  test('a deleted object is kept in the trash for two days, as recorded on the real API', () => {
    assert.equal(TRASH_RETENTION_SECONDS, 2 * 24 * 60 * 60);
  });

  test('trash_objects/:trash_object finds a trash object by id and by object_id', async () => {
    const { policyId, trashObject } = await trashedPolicy(org);
    const byId = await service.call('GET', `trash_objects/${trashObject.id}`, { token: org.token });
    assertOk(byId, 'GET', '/trash_objects/trash_object');
    assert.deepEqual(byId.body, {
      trash_object: { id: trashObject.id, keep_until: TEST_NOW + TRASH_RETENTION_SECONDS, object_id: policyId, object_type: 'DiskBackupPolicy' },
    });
    const byQueryId = await service.call('GET', 'trash_objects/trash_object', { token: org.token, query: `trash_object[id]=${trashObject.id}` });
    const byObjectId = await service.call('GET', 'trash_objects/_', { token: org.token, query: `trash_object[object_id]=${policyId}` });
    assert.equal(byQueryId.text, byId.text);
    assert.equal(byObjectId.text, byId.text);
  });

  test('an unknown trash object is trash_object_not_found', async () => {
    assertError(await service.call('GET', 'trash_objects/trsh_missing', { token: org.token }), 404, 'trash_object_not_found');
    assertError(
      await service.call('GET', 'trash_objects/_', { token: org.token, query: 'trash_object[object_id]=dbp_missing' }),
      404,
      'trash_object_not_found',
    );
  });

  test('restoring a trash object answers it and brings the object back to life', async () => {
    const { policyId, trashObject } = await trashedPolicy(org);
    const inTrash = await service.call('GET', `disk_backup_policies/${policyId}`, { token: org.token });
    assertError(inTrash, 406, 'object_in_trash');

    const restored = await service.call('POST', 'trash_objects/_/restore', { token: org.token, json: { trash_object: { id: trashObject.id } } });
    assertOk(restored, 'POST', '/trash_objects/trash_object/restore');
    assert.deepEqual(keys(restored.body), ['trash_object']);
    assert.equal(restored.body.trash_object.id, trashObject.id);
    assert.equal(restored.body.trash_object.object_id, policyId);

    const live = await service.call('GET', `disk_backup_policies/${policyId}`, { token: org.token });
    assert.equal(live.status, 200, live.text);
    assertError(await service.call('GET', `trash_objects/${trashObject.id}`, { token: org.token }), 404, 'trash_object_not_found');
  });

  test('purging a trash object answers the purge task and deletes the object for good', async () => {
    const { policyId, trashObject } = await trashedPolicy(org);
    const result = await service.call('DELETE', 'trash_objects/_', { token: org.token, query: `trash_object[object_id]=${policyId}` });
    assertOk(result, 'DELETE', '/trash_objects/trash_object');
    assert.deepEqual(keys(result.body), ['task']);
    const task = result.body.task;
    assert.deepEqual(keys(task), TASK_FIELDS.slice().sort());
    assert.match(task.id, /^task_[A-Za-z0-9]{16}$/);
    assert.equal(task.name, 'Purge items from trash');
    assert.ok(['pending', 'running', 'completed'].includes(task.status), task.status);
    assert.equal(task.created_at, TEST_NOW);
    assert.equal(typeof task.progress, 'number');

    assertError(await service.call('GET', `trash_objects/${trashObject.id}`, { token: org.token }), 404, 'trash_object_not_found');
    assertError(await service.call('GET', `disk_backup_policies/${policyId}`, { token: org.token }), 404, 'disk_backup_policy_not_found');
  });

  test("purge_all empties the organization's trash and leaves other organizations' trash alone", async () => {
    const bin = await service.createOrganization('Purge all');
    const mine = [await trashedPolicy(bin), await trashedPolicy(bin)];
    const theirs = await trashedPolicy(other);

    const result = await service.call('POST', 'organizations/_/trash_objects/purge_all', { token: bin.token, json: { organization: { id: bin.id } } });
    assertOk(result, 'POST', '/organizations/organization/trash_objects/purge_all');
    assert.deepEqual(keys(result.body.task), TASK_FIELDS.slice().sort());
    assert.equal(result.body.task.name, 'Purge items from trash');

    const left = await service.call('GET', `organizations/${bin.id}/trash_objects`, { token: bin.token });
    assert.deepEqual(left.body.trash_objects, []);
    for (const { policyId } of mine) {
      assertError(await service.call('GET', `disk_backup_policies/${policyId}`, { token: bin.token }), 404, 'disk_backup_policy_not_found');
    }
    const stillThere = await service.call('GET', `trash_objects/${theirs.trashObject.id}`, { token: other.token });
    assert.equal(stillThere.status, 200, stillThere.text);
  });

  test("another organization's trash is permission_denied for every trash endpoint, and nothing changes", async () => {
    const { policyId, trashObject } = await trashedPolicy(other);
    const before = await service.snapshot();
    const attempts = [
      await service.call('GET', `trash_objects/${trashObject.id}`, { token: org.token }),
      await service.call('GET', 'trash_objects/_', { token: org.token, query: `trash_object[object_id]=${policyId}` }),
      await service.call('POST', `trash_objects/${trashObject.id}/restore`, { token: org.token }),
      await service.call('DELETE', `trash_objects/${trashObject.id}`, { token: org.token }),
      await service.call('GET', `organizations/${other.id}/trash_objects`, { token: org.token }),
      await service.call('POST', `organizations/${other.id}/trash_objects/purge_all`, { token: org.token }),
    ];
    for (const result of attempts) assertError(result, 403, 'permission_denied');
    assert.equal(await service.snapshot(), before);
  });
});
