/**
 * How requests to the disk backup policy endpoints are read (query string, JSON body, form fields,
 * `_arguments`, route placeholders, integers and booleans in their several spellings), how lists are
 * paginated, and the trash: delete, find, restore, purge, purge_all and expiry.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { forEachEngine, TEST_NOW, TestService, type CallOptions, type TestOrganization } from '../support/harness.js';
import { validateAgainstOfficial } from '../support/openapi-validator.js';
import { OP, TRASH_SECONDS, type Operation } from '../support/policy-fixtures.js';

const form = (fields: string) => ({ body: fields, contentType: 'application/x-www-form-urlencoded' });
const argumentsParameter = (json: unknown) => `_arguments=${encodeURIComponent(JSON.stringify(json))}`;
const ids = (body: { disk_backup_policies: { id: string }[] }) => body.disk_backup_policies.map((p) => p.id);

/** Calls an operation; asserts a 200 valid against the official schema; answers the body. */
async function ok(service: TestService, op: Operation, options: CallOptions & { path?: string }) {
  const result = await service.call(op.method, options.path ?? op.path.slice(1), options);
  assert.equal(result.status, 200, `${op.method} ${options.path ?? op.path}: ${result.text}`);
  assert.deepEqual(validateAgainstOfficial(op.method, op.path, 200, result.body), [], 'the body against the official schema');
  return result.body;
}

/** Calls an operation that must be refused with `code`, leaving the database unchanged; answers the error. */
async function refused(service: TestService, op: Operation, options: CallOptions & { path?: string }, status: number, code: string) {
  const before = await service.snapshot();
  const result = await service.call(op.method, options.path ?? op.path.slice(1), options);
  assert.equal(await service.snapshot(), before, 'a refused request leaves the database unchanged');
  assert.equal(result.status, status, result.text);
  assert.equal(result.headers.get('x-api-schema'), 'json-error');
  assert.equal(result.body.error.code, code, result.text);
  return result.body.error;
}

