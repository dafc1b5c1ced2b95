/**
 * Every documented error of the disk backup policy endpoints, over HTTP: exact code, status, envelope
 * and detail, the `x-api-schema: json-error` header — and, for every rejected request, an unchanged
 * database. Also: one organization cannot reach another's objects, and the order the checks run in.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachEngine, TEST_NOW, TestService, type CallOptions, type TestOrganization } from '../support/harness.js';
import { ISSUE_DESCRIPTIONS } from '../support/issue-descriptions.js';
import { officialErrorCodes, validateAgainstOfficial } from '../support/openapi-validator.js';
import { OP, TRASH_SECONDS, type Operation } from '../support/policy-fixtures.js';

const READ_SCOPES = ['disk_backup_policies', 'disk_backup_policies:read'];
const MANAGE_SCOPES = ['disk_backup_policies'];
const PROPERTIES = { retention: 3, schedule: { interval: 'daily' } };

/** The objects a request names. */
interface Names {
  organization: string;
  virtualMachine: string;
  disk: string;
  policy: string;
}

type Request = Pick<CallOptions, 'query' | 'json' | 'body' | 'contentType'> & { path?: string };

/** Each operation: its scopes, the not-found error of its lookup, and a valid request naming `names`. */
const OPERATIONS: { name: string; op: Operation; scopes: string[]; notFound: string; request: (names: Names) => Request }[] = [
  { name: 'list for organization', op: OP.listForOrganization, scopes: READ_SCOPES, notFound: 'organization_not_found', request: (n) => ({ query: `organization[id]=${encodeURIComponent(n.organization)}` }) },
  { name: 'list for virtual machine', op: OP.listForVirtualMachine, scopes: READ_SCOPES, notFound: 'virtual_machine_not_found', request: (n) => ({ query: `virtual_machine[id]=${encodeURIComponent(n.virtualMachine)}&include_disks=true` }) },
  { name: 'list for disk', op: OP.listForDisk, scopes: READ_SCOPES, notFound: 'disk_not_found', request: (n) => ({ query: `disk[id]=${encodeURIComponent(n.disk)}` }) },
  { name: 'create for disk', op: OP.createForDisk, scopes: MANAGE_SCOPES, notFound: 'disk_not_found', request: (n) => ({ json: { disk: { id: n.disk }, properties: PROPERTIES } }) },
  { name: 'create for virtual machine', op: OP.createForVirtualMachine, scopes: MANAGE_SCOPES, notFound: 'virtual_machine_not_found', request: (n) => ({ json: { virtual_machine: { id: n.virtualMachine }, properties: PROPERTIES } }) },
  { name: 'get', op: OP.get, scopes: READ_SCOPES, notFound: 'disk_backup_policy_not_found', request: (n) => ({ query: `disk_backup_policy[id]=${encodeURIComponent(n.policy)}` }) },
  { name: 'update', op: OP.update, scopes: MANAGE_SCOPES, notFound: 'disk_backup_policy_not_found', request: (n) => ({ json: { disk_backup_policy: { id: n.policy }, properties: { retention: 4 } } }) },
  { name: 'delete', op: OP.delete, scopes: MANAGE_SCOPES, notFound: 'disk_backup_policy_not_found', request: (n) => ({ json: { disk_backup_policy: { id: n.policy } } }) },
  { name: 'schedule delete', op: OP.scheduleDelete, scopes: MANAGE_SCOPES, notFound: 'disk_backup_policy_not_found', request: (n) => ({ json: { disk_backup_policy: { id: n.policy }, timestamp: TEST_NOW + 3600 } }) },
];

const NOTHING: Names = {
  organization: 'org_DoesNotExist0000',
  virtualMachine: 'vm_DoesNotExist00000',
  disk: 'disk_DoesNotExist0000',
  policy: 'dbp_DoesNotExist00000',
};

