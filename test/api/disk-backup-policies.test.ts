/**
 * The nine disk backup policy operations over HTTP: the requests of the two seed documentation pages,
 * the exact body each endpoint's field spec produces, every 200 body checked against the official
 * OpenAPI document, and how `next_invocation_at` is computed.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { forEachEngine, TEST_NOW, TestService, type CallOptions, type TestOrganization } from '../support/harness.js';
import { validateAgainstOfficial } from '../support/openapi-validator.js';
import { OP, type Operation } from '../support/policy-fixtures.js';

const HOUR = 3600;
const DAY = 86400;
const POLICY_ID = /^dbp_[A-Za-z0-9]{16}$/;

/** Calls an operation, asserts a 200 JSON answer valid against the official schema, returns body and raw text. */
async function ok(service: TestService, op: Operation, options: CallOptions & { path?: string }) {
  const result = await service.call(op.method, options.path ?? op.path.slice(1), options);
  assert.equal(result.status, 200, `${op.method} ${op.path}: ${result.text}`);
  assert.equal(result.headers.get('content-type'), 'application/json');
  assert.equal(result.headers.get('x-api-schema'), null);
  assert.deepEqual(validateAgainstOfficial(op.method, op.path, 200, result.body), [], `${op.method} ${op.path} against the official schema`);
  return { body: result.body, text: result.text };
}

type Policy = {
  id: string;
  retention: number;
  total_size: number;
  target: { type: string; value: { id: string; name: string } };
  schedule: { frequency: number; interval: string; minute: number; next_invocation_at: number; time: number };
  auto_move_to_trash_at: number | null;
};

/** A full policy as a list shows it: `id,retention,total_size,target[id,name],schedule[interval,next_invocation_at]`. */
function listed(policy: Policy) {
  return {
    id: policy.id,
    retention: policy.retention,
    total_size: policy.total_size,
    target: policy.target,
    schedule: { interval: policy.schedule.interval, next_invocation_at: policy.schedule.next_invocation_at },
  };
}

function pagination(current_page: number, total_pages: number, total: number, per_page: number) {
  return { current_page, total_pages, total, per_page, large_set: false };
}