forEachEngine('disk backup policies: requests, pagination and the trash', (engine) => {
  let service: TestService;
  let org: TestOrganization;

  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Requests', { timeZone: 'Europe/London' });
  });
  after(() => service.stop());
  beforeEach(() => service.clock.set(TEST_NOW));

  const createPolicy = async (diskId: string, properties: Record<string, unknown> = { retention: 3, schedule: { interval: 'daily' } }, token = org.token) =>
    (await ok(service, OP.createForDisk, { token, json: { disk: { id: diskId }, properties } })).disk_backup_policy;
  const getPolicy = async (id: string) => (await ok(service, OP.get, { token: org.token, query: `disk_backup_policy[id]=${id}` })).disk_backup_policy;
  const retentionOf = async (id: string) => (await getPolicy(id)).retention as number;

  // ---- Where arguments come from ---------------------------------------------------------------

  test('arguments may all come from the query string, with nested keys and integers as digit strings', async () => {
    const policy = await createPolicy((await service.createDisk(org.id)).id);

    await ok(service, OP.update, { token: org.token, query: `disk_backup_policy[id]=${policy.id}&properties[retention]=6&properties[schedule][minute]=20` });

    const stored = await getPolicy(policy.id);
    assert.equal(stored.retention, 6);
    assert.equal(stored.schedule.minute, 20);
  });

  test('the JSON body wins over the query string on a clash', async () => {
    const disk = await service.createDisk(org.id);
    const inQuery = await createPolicy(disk.id);
    const inBody = await createPolicy(disk.id);

    await ok(service, OP.update, {
      token: org.token,
      query: `disk_backup_policy[id]=${inQuery.id}&properties[retention]=6`,
      json: { disk_backup_policy: { id: inBody.id }, properties: { retention: 8 } },
    });

    assert.equal(await retentionOf(inBody.id), 8);
    assert.equal(await retentionOf(inQuery.id), 3);
  });

  test('the query string and the JSON body are merged key by key', async () => {
    const policy = await createPolicy((await service.createDisk(org.id)).id);

    await ok(service, OP.update, {
      token: org.token,
      query: 'properties[retention]=6',
      json: { disk_backup_policy: { id: policy.id }, properties: { schedule: { minute: 20 } } },
    });

    const stored = await getPolicy(policy.id);
    assert.equal(stored.retention, 6);
    assert.equal(stored.schedule.minute, 20);
  });

  test('form fields carry arguments (application/x-www-form-urlencoded)', async () => {
    const policy = await createPolicy((await service.createDisk(org.id)).id);

    await ok(service, OP.update, { token: org.token, ...form(`disk_backup_policy%5Bid%5D=${policy.id}&properties%5Bretention%5D=9`) });

    assert.equal(await retentionOf(policy.id), 9);
  });

  test('a form field _arguments holding JSON carries arguments', async () => {
    const policy = await createPolicy((await service.createDisk(org.id)).id);

    await ok(service, OP.update, {
      token: org.token,
      ...form(argumentsParameter({ disk_backup_policy: { id: policy.id }, properties: { retention: 12, schedule: { interval: 'hourly' } } })),
    });

    const stored = await getPolicy(policy.id);
    assert.equal(stored.retention, 12);
    assert.equal(stored.schedule.interval, 'hourly');
  });

  test('_arguments in the query string carries JSON arguments, and wins over plain query parameters', async () => {
    const disk = await service.createDisk(org.id);
    const first = await createPolicy(disk.id);
    await createPolicy(disk.id);

    const body = await ok(service, OP.listForDisk, { token: org.token, query: `per_page=5&${argumentsParameter({ disk: { id: disk.id }, per_page: 1 })}` });

    assert.deepEqual(ids(body), [first.id]);
    assert.equal(body.pagination.per_page, 1);
    assert.equal(body.pagination.total, 2);
  });

  test('a JSON body that is not an object carries no arguments: the literal placeholder is then looked up', async () => {
    await refused(service, OP.update, { token: org.token, body: '[1, 2]', contentType: 'application/json' }, 400, 'missing_required_argument');
    await refused(service, OP.update, { token: org.token, json: { properties: { retention: 4 } } }, 404, 'disk_backup_policy_not_found');
  });

  // ---- Route placeholders ----------------------------------------------------------------------

  test('a real id in the route placeholder names the disk, as the query string would', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createPolicy(disk.id);

    const byPlaceholder = await ok(service, OP.listForDisk, { token: org.token, path: `disks/${disk.id}/disk_backup_policies` });
    const byQuery = await ok(service, OP.listForDisk, { token: org.token, query: `disk[id]=${disk.id}` });

    assert.deepEqual(ids(byPlaceholder), [policy.id]);
    assert.deepEqual(byPlaceholder, byQuery);
  });

  test('the placeholder "_" or the literal word "disk" leaves the lookup to the query string', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await createPolicy(disk.id);

    for (const placeholder of ['_', 'disk']) {
      const body = await ok(service, OP.listForDisk, { token: org.token, path: `disks/${placeholder}/disk_backup_policies`, query: `disk[id]=${disk.id}` });
      assert.deepEqual(ids(body), [policy.id], placeholder);
    }
  });

  test('the placeholder is ignored when the query string names the lookup', async () => {
    const disk = await service.createDisk(org.id);
    const otherDisk = await service.createDisk(org.id);
    const policy = await createPolicy(disk.id);
    await createPolicy(otherDisk.id);

    const body = await ok(service, OP.listForDisk, { token: org.token, path: `disks/${otherDisk.id}/disk_backup_policies`, query: `disk[id]=${disk.id}` });

    assert.deepEqual(ids(body), [policy.id]);
  });

  test('with nothing else given, the placeholder "_" is looked up as an id and found nowhere', async () => {
    await refused(service, OP.listForDisk, { token: org.token, path: 'disks/_/disk_backup_policies' }, 404, 'disk_not_found');
  });

  test('a placeholder holding an encoded NUL (%00) is found nowhere, rather than failing', async () => {
    await refused(service, OP.listForDisk, { token: org.token, path: 'disks/disk_%00x/disk_backup_policies' }, 404, 'disk_not_found');
    await refused(service, OP.get, { token: org.token, path: 'disk_backup_policies/dbp_%00x' }, 404, 'disk_backup_policy_not_found');
  });

  test('the placeholder fills the first key of a lookup only: an organization\'s id, never its sub_domain', async () => {
    const own = await service.createOrganization('Placeholder');
    const disk = await service.createDisk(own.id);
    const policy = await createPolicy(disk.id, undefined, own.token);

    const byId = await ok(service, OP.listForOrganization, { token: own.token, path: `organizations/${own.id}/disk_backup_policies` });
    assert.deepEqual(ids(byId), [policy.id]);
    await refused(service, OP.listForOrganization, { token: own.token, path: `organizations/${own.subDomain}/disk_backup_policies` }, 404, 'organization_not_found');
  });

  test('policy placeholders work for get, update and schedule delete, and a machine\'s for its list', async () => {
    const vm = await service.createVirtualMachine(org.id, 'placeholder-vm');
    const disk = await service.createDisk(org.id, { virtualMachineId: vm.id });
    const policy = await createPolicy(disk.id);

    await ok(service, OP.update, { token: org.token, path: `disk_backup_policies/${policy.id}`, json: { properties: { retention: 5 } } });
    await ok(service, OP.scheduleDelete, { token: org.token, path: `disk_backup_policies/${policy.id}/schedule`, json: { timestamp: TEST_NOW + 3600 } });
    const got = await ok(service, OP.get, { token: org.token, path: `disk_backup_policies/${policy.id}` });
    const listed = await ok(service, OP.listForVirtualMachine, { token: org.token, path: `virtual_machines/${vm.id}/disk_backup_policies`, query: 'include_disks=true' });

    assert.equal(got.disk_backup_policy.retention, 5);
    assert.equal(got.disk_backup_policy.auto_move_to_trash_at, TEST_NOW + 3600);
    assert.deepEqual(ids(listed), [policy.id]);
  });

  // ---- Scalars in their several spellings ------------------------------------------------------

  test('integers are accepted as JSON integers and as strings of digits', async () => {
    const disk = await service.createDisk(org.id);

    const policy = await createPolicy(disk.id, { retention: '12', schedule: { interval: 'daily', frequency: '2', time: '4', minute: '05' } });

    assert.equal(policy.retention, 12);
    assert.deepEqual([policy.schedule.frequency, policy.schedule.time, policy.schedule.minute], [2, 4, 5]);
    const paged = await ok(service, OP.listForDisk, { token: org.token, query: argumentsParameter({ disk: { id: disk.id }, page: 1, per_page: 1 }) });
    assert.deepEqual(paged.pagination, { current_page: 1, total_pages: 1, total: 1, per_page: 1, large_set: false });
  });

  test('a decimal is not an integer: retention 2.5 answers invalid_argument (parse_error)', async () => {
    const disk = await service.createDisk(org.id);
    const error = await refused(service, OP.createForDisk, { token: org.token, json: { disk: { id: disk.id }, properties: { retention: 2.5, schedule: { interval: 'daily' } } } }, 400, 'invalid_argument');
    assert.equal(error.detail.issue, 'parse_error');
  });

  test('include_disks accepts true/false/1/0 in the query string and JSON booleans', async () => {
    const vm = await service.createVirtualMachine(org.id, 'booleans');
    const disk = await service.createDisk(org.id, { virtualMachineId: vm.id });
    const own = (await ok(service, OP.createForVirtualMachine, {
      token: org.token,
      json: { virtual_machine: { id: vm.id }, properties: { retention: 3, schedule: { interval: 'daily' } } },
    })).disk_backup_policy;
    const onDisk = await createPolicy(disk.id);

    const cases: [string, string[]][] = [
      ['include_disks=true', [own.id, onDisk.id]],
      ['include_disks=1', [own.id, onDisk.id]],
      ['include_disks=false', [own.id]],
      ['include_disks=0', [own.id]],
      [argumentsParameter({ virtual_machine: { id: vm.id }, include_disks: true }), [own.id, onDisk.id]],
      [argumentsParameter({ virtual_machine: { id: vm.id }, include_disks: false }), [own.id]],
    ];
    for (const [query, expected] of cases) {
      const body = await ok(service, OP.listForVirtualMachine, { token: org.token, query: `virtual_machine[id]=${vm.id}&${query}` });
      assert.deepEqual(ids(body), expected, query);
    }
  });

  // ---- Pagination ------------------------------------------------------------------------------

  /** A fresh organization with one disk holding `count` policies; answers their ids in creation order. */
  async function manyPolicies(count: number) {
    const own = await service.createOrganization('Many');
    const disk = await service.createDisk(own.id);
    const created: string[] = [];
    for (let i = 0; i < count; i++) created.push((await createPolicy(disk.id, undefined, own.token)).id);
    return { own, disk, created };
  }

  let many: Awaited<ReturnType<typeof manyPolicies>>;
  before(async () => {
    many = await manyPolicies(35);
  });
  const listMany = (query: string) => ok(service, OP.listForDisk, { token: many.own.token, query: `disk[id]=${many.disk.id}&${query}` });

  test('35 policies page by 30 by default: 30 on page 1, 5 on page 2, 35 in total over 2 pages', async () => {
    const first = await listMany('');
    const second = await listMany('page=2');

    assert.deepEqual(first.pagination, { current_page: 1, total_pages: 2, total: 35, per_page: 30, large_set: false });
    assert.deepEqual(second.pagination, { current_page: 2, total_pages: 2, total: 35, per_page: 30, large_set: false });
    assert.deepEqual(ids(first), many.created.slice(0, 30));
    assert.deepEqual(ids(second), many.created.slice(30));
  });

  test('per_page=10 page=4 answers the last 5 policies', async () => {
    const body = await listMany('per_page=10&page=4');

    assert.deepEqual(body.pagination, { current_page: 4, total_pages: 4, total: 35, per_page: 10, large_set: false });
    assert.deepEqual(ids(body), many.created.slice(30, 35));
  });

  test('a page past the end is empty and keeps the same totals', async () => {
    const body = await listMany('page=3');

    assert.deepEqual(body, { pagination: { current_page: 3, total_pages: 2, total: 35, per_page: 30, large_set: false }, disk_backup_policies: [] });
  });

  test('the order is the order of creation, and it is stable from one request to the next', async () => {
    const pages = [];
    for (let page = 1; page <= 7; page++) pages.push(...ids(await listMany(`per_page=5&page=${page}`)));
    const again = await service.call('GET', 'disks/disk/disk_backup_policies', { token: many.own.token, query: `disk[id]=${many.disk.id}&per_page=5&page=3` });
    const once = await service.call('GET', 'disks/disk/disk_backup_policies', { token: many.own.token, query: `disk[id]=${many.disk.id}&per_page=5&page=3` });

    assert.deepEqual(pages, many.created);
    assert.notDeepEqual([...many.created].sort(), many.created, 'the ids are not in alphabetical order, so the order proves creation order');
    assert.equal(again.status, 200);
    assert.deepEqual(validateAgainstOfficial('GET', OP.listForDisk.path, 200, again.body), []);
    assert.equal(again.text, once.text);
  });

  test('the organization\'s list pages the same way', async () => {
    const body = await ok(service, OP.listForOrganization, { token: many.own.token, query: `organization[id]=${many.own.id}&per_page=10&page=4` });

    assert.deepEqual(body.pagination, { current_page: 4, total_pages: 4, total: 35, per_page: 10, large_set: false });
    assert.deepEqual(ids(body), many.created.slice(30));
  });

  test('per_page=200 is accepted; per_page=201 is refused with validation_errors', async () => {
    const all = await listMany('per_page=200');
    assert.deepEqual(all.pagination, { current_page: 1, total_pages: 1, total: 35, per_page: 200, large_set: false });
    assert.deepEqual(ids(all), many.created);

    const error = await refused(service, OP.listForDisk, { token: many.own.token, query: `disk[id]=${many.disk.id}&per_page=201` }, 400, 'invalid_argument');
    assert.equal(error.detail.issue, 'validation_errors');
    assert.deepEqual(error.detail.path, ['per_page']);
    assert.deepEqual(error.detail.errors, ['less_than_or_equal_to_one_hundred']);
  });

  test('per_page=0 is refused with validation_errors ["greater_than_zero"]', async () => {
    const error = await refused(service, OP.listForDisk, { token: many.own.token, query: `disk[id]=${many.disk.id}&per_page=0` }, 400, 'invalid_argument');
    assert.deepEqual([error.detail.issue, error.detail.errors], ['validation_errors', ['greater_than_zero']]);
  });

  // ---- The trash -------------------------------------------------------------------------------

  /** A fresh organization, a machine with an attached disk, and a policy on that disk. */
  async function trashScene() {
    const own = await service.createOrganization('Trash', { timeZone: 'Europe/London' });
    const vm = await service.createVirtualMachine(own.id, 'trash-vm');
    const disk = await service.createDisk(own.id, { name: 'trash-disk', virtualMachineId: vm.id });
    const keep = await createPolicy(disk.id, undefined, own.token);
    const policy = await createPolicy(disk.id, { retention: 4, schedule: { interval: 'hourly', minute: 20 } }, own.token);
    const later = await createPolicy(disk.id, undefined, own.token);
    const lists = async () => ({
      organization: ids(await ok(service, OP.listForOrganization, { token: own.token, query: `organization[id]=${own.id}` })),
      virtualMachine: ids(await ok(service, OP.listForVirtualMachine, { token: own.token, query: `virtual_machine[id]=${vm.id}&include_disks=true` })),
      disk: ids(await ok(service, OP.listForDisk, { token: own.token, query: `disk[id]=${disk.id}` })),
    });
    const remove = (id: string) => ok(service, OP.delete, { token: own.token, json: { disk_backup_policy: { id } } });
    const findTrash = (id: string) => ok(service, OP.getTrashObject, { token: own.token, path: 'trash_objects/_', query: `trash_object[object_id]=${id}` });
    const getOwn = async (id: string) => {
      const result = await service.call('GET', 'disk_backup_policies/disk_backup_policy', { token: own.token, query: `disk_backup_policy[id]=${id}` });
      if (result.status === 200) assert.deepEqual(validateAgainstOfficial('GET', OP.get.path, 200, result.body), []);
      return result;
    };
    return { own, keep, policy, later, lists, remove, findTrash, getOwn };
  }

  test('a deleted policy disappears from every list, and getting it answers object_in_trash with keep_until two days after the deletion', async () => {
    const scene = await trashScene();
    const everywhere = [scene.keep.id, scene.policy.id, scene.later.id];
    assert.deepEqual(await scene.lists(), { organization: everywhere, virtualMachine: everywhere, disk: everywhere });
    service.clock.set(TEST_NOW + 1000);

    await scene.remove(scene.policy.id);

    const remaining = [scene.keep.id, scene.later.id];
    assert.deepEqual(await scene.lists(), { organization: remaining, virtualMachine: remaining, disk: remaining });
    const error = await refused(service, OP.get, { token: scene.own.token, query: `disk_backup_policy[id]=${scene.policy.id}` }, 406, 'object_in_trash');
    assert.equal(error.detail.trash_object.keep_until, TEST_NOW + 1000 + TRASH_SECONDS);
    assert.equal(error.detail.trash_object.object_id, scene.policy.id);
  });

  test('a deleted policy\'s trash object is found by the policy id through trash_objects/_ and listed for the organization', async () => {
    const scene = await trashScene();
    await scene.remove(scene.policy.id);

    const found = await scene.findTrash(scene.policy.id);
    const listed = await ok(service, OP.listTrashObjects, { token: scene.own.token, query: `organization[id]=${scene.own.id}` });

    assert.match(found.trash_object.id, /^trsh_[A-Za-z0-9]{16}$/);
    assert.deepEqual(found, {
      trash_object: { id: found.trash_object.id, keep_until: TEST_NOW + TRASH_SECONDS, object_id: scene.policy.id, object_type: 'DiskBackupPolicy' },
    });
    assert.deepEqual(listed.trash_objects, [found.trash_object]);
    const byId = await ok(service, OP.getTrashObject, { token: scene.own.token, query: `trash_object[id]=${found.trash_object.id}` });
    assert.deepEqual(byId, found);
  });

  test('restoring a deleted policy brings it back unchanged, in its place in the lists', async () => {
    const scene = await trashScene();
    const before = (await scene.getOwn(scene.policy.id)).body;
    await scene.remove(scene.policy.id);
    const trashObject = (await scene.findTrash(scene.policy.id)).trash_object;

    const restored = await ok(service, OP.restoreTrashObject, { token: scene.own.token, json: { trash_object: { id: trashObject.id } } });

    assert.deepEqual(restored, { trash_object: trashObject });
    const after = await scene.getOwn(scene.policy.id);
    assert.equal(after.status, 200);
    assert.deepEqual(after.body, before);
    const everywhere = [scene.keep.id, scene.policy.id, scene.later.id];
    assert.deepEqual(await scene.lists(), { organization: everywhere, virtualMachine: everywhere, disk: everywhere });
    await refused(service, OP.getTrashObject, { token: scene.own.token, path: 'trash_objects/_', query: `trash_object[object_id]=${scene.policy.id}` }, 404, 'trash_object_not_found');
  });

  test('a restored policy can be updated and deleted again', async () => {
    const scene = await trashScene();
    await scene.remove(scene.policy.id);
    await ok(service, OP.restoreTrashObject, { token: scene.own.token, path: 'trash_objects/_/restore', query: `trash_object[object_id]=${scene.policy.id}` });

    await ok(service, OP.update, { token: scene.own.token, json: { disk_backup_policy: { id: scene.policy.id }, properties: { retention: 9 } } });
    await scene.remove(scene.policy.id);

    await refused(service, OP.get, { token: scene.own.token, query: `disk_backup_policy[id]=${scene.policy.id}` }, 406, 'object_in_trash');
  });

  test('purging a trash object answers a task, after which the policy and its trash object are gone for good', async () => {
    const scene = await trashScene();
    await scene.remove(scene.policy.id);
    const trashObject = (await scene.findTrash(scene.policy.id)).trash_object;

    const purged = await ok(service, OP.purgeTrashObject, { token: scene.own.token, json: { trash_object: { id: trashObject.id } } });

    assert.deepEqual(Object.keys(purged), ['task']);
    assert.match(purged.task.id, /^task_[A-Za-z0-9]{16}$/);
    assert.equal(purged.task.name, 'Purge items from trash');
    assert.deepEqual(Object.keys(purged.task).sort(), ['created_at', 'finished_at', 'id', 'name', 'progress', 'started_at', 'status']);
    await refused(service, OP.get, { token: scene.own.token, query: `disk_backup_policy[id]=${scene.policy.id}` }, 404, 'disk_backup_policy_not_found');
    await refused(service, OP.getTrashObject, { token: scene.own.token, query: `trash_object[id]=${trashObject.id}` }, 404, 'trash_object_not_found');
    const remaining = [scene.keep.id, scene.later.id];
    assert.deepEqual(await scene.lists(), { organization: remaining, virtualMachine: remaining, disk: remaining });
  });

  test('purge_all purges every trashed policy of the organization and leaves live ones and other organizations alone', async () => {
    const scene = await trashScene();
    const other = await trashScene();
    await scene.remove(scene.keep.id);
    await scene.remove(scene.policy.id);
    await other.remove(other.policy.id);

    const purged = await ok(service, OP.purgeAllTrashObjects, { token: scene.own.token, json: { organization: { id: scene.own.id } } });

    assert.equal(purged.task.name, 'Purge items from trash');
    for (const id of [scene.keep.id, scene.policy.id]) {
      await refused(service, OP.get, { token: scene.own.token, query: `disk_backup_policy[id]=${id}` }, 404, 'disk_backup_policy_not_found');
    }
    assert.equal((await scene.getOwn(scene.later.id)).status, 200);
    const trash = await ok(service, OP.listTrashObjects, { token: scene.own.token, query: `organization[id]=${scene.own.id}` });
    assert.deepEqual(trash.trash_objects, []);
    await refused(service, OP.get, { token: other.own.token, query: `disk_backup_policy[id]=${other.policy.id}` }, 406, 'object_in_trash');
  });

  test('trash is kept until keep_until and purged by the expiry sweep once past it', async () => {
    const scene = await trashScene();
    await scene.remove(scene.policy.id);
    const keepUntil = TEST_NOW + TRASH_SECONDS;

    service.clock.set(keepUntil - 1);
    await service.services.trash.purgeExpired();
    await refused(service, OP.get, { token: scene.own.token, query: `disk_backup_policy[id]=${scene.policy.id}` }, 406, 'object_in_trash');

    service.clock.set(keepUntil + 1);
    await service.services.trash.purgeExpired();
    await refused(service, OP.get, { token: scene.own.token, query: `disk_backup_policy[id]=${scene.policy.id}` }, 404, 'disk_backup_policy_not_found');
    await refused(service, OP.getTrashObject, { token: scene.own.token, path: 'trash_objects/_', query: `trash_object[object_id]=${scene.policy.id}` }, 404, 'trash_object_not_found');
    assert.equal((await scene.getOwn(scene.keep.id)).status, 200);
  });
});