/** Descriptions as the documentation pages and recorded traffic show them. */
const DESCRIPTIONS: Record<string, string> = {
  missing_api_token: 'No API token was provided in the Authorization header. Ensure a token is provided prefixed with Bearer',
  invalid_api_token: 'The API token provided was not valid (it may not exist or have expired)',
  scope_not_granted: 'The scope required for this endpoint has not been granted to the authenticating identity',
  permission_denied: 'The authenticated identity is not permitted to perform this action',
  organization_not_found: 'No organization was found matching any of the criteria provided in the arguments',
  virtual_machine_not_found: 'No virtual machine was found matching any of the criteria provided in the arguments',
  disk_not_found: 'No disk was found matching any of the criteria provided in the arguments',
  disk_backup_policy_not_found: 'No disk backup policy was found matching any of the criteria provided in the arguments',
  object_in_trash:
    'The object found is in the trash and therefore cannot be manipulated through the API. It should be restored in order to run this operation.',
  validation_error: 'A validation error occurred with the object that was being created/updated/deleted',
  invalid_timestamp:
    'Timestamp must be at least 5 minutes in the future. If you want to delete something immediately, you use can use the delete endpoint.',
};

/** Apia's issue descriptions, and the issues that have none (nor has `array_expected`). */
const ISSUE_DESCRIPTION_OF: Record<string, string | null> = { ...ISSUE_DESCRIPTIONS, validation_errors: null, object_expected: null };

const INTEGER_PARSE_ERROR = 'Integer must be provided as an integer or a string only containing numbers';
const ENDPOINT = 'CoreAPI/Endpoints/DiskBackupPolicies';

function invalidArgumentDetail(
  path: string[],
  issue: string,
  argument: { id: string; description: string | null },
  errors: string[] = [],
) {
  return {
    path,
    index: null,
    issue,
    issue_description: ISSUE_DESCRIPTION_OF[issue],
    errors,
    argument: { id: argument.id, name: path[path.length - 1], description: argument.description },
  };
}

/**
 * Sends a request that must be refused: checks status, code, envelope, header, detail (when given),
 * the description (when known), the official schema (when the document lists that code) and that the
 * database did not change. Answers the error object.
 */
async function refused(
  service: TestService,
  op: { method: string; path: string },
  request: Request & { token?: string | null },
  status: number,
  code: string,
  detail?: unknown,
) {
  const before = await service.snapshot();
  const result = await service.call(op.method, request.path ?? op.path.slice(1), request);
  const after = await service.snapshot();
  assert.equal(result.status, status, `${op.method} ${request.path ?? op.path}: ${result.text}`);
  assert.equal(result.headers.get('x-api-schema'), 'json-error');
  assert.equal(result.headers.get('content-type'), 'application/json');
  assert.deepEqual(Object.keys(result.body), ['error']);
  const error = result.body.error;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'description', 'detail']);
  assert.equal(error.code, code);
  assert.equal(typeof error.description, 'string');
  if (DESCRIPTIONS[code]) assert.equal(error.description, DESCRIPTIONS[code]);
  if (detail !== undefined) assert.deepEqual(error.detail, detail);
  if (officialErrorCodes(op.method, op.path, status).includes(code)) {
    assert.deepEqual(validateAgainstOfficial(op.method, op.path, status, error), [], 'the error against the official schema');
  }
  assert.equal(after, before, 'a refused request leaves the database unchanged');
  return error;
}

async function ok(service: TestService, op: { method: string; path: string }, request: Request & { token: string }) {
  const result = await service.call(op.method, request.path ?? op.path.slice(1), request);
  assert.equal(result.status, 200, result.text);
  assert.deepEqual(validateAgainstOfficial(op.method, op.path, 200, result.body), []);
  return result.body;
}