forEachEngine('disk backup policies: the nine operations', (engine) => {
  let service: TestService;
  let org: TestOrganization;

  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Operations', { timeZone: 'Europe/London' });
  });
  after(() => service.stop());
  beforeEach(() => service.clock.set(TEST_NOW));

  const createForDisk = async (diskId: string, properties: Record<string, unknown> = { retention: 3, schedule: { interval: 'daily' } }, token = org.token) =>
    (await ok(service, OP.createForDisk, { token, json: { disk: { id: diskId }, properties } })).body.disk_backup_policy as Policy;
  const createForVirtualMachine = async (vmId: string, properties: Record<string, unknown> = { retention: 3, schedule: { interval: 'daily' } }) =>
    (await ok(service, OP.createForVirtualMachine, { token: org.token, json: { virtual_machine: { id: vmId }, properties } })).body.disk_backup_policy as Policy;
  const get = async (id: string) =>
    (await ok(service, OP.get, { token: org.token, query: `disk_backup_policy[id]=${id}` })).body.disk_backup_policy as Policy;

  // ---- The seed pages -------------------------------------------------------------------------

  test('the seed request GET disks/disk/disk_backup_policies?disk[id]=… lists exactly that disk\'s policies with the list fields', async () => {
    const disk = await service.createDisk(org.id, { name: 'seed-disk' });
    const other = await service.createDisk(org.id, { name: 'other-disk' });
    const first = await createForDisk(disk.id);
    await createForDisk(other.id);
    const second = await createForDisk(disk.id, { retention: 9, schedule: { interval: 'hourly', minute: 10 } });

    const { body, text } = await ok(service, OP.listForDisk, { token: org.token, query: `disk[id]=${disk.id}` });

    assert.deepEqual(body, {
      pagination: pagination(1, 1, 2, 30),
      disk_backup_policies: [
        {
          id: first.id,
          retention: 3,
          total_size: 0,
          target: { type: 'Disk', value: { id: disk.id, name: 'seed-disk' } },
          schedule: { interval: 'daily', next_invocation_at: TEST_NOW + 12 * HOUR },
        },
        {
          id: second.id,
          retention: 9,
          total_size: 0,
          target: { type: 'Disk', value: { id: disk.id, name: 'seed-disk' } },
          schedule: { interval: 'hourly', next_invocation_at: TEST_NOW + 10 * 60 },
        },
      ],
    });
    assert.equal(text.match(/"total_size":0\.0[,}]/g)?.length, 2, text);
  });

  test('the seed request with page and per_page answers that page and its pagination', async () => {
    const disk = await service.createDisk(org.id);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await createForDisk(disk.id)).id);

    const { body } = await ok(service, OP.listForDisk, { token: org.token, query: `disk[id]=${disk.id}&page=2&per_page=2` });

    assert.deepEqual(body.pagination, pagination(2, 2, 3, 2));
    assert.deepEqual(body.disk_backup_policies.map((p: Policy) => p.id), [ids[2]]);
  });

  test('the seed request PATCH disk_backup_policies/disk_backup_policy changes the policy and answers id, retention, target[id] and an empty schedule', async () => {
    const disk = await service.createDisk(org.id, { name: 'patched' });
    const policy = await createForDisk(disk.id);

    const { body, text } = await ok(service, OP.update, {
      token: org.token,
      json: { disk_backup_policy: { id: policy.id }, properties: { retention: 7, schedule: { interval: 'weekly', frequency: 2, time: 4, minute: 5 } } },
    });

    assert.deepEqual(body, {
      disk_backup_policy: { id: policy.id, retention: 7, target: { type: 'Disk', value: { id: disk.id } }, schedule: {} },
    });
    assert.match(text, /"schedule":\{\}/);
    const stored = await get(policy.id);
    assert.equal(stored.retention, 7);
    assert.deepEqual(
      { ...stored.schedule, next_invocation_at: undefined },
      { frequency: 2, interval: 'weekly', minute: 5, time: 4, next_invocation_at: undefined },
    );
  });

  // ---- Create ---------------------------------------------------------------------------------

  test('creating a policy for a disk answers every field, with the schedule fields left out at their defaults', async () => {
    const disk = await service.createDisk(org.id, { name: 'created' });

    const { body, text } = await ok(service, OP.createForDisk, {
      token: org.token,
      json: { disk: { id: disk.id }, properties: { retention: 3, schedule: { interval: 'daily' } } },
    });

    assert.match(body.disk_backup_policy.id, POLICY_ID);
    assert.deepEqual(body, {
      disk_backup_policy: {
        id: body.disk_backup_policy.id,
        retention: 3,
        total_size: 0,
        target: { type: 'Disk', value: { id: disk.id, name: 'created' } },
        schedule: { frequency: 1, interval: 'daily', minute: 0, next_invocation_at: TEST_NOW + 12 * HOUR, time: 0 },
        auto_move_to_trash_at: null,
      },
    });
    assert.match(text, /"total_size":0\.0,/);
    assert.match(text, /"auto_move_to_trash_at":null/);
  });

  test('creating a policy for a virtual machine targets the machine, by id and name', async () => {
    const vm = await service.createVirtualMachine(org.id, 'web');

    const { body } = await ok(service, OP.createForVirtualMachine, {
      token: org.token,
      json: { virtual_machine: { id: vm.id }, properties: { retention: 5, schedule: { interval: 'monthly', frequency: 2, time: 23, minute: 59 } } },
    });

    assert.match(body.disk_backup_policy.id, POLICY_ID);
    assert.deepEqual(body, {
      disk_backup_policy: {
        id: body.disk_backup_policy.id,
        retention: 5,
        total_size: 0,
        target: { type: 'VirtualMachine', value: { id: vm.id, name: 'web' } },
        schedule: { frequency: 2, interval: 'monthly', minute: 59, next_invocation_at: TEST_NOW + 11 * HOUR + 59 * 60, time: 23 },
        auto_move_to_trash_at: null,
      },
    });
  });

  test('a virtual machine can be named by its fqdn', async () => {
    const vm = await service.createVirtualMachine(org.id, 'by-fqdn');
    const policy = await createForVirtualMachine(vm.id);

    const { body } = await ok(service, OP.listForVirtualMachine, { token: org.token, query: `virtual_machine[fqdn]=${vm.fqdn}` });

    assert.deepEqual(body.disk_backup_policies.map((p: Policy) => p.id), [policy.id]);
  });

  // ---- Get ------------------------------------------------------------------------------------

  test('getting a policy answers every field, exactly as it was created', async () => {
    const disk = await service.createDisk(org.id);
    const created = await createForDisk(disk.id, { retention: 4, schedule: { interval: 'hourly', frequency: 3, minute: 45 } });

    const { body, text } = await ok(service, OP.get, { token: org.token, query: `disk_backup_policy[id]=${created.id}` });

    assert.deepEqual(body, { disk_backup_policy: created });
    assert.equal(body.disk_backup_policy.schedule.next_invocation_at, TEST_NOW + 45 * 60);
    assert.match(text, /"total_size":0\.0,/);
  });

  // ---- Lists ----------------------------------------------------------------------------------

  test('listing an organization\'s policies lists those of its disks and virtual machines, in creation order', async () => {
    const own = await service.createOrganization('Listed', { timeZone: 'Europe/London' });
    const vm = await service.createVirtualMachine(own.id, 'listed-vm');
    const disk = await service.createDisk(own.id, { name: 'listed-disk' });
    const onDisk = await createForDisk(disk.id, undefined, own.token);
    const onVm = (await ok(service, OP.createForVirtualMachine, {
      token: own.token,
      json: { virtual_machine: { id: vm.id }, properties: { retention: 2, schedule: { interval: 'hourly', minute: 30 } } },
    })).body.disk_backup_policy as Policy;

    const { body, text } = await ok(service, OP.listForOrganization, { token: own.token, query: `organization[id]=${own.id}` });

    assert.deepEqual(body, {
      pagination: pagination(1, 1, 2, 30),
      disk_backup_policies: [
        {
          id: onDisk.id,
          retention: 3,
          total_size: 0,
          target: { type: 'Disk', value: { id: disk.id, name: 'listed-disk' } },
          schedule: { interval: 'daily', next_invocation_at: TEST_NOW + 12 * HOUR },
        },
        {
          id: onVm.id,
          retention: 2,
          total_size: 0,
          target: { type: 'VirtualMachine', value: { id: vm.id, name: 'listed-vm' } },
          schedule: { interval: 'hourly', next_invocation_at: TEST_NOW + 30 * 60 },
        },
      ],
    });
    assert.equal(text.match(/"total_size":0\.0[,}]/g)?.length, 2, text);
    const bySubDomain = await ok(service, OP.listForOrganization, { token: own.token, query: `organization[sub_domain]=${own.subDomain}` });
    assert.deepEqual(bySubDomain.body, body);
  });

  test('listing a virtual machine\'s policies without include_disks lists only the machine\'s own', async () => {
    const { vm, vmPolicy } = await machineWithDiskPolicies();

    for (const query of [`virtual_machine[id]=${vm.id}`, `virtual_machine[id]=${vm.id}&include_disks=false`]) {
      const { body } = await ok(service, OP.listForVirtualMachine, { token: org.token, query });
      assert.deepEqual(body, { pagination: pagination(1, 1, 1, 30), disk_backup_policies: [listed(vmPolicy)] }, query);
    }
  });

  test('listing a virtual machine\'s policies with include_disks adds those of its attached disks, never those of other disks', async () => {
    const { vm, vmPolicy, attachedPolicies } = await machineWithDiskPolicies();

    const { body } = await ok(service, OP.listForVirtualMachine, { token: org.token, query: `virtual_machine[id]=${vm.id}&include_disks=true` });

    // Creation order: the first attached disk's policy was made before the machine's own.
    assert.deepEqual(body, {
      pagination: pagination(1, 1, 3, 30),
      disk_backup_policies: [listed(attachedPolicies[0]!), listed(vmPolicy), listed(attachedPolicies[1]!)],
    });
  });

  /** A machine with two attached disks, an unattached disk and another machine's disk, each with a policy. */
  async function machineWithDiskPolicies() {
    const vm = await service.createVirtualMachine(org.id, 'machine');
    const otherVm = await service.createVirtualMachine(org.id, 'other-machine');
    const system = await service.createDisk(org.id, { name: 'system', virtualMachineId: vm.id });
    const data = await service.createDisk(org.id, { name: 'data', virtualMachineId: vm.id });
    const spare = await service.createDisk(org.id, { name: 'spare' });
    const foreign = await service.createDisk(org.id, { name: 'foreign', virtualMachineId: otherVm.id });
    const systemPolicy = await createForDisk(system.id);
    const vmPolicy = await createForVirtualMachine(vm.id, { retention: 6, schedule: { interval: 'weekly' } });
    const dataPolicy = await createForDisk(data.id);
    const sparePolicy = await createForDisk(spare.id);
    await createForDisk(foreign.id);
    await createForVirtualMachine(otherVm.id);
    return { vm, vmPolicy, attachedPolicies: [systemPolicy, dataPolicy], sparePolicy };
  }

  test('the policy of an unattached disk is listed for the disk and the organization but for no machine', async () => {
    const { vm, sparePolicy } = await machineWithDiskPolicies();
    const diskId = sparePolicy.target.value.id;

    const forMachine = await ok(service, OP.listForVirtualMachine, { token: org.token, query: `virtual_machine[id]=${vm.id}&include_disks=true&per_page=200` });
    const forDisk = await ok(service, OP.listForDisk, { token: org.token, query: `disk[id]=${diskId}` });
    const forOrganization = await ok(service, OP.listForOrganization, { token: org.token, query: `organization[id]=${org.id}&per_page=200` });

    assert.equal(forMachine.body.disk_backup_policies.some((p: Policy) => p.id === sparePolicy.id), false);
    assert.deepEqual(forDisk.body.disk_backup_policies, [listed(sparePolicy)]);
    assert.equal(forOrganization.body.disk_backup_policies.some((p: Policy) => p.id === sparePolicy.id), true);
  });

  // ---- Update ---------------------------------------------------------------------------------

  test('updating a virtual machine\'s policy answers its target as VirtualMachine with only the id', async () => {
    const vm = await service.createVirtualMachine(org.id, 'updated-vm');
    const policy = await createForVirtualMachine(vm.id);

    const { body } = await ok(service, OP.update, { token: org.token, json: { disk_backup_policy: { id: policy.id }, properties: { retention: 11 } } });

    assert.deepEqual(body, {
      disk_backup_policy: { id: policy.id, retention: 11, target: { type: 'VirtualMachine', value: { id: vm.id } }, schedule: {} },
    });
  });

  test('an update changes only what it names', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createForDisk(disk.id, { retention: 3, schedule: { interval: 'daily', frequency: 2, time: 5, minute: 6 } });

    await ok(service, OP.update, { token: org.token, json: { disk_backup_policy: { id: policy.id }, properties: { schedule: { minute: 7 } } } });

    assert.deepEqual(await get(policy.id), {
      ...policy,
      schedule: { frequency: 2, interval: 'daily', minute: 7, time: 5, next_invocation_at: TEST_NOW + 17 * HOUR + 7 * 60 },
    });
  });

  // ---- Delete and schedule delete -------------------------------------------------------------

  test('deleting a policy answers only its id', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createForDisk(disk.id);

    const { body, text } = await ok(service, OP.delete, { token: org.token, json: { disk_backup_policy: { id: policy.id } } });

    assert.deepEqual(body, { disk_backup_policy: { id: policy.id } });
    assert.equal(text, `{"disk_backup_policy":{"id":"${policy.id}"}}`);
  });

  test('scheduling a deletion answers id, auto_move_to_trash_at and target[id], and the policy stays live', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createForDisk(disk.id);
    const at = TEST_NOW + DAY;

    const { body } = await ok(service, OP.scheduleDelete, { token: org.token, json: { disk_backup_policy: { id: policy.id }, timestamp: at } });

    assert.deepEqual(body, {
      disk_backup_policy: { id: policy.id, auto_move_to_trash_at: at, target: { type: 'Disk', value: { id: disk.id } } },
    });
    assert.deepEqual(await get(policy.id), { ...policy, auto_move_to_trash_at: at });
    const list = await ok(service, OP.listForDisk, { token: org.token, query: `disk[id]=${disk.id}` });
    assert.deepEqual(list.body.disk_backup_policies.map((p: Policy) => p.id), [policy.id]);
  });

  test('a later schedule delete replaces the earlier time', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createForDisk(disk.id);

    await ok(service, OP.scheduleDelete, { token: org.token, json: { disk_backup_policy: { id: policy.id }, timestamp: TEST_NOW + DAY } });
    await ok(service, OP.scheduleDelete, { token: org.token, json: { disk_backup_policy: { id: policy.id }, timestamp: TEST_NOW + 2 * DAY } });

    assert.equal((await get(policy.id)).auto_move_to_trash_at, TEST_NOW + 2 * DAY);
  });

  // ---- The official schema check itself ------------------------------------------------------

  test('the official schema check rejects a body of the wrong shape (so the checks above mean something)', () => {
    const wrong = {
      pagination: { current_page: '1', total_pages: 1, total: 1, per_page: 30, large_set: false },
      disk_backup_policies: [{ id: 5, retention: 3, total_size: '0.0', schedule: { interval: 'yearly', next_invocation_at: 1 } }],
    };
    const errors = validateAgainstOfficial('GET', '/disks/disk/disk_backup_policies', 200, wrong);
    assert.equal(errors.length, 4, errors.join('\n'));
    assert.notDeepEqual(validateAgainstOfficial('GET', '/disks/disk/disk_backup_policies', 200, { pagination: pagination(1, 1, 0, 30) }), []);
    assert.notDeepEqual(validateAgainstOfficial('PATCH', '/disk_backup_policies/disk_backup_policy', 200, { disk_backup_policy: { schedule: [] } }), []);
  });

  // ---- next_invocation_at ---------------------------------------------------------------------

  test('a daily policy at 02:30 in Europe/London, created at 12:00Z on 25 November, first runs at 02:30Z the next day', async () => {
    const disk = await service.createDisk(org.id);

    const policy = await createForDisk(disk.id, { retention: 3, schedule: { interval: 'daily', time: 2, minute: 30 } });

    assert.equal(policy.schedule.next_invocation_at, Date.UTC(2026, 10, 26, 2, 30) / 1000);
  });

  test('an hourly policy at minute 15, created at 12:00Z, first runs at 12:15Z', async () => {
    const disk = await service.createDisk(org.id);

    const policy = await createForDisk(disk.id, { retention: 3, schedule: { interval: 'hourly', minute: 15 } });

    assert.equal(policy.schedule.next_invocation_at, Date.UTC(2026, 10, 25, 12, 15) / 1000);
  });

  test('the schedule is read on the organization\'s wall clock (America/New_York is UTC-5 in November)', async () => {
    const newYork = await service.createOrganization('New York', { timeZone: 'America/New_York' });
    const disk = await service.createDisk(newYork.id);

    const policy = await createForDisk(disk.id, { retention: 3, schedule: { interval: 'daily', time: 2, minute: 30 } }, newYork.token);

    assert.equal(policy.schedule.next_invocation_at, Date.UTC(2026, 10, 26, 7, 30) / 1000);
  });

  test('an update of the retention alone leaves next_invocation_at as it was, even once the clock has moved on', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createForDisk(disk.id, { retention: 3, schedule: { interval: 'daily', time: 2, minute: 30 } });
    service.clock.set(TEST_NOW + 2 * DAY);

    await ok(service, OP.update, { token: org.token, json: { disk_backup_policy: { id: policy.id }, properties: { retention: 8 } } });

    const stored = await get(policy.id);
    assert.equal(stored.retention, 8);
    assert.equal(stored.schedule.next_invocation_at, Date.UTC(2026, 10, 26, 2, 30) / 1000);
  });

  test('an update of the schedule computes next_invocation_at again from the time of the update', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createForDisk(disk.id, { retention: 3, schedule: { interval: 'daily', time: 2, minute: 30 } });
    service.clock.set(TEST_NOW + DAY); // 2026-11-26T12:00Z

    await ok(service, OP.update, { token: org.token, json: { disk_backup_policy: { id: policy.id }, properties: { schedule: { time: 3, minute: 45 } } } });

    assert.equal((await get(policy.id)).schedule.next_invocation_at, Date.UTC(2026, 10, 27, 3, 45) / 1000);
  });
});