forEachEngine('disk backup policies: errors', (engine) => {
  let service: TestService;
  let alpha: TestOrganization;
  let beta: TestOrganization;
  let alphaNames: Names;
  let betaNames: Names;
  let readOnlyToken: string;
  let unrelatedToken: string;
  /** Alpha's policy in the trash, and its trash object. */
  let trashed: { policy: string; trashObject: { id: string; keep_until: number; object_id: string; object_type: string } };
  /** An organization whose disk and virtual machine are in the trash. */
  let gamma: TestOrganization;
  let gammaTrash: { disk: { id: string; keep_until: number }; virtualMachine: { id: string; keep_until: number } };
  let gammaNames: Names;

  async function populate(org: TestOrganization): Promise<Names> {
    const vm = await service.createVirtualMachine(org.id, 'vm');
    const disk = await service.createDisk(org.id, { name: 'disk', virtualMachineId: vm.id });
    const policy = await service.createPolicy(org.token, disk.id);
    return { organization: org.id, virtualMachine: vm.id, disk: disk.id, policy: policy.id };
  }

  before(async () => {
    service = await TestService.start(engine);
    alpha = await service.createOrganization('Alpha');
    beta = await service.createOrganization('Beta');
    alphaNames = await populate(alpha);
    betaNames = await populate(beta);
    readOnlyToken = await service.createToken(alpha.id, ['disk_backup_policies:read']);
    unrelatedToken = await service.createToken(alpha.id, ['organizations:read', 'disks:read', 'virtual_machines:read', 'trash_objects:read']);

    const doomed = await service.createPolicy(alpha.token, alphaNames.disk);
    service.clock.set(TEST_NOW + 500);
    await ok(service, OP.delete, { token: alpha.token, json: { disk_backup_policy: { id: doomed.id } } });
    service.clock.set(TEST_NOW);
    const found = await ok(service, OP.getTrashObject, { token: alpha.token, path: 'trash_objects/_', query: `trash_object[object_id]=${doomed.id}` });
    trashed = { policy: doomed.id, trashObject: found.trash_object };

    gamma = await service.createOrganization('Gamma');
    gammaNames = await populate(gamma);
    const put = (objectType: string, objectId: string) => service.services.trash.put({ organizationId: gamma.id, objectType, objectId });
    gammaTrash = { disk: await put('Disk', gammaNames.disk), virtualMachine: await put('VirtualMachine', gammaNames.virtualMachine) };
  });
  after(() => service.stop());

  // ---- Authentication and scopes, for each operation -------------------------------------------

  for (const { name, op, scopes, notFound, request } of OPERATIONS) {
    test(`${name}: without a token answers missing_api_token (400)`, async () => {
      await refused(service, op, { ...request(alphaNames), token: null }, 400, 'missing_api_token', {});
    });

    test(`${name}: with an unknown token answers invalid_api_token (403)`, async () => {
      await refused(service, op, { ...request(alphaNames), token: 'not-a-real-token' }, 403, 'invalid_api_token', { details: null });
    });

    test(`${name}: with a token of unrelated scopes answers scope_not_granted naming the endpoint's scopes`, async () => {
      await refused(service, op, { ...request(alphaNames), token: unrelatedToken }, 403, 'scope_not_granted', { scopes });
    });

    if (scopes.length === 1) {
      test(`${name}: with a read-only token answers scope_not_granted (a write needs disk_backup_policies)`, async () => {
        await refused(service, op, { ...request(alphaNames), token: readOnlyToken }, 403, 'scope_not_granted', { scopes: ['disk_backup_policies'] });
      });
    } else {
      test(`${name}: a read-only token may read`, async () => {
        await ok(service, op, { ...request(alphaNames), token: readOnlyToken });
      });
    }

    test(`${name}: on another organization's object answers permission_denied (403)`, async () => {
      const error = await refused(service, op, { ...request(alphaNames), token: beta.token }, 403, 'permission_denied');
      assert.deepEqual(Object.keys(error.detail), ['details']);
    });

    test(`${name}: naming nothing that exists answers ${notFound} (404)`, async () => {
      await refused(service, op, { ...request(NOTHING), token: alpha.token }, 404, notFound, {});
    });

    test(`${name}: a lookup value holding a NUL character names nothing: ${notFound} (404), not a 500`, async () => {
      const withNul = { organization: `${alpha.id}\u0000`, virtualMachine: `vm_\u0000x`, disk: `disk_\u0000x`, policy: `${alphaNames.policy}\u0000` };
      await refused(service, op, { ...request(withNul), token: alpha.token }, 404, notFound, {});
    });
  }

  // ---- The trash -------------------------------------------------------------------------------

  for (const { name, op, request } of OPERATIONS.filter((o) => o.notFound === 'disk_backup_policy_not_found')) {
    test(`${name}: on a policy in the trash answers object_in_trash (406) with its trash object`, async () => {
      await refused(service, op, { ...request({ ...alphaNames, policy: trashed.policy }), token: alpha.token }, 406, 'object_in_trash', {
        trash_object: {
          id: trashed.trashObject.id,
          keep_until: TEST_NOW + 500 + TRASH_SECONDS,
          object_id: trashed.policy,
          object_type: 'DiskBackupPolicy',
        },
      });
      assert.match(trashed.trashObject.id, /^trsh_[A-Za-z0-9]{16}$/);
    });
  }

  for (const { name, op, request, notFound } of OPERATIONS.filter((o) => o.notFound === 'disk_not_found' || o.notFound === 'virtual_machine_not_found')) {
    const onDisk = notFound === 'disk_not_found';
    test(`${name}: on a ${onDisk ? 'disk' : 'virtual machine'} in the trash answers object_in_trash (406)`, async () => {
      const trashObject = onDisk ? gammaTrash.disk : gammaTrash.virtualMachine;
      await refused(service, op, { ...request(gammaNames), token: gamma.token }, 406, 'object_in_trash', {
        trash_object: {
          id: trashObject.id,
          keep_until: TEST_NOW + TRASH_SECONDS,
          object_id: onDisk ? gammaNames.disk : gammaNames.virtualMachine,
          object_type: onDisk ? 'Disk' : 'VirtualMachine',
        },
      });
    });
  }

  test('another organization\'s policy in the trash answers permission_denied, revealing nothing of the trash', async () => {
    await refused(service, OP.get, { query: `disk_backup_policy[id]=${trashed.policy}`, token: beta.token }, 403, 'permission_denied');
  });

  // ---- Cross-organization ----------------------------------------------------------------------

  test('an organization cannot be listed by another\'s token, by id or by sub_domain', async () => {
    await refused(service, OP.listForOrganization, { query: `organization[id]=${alpha.id}`, token: beta.token }, 403, 'permission_denied');
    await refused(service, OP.listForOrganization, { query: `organization[sub_domain]=${alpha.subDomain}`, token: beta.token }, 403, 'permission_denied');
  });

  test('an organization\'s lists never contain another organization\'s policies', async () => {
    const lists = [
      await ok(service, OP.listForOrganization, { query: `organization[id]=${alpha.id}&per_page=200`, token: alpha.token }),
      await ok(service, OP.listForVirtualMachine, { query: `virtual_machine[id]=${alphaNames.virtualMachine}&include_disks=1`, token: alpha.token }),
      await ok(service, OP.listForDisk, { query: `disk[id]=${alphaNames.disk}`, token: alpha.token }),
    ];
    const betaList = await ok(service, OP.listForOrganization, { query: `organization[id]=${beta.id}`, token: beta.token });

    assert.deepEqual(betaList.disk_backup_policies.map((p: { id: string }) => p.id), [betaNames.policy]);
    for (const list of lists) {
      const ids = list.disk_backup_policies.map((p: { id: string }) => p.id);
      assert.ok(ids.includes(alphaNames.policy), 'the list holds alpha\'s own policy');
      assert.ok(!ids.includes(betaNames.policy), 'the list holds no policy of beta');
    }
  });

  // ---- Validation (422) ------------------------------------------------------------------------

  const WRITES = [
    { name: 'create for disk', op: OP.createForDisk, request: (properties: unknown) => ({ json: { disk: { id: alphaNames.disk }, properties } }) },
    { name: 'create for virtual machine', op: OP.createForVirtualMachine, request: (properties: unknown) => ({ json: { virtual_machine: { id: alphaNames.virtualMachine }, properties } }) },
    { name: 'update', op: OP.update, request: (properties: unknown) => ({ json: { disk_backup_policy: { id: alphaNames.policy }, properties } }) },
  ];

  const INVALID: { what: string; properties: Record<string, unknown>; errors: string[] }[] = [
    { what: 'a retention of 0', properties: { retention: 0, schedule: { interval: 'daily' } }, errors: ['Retention must be greater than or equal to 1'] },
    { what: 'a retention of 1001', properties: { retention: 1001, schedule: { interval: 'daily' } }, errors: ['Retention must be less than or equal to 1000'] },
    { what: 'a schedule time of 24', properties: { retention: 3, schedule: { interval: 'daily', time: 24 } }, errors: ['Schedule time must be less than or equal to 23'] },
    { what: 'a schedule minute of 60', properties: { retention: 3, schedule: { interval: 'daily', minute: 60 } }, errors: ['Schedule minute must be less than or equal to 59'] },
    { what: 'a schedule frequency of 0', properties: { retention: 3, schedule: { interval: 'daily', frequency: 0 } }, errors: ['Schedule frequency must be greater than or equal to 1'] },
    { what: 'a null schedule interval', properties: { retention: 3, schedule: { interval: null } }, errors: ["Schedule interval can't be blank"] },
  ];

  for (const { what, properties, errors } of INVALID) {
    test(`${what} is refused with validation_error (422): "${errors[0]}"`, async () => {
      for (const write of WRITES) {
        await refused(service, write.op, { ...write.request(properties), token: alpha.token }, 422, 'validation_error', { errors });
      }
    });
  }

  test('a policy created with no schedule interval is refused: "Schedule interval can\'t be blank"', async () => {
    for (const write of WRITES.slice(0, 2)) {
      await refused(service, write.op, { ...write.request({ retention: 3 }), token: alpha.token }, 422, 'validation_error', {
        errors: ["Schedule interval can't be blank"],
      });
    }
  });

  test('the limits themselves are accepted: retention 1 and 1000, time 0 and 23, minute 0 and 59, frequency 1 and 1000', async () => {
    for (const properties of [
      { retention: 1, schedule: { interval: 'daily', time: 0, minute: 0, frequency: 1 } },
      { retention: 1000, schedule: { interval: 'daily', time: 23, minute: 59, frequency: 1000 } },
    ]) {
      for (const write of WRITES) {
        const body = await ok(service, write.op, { ...write.request(properties), token: alpha.token });
        assert.equal(body.disk_backup_policy.retention, properties.retention);
      }
    }
  });

  // ---- invalid_timestamp (schedule delete) -----------------------------------------------------

  test('a scheduled deletion less than five minutes ahead answers invalid_timestamp (400)', async () => {
    for (const timestamp of [TEST_NOW + 299, TEST_NOW, TEST_NOW - 3600]) {
      await refused(service, OP.scheduleDelete, { json: { disk_backup_policy: { id: alphaNames.policy }, timestamp }, token: alpha.token }, 400, 'invalid_timestamp', {});
    }
  });

  test('a scheduled deletion exactly five minutes ahead is accepted', async () => {
    const body = await ok(service, OP.scheduleDelete, { json: { disk_backup_policy: { id: alphaNames.policy }, timestamp: TEST_NOW + 300 }, token: alpha.token });
    assert.equal(body.disk_backup_policy.auto_move_to_trash_at, TEST_NOW + 300);
  });

  // ---- missing_required_argument ---------------------------------------------------------------

  test('an update without properties answers missing_required_argument for ["properties"]', async () => {
    const error = await refused(service, OP.update, { json: { disk_backup_policy: { id: alphaNames.policy } }, token: alpha.token }, 400, 'missing_required_argument', {
      path: ['properties'],
      argument: { name: 'properties', description: 'Details for the disk backup policy' },
    });
    assert.equal(error.description, "The 'properties' argument is required but has not been provided");
  });

  test('an update whose disk_backup_policy is null answers missing_required_argument for ["disk_backup_policy"]', async () => {
    const error = await refused(service, OP.update, { json: { disk_backup_policy: null, properties: { retention: 4 } }, token: alpha.token }, 400, 'missing_required_argument', {
      path: ['disk_backup_policy'],
      argument: { name: 'disk_backup_policy', description: 'The disk backup policy to update' },
    });
    assert.equal(error.description, "The 'disk_backup_policy' argument is required but has not been provided");
  });

  test('a create whose properties are null answers missing_required_argument for ["properties"]', async () => {
    await refused(service, OP.createForDisk, { json: { disk: { id: alphaNames.disk }, properties: null }, token: alpha.token }, 400, 'missing_required_argument', {
      path: ['properties'],
      argument: { name: 'properties', description: 'Details for the new disk backup policy' },
    });
  });

  test('a schedule delete without a timestamp answers missing_required_argument for ["timestamp"]', async () => {
    await refused(service, OP.scheduleDelete, { json: { disk_backup_policy: { id: alphaNames.policy } }, token: alpha.token }, 400, 'missing_required_argument', {
      path: ['timestamp'],
      argument: { name: 'timestamp', description: 'The time the disk backup policy will be moved to the trash automatically.' },
    });
  });

  // ---- invalid_argument, one test per issue ----------------------------------------------------

  test('an empty lookup (disk: {}) answers invalid_argument with issue missing_lookup_value', async () => {
    const error = await refused(service, OP.createForDisk, { json: { disk: {}, properties: PROPERTIES }, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['disk'], 'missing_lookup_value', {
        id: `${ENDPOINT}/CreateForDiskEndpoint/BaseArgumentSet/DiskArgument`,
        description: 'The disk to create the disk backup policy for',
      }));
    assert.equal(error.description, "The 'disk' argument is invalid");
  });

  test('an organization named by both id and sub_domain answers invalid_argument with issue ambiguous_lookup_values', async () => {
    await refused(service, OP.listForOrganization, { query: `organization[id]=${alpha.id}&organization[sub_domain]=${alpha.subDomain}`, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['organization'], 'ambiguous_lookup_values', {
        id: `${ENDPOINT}/ListEndpoint/BaseArgumentSet/OrganizationArgument`,
        description: 'The organization to return disk backup policies for',
      }));
  });

  test('a number for a String lookup key (disk: {id: 5}) answers invalid_argument with issue invalid_scalar', async () => {
    const error = await refused(service, OP.createForDisk, { json: { disk: { id: 5 }, properties: PROPERTIES }, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['disk', 'id'], 'invalid_scalar', { id: 'CoreAPI/ArgumentSets/DiskLookup/IdArgument', description: null }));
    assert.equal(error.description, "The 'disk.id' argument is invalid");
  });

  test('a retention of "abc" answers invalid_argument with issue parse_error', async () => {
    await refused(service, OP.update, { json: { disk_backup_policy: { id: alphaNames.policy }, properties: { retention: 'abc' } }, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['properties', 'retention'], 'parse_error', { id: 'CoreAPI/ArgumentSets/DiskBackupPolicyArguments/RetentionArgument', description: null }, [INTEGER_PARSE_ERROR]));
  });

  test('per_page=abc answers invalid_argument with issue parse_error', async () => {
    await refused(service, OP.listForDisk, { query: `disk[id]=${alphaNames.disk}&per_page=abc`, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['per_page'], 'parse_error', { id: `${ENDPOINT}/ListForDiskEndpoint/BaseArgumentSet/PerPageArgument`, description: null }, [INTEGER_PARSE_ERROR]));
  });

  test('a timestamp given as a string answers invalid_argument with issue parse_error (Unix times must be JSON integers)', async () => {
    await refused(service, OP.scheduleDelete, { json: { disk_backup_policy: { id: alphaNames.policy }, timestamp: String(TEST_NOW + 3600) }, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['timestamp'], 'parse_error', {
        id: `${ENDPOINT}/ScheduleDeleteEndpoint/BaseArgumentSet/TimestampArgument`,
        description: 'The time the disk backup policy will be moved to the trash automatically.',
      }, ['Time must be provided as an integer']));
  });

  test('page=0 answers invalid_argument with issue validation_errors ["greater_than_zero"]', async () => {
    await refused(service, OP.listForDisk, { query: `disk[id]=${alphaNames.disk}&page=0`, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['page'], 'validation_errors', { id: `${ENDPOINT}/ListForDiskEndpoint/BaseArgumentSet/PageArgument`, description: null }, ['greater_than_zero']));
  });

  test('include_disks=maybe answers invalid_argument with issue parse_error', async () => {
    const error = await refused(service, OP.listForVirtualMachine, { query: `virtual_machine[id]=${alphaNames.virtualMachine}&include_disks=maybe`, token: alpha.token }, 400, 'invalid_argument');
    assert.equal(error.detail.issue, 'parse_error');
    assert.deepEqual(error.detail.path, ['include_disks']);
  });

  test('an interval of "yearly" answers invalid_argument with issue invalid_enum_value', async () => {
    await refused(service, OP.update, { json: { disk_backup_policy: { id: alphaNames.policy }, properties: { schedule: { interval: 'yearly' } } }, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['properties', 'schedule', 'interval'], 'invalid_enum_value', { id: 'CoreAPI/ArgumentSets/ScheduleArguments/IntervalArgument', description: null }));
  });

  test('properties of 5 answers invalid_argument with issue object_expected', async () => {
    await refused(service, OP.update, { json: { disk_backup_policy: { id: alphaNames.policy }, properties: 5 }, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['properties'], 'object_expected', { id: `${ENDPOINT}/UpdateEndpoint/BaseArgumentSet/PropertiesArgument`, description: 'Details for the disk backup policy' }));
  });

  test('a lookup given as a string (disk_backup_policy: "dbp_…") answers invalid_argument with issue object_expected', async () => {
    await refused(service, OP.delete, { json: { disk_backup_policy: alphaNames.policy }, token: alpha.token }, 400, 'invalid_argument',
      invalidArgumentDetail(['disk_backup_policy'], 'object_expected', { id: `${ENDPOINT}/DeleteEndpoint/BaseArgumentSet/DiskBackupPolicyArgument`, description: 'The disk backup policy to delete' }));
  });

  // ---- Malformed bodies and unknown routes -----------------------------------------------------

  test('a malformed JSON body answers invalid_json_body (400)', async () => {
    const error = await refused(service, OP.update, { body: '{"disk_backup_policy":{"id":', contentType: 'application/json', token: alpha.token }, 400, 'invalid_json_body');
    assert.deepEqual(Object.keys(error.detail), ['details']);
    assert.equal(typeof error.detail.details, 'string');
  });

  test('a form field _arguments holding malformed JSON answers invalid_json_body (400)', async () => {
    await refused(service, OP.update, { body: '_arguments=%7Bnope', contentType: 'application/x-www-form-urlencoded', token: alpha.token }, 400, 'invalid_json_body');
  });

  test('an unknown path answers route_not_found (404), before any token check', async () => {
    await refused(service, { method: 'GET', path: '/disk_backup_policies/disk_backup_policy/nothing_here' }, { token: alpha.token }, 404, 'route_not_found', {});
    await refused(service, { method: 'GET', path: '/no_such_things' }, { token: null }, 404, 'route_not_found', {});
  });

  test('a known path with a method it does not serve answers route_not_found (404)', async () => {
    await refused(service, { method: 'PUT', path: OP.update.path }, { json: { disk_backup_policy: { id: alphaNames.policy }, properties: { retention: 4 } }, token: alpha.token }, 404, 'route_not_found', {});
    await refused(service, { method: 'POST', path: OP.get.path }, { json: { disk_backup_policy: { id: alphaNames.policy } }, token: alpha.token }, 404, 'route_not_found', {});
    await refused(service, { method: 'DELETE', path: OP.listForDisk.path }, { json: { disk: { id: alphaNames.disk } }, token: alpha.token }, 404, 'route_not_found', {});
  });

  // ---- The order of the checks -----------------------------------------------------------------

  test('the scope is checked before the arguments', async () => {
    await refused(service, OP.update, { json: { disk_backup_policy: {}, properties: 5 }, token: readOnlyToken }, 403, 'scope_not_granted', { scopes: MANAGE_SCOPES });
  });

  test('the arguments are checked before the lookups', async () => {
    const error = await refused(service, OP.update, { json: { disk_backup_policy: { id: NOTHING.policy }, properties: { retention: 'abc' } }, token: alpha.token }, 400, 'invalid_argument');
    assert.equal(error.detail.issue, 'parse_error');
  });

  test('a lookup that finds nothing answers not found before any validation', async () => {
    await refused(service, OP.update, { json: { disk_backup_policy: { id: NOTHING.policy }, properties: { retention: 0 } }, token: alpha.token }, 404, 'disk_backup_policy_not_found', {});
  });

  test('permission is checked before validation', async () => {
    await refused(service, OP.update, { json: { disk_backup_policy: { id: alphaNames.policy }, properties: { retention: 0 } }, token: beta.token }, 403, 'permission_denied');
  });

  test('the trash is checked before validation', async () => {
    await refused(service, OP.update, { json: { disk_backup_policy: { id: trashed.policy }, properties: { retention: 0 } }, token: alpha.token }, 406, 'object_in_trash');
  });

  test('the timestamp is checked after the lookup', async () => {
    await refused(service, OP.scheduleDelete, { json: { disk_backup_policy: { id: NOTHING.policy }, timestamp: TEST_NOW }, token: alpha.token }, 404, 'disk_backup_policy_not_found', {});
  });
});
