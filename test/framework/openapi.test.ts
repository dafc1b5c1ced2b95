import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { compileEndpoint, defineEndpoint, type EndpointDefinition } from '../../src/api/framework/endpoint.js';
import { defineError } from '../../src/api/framework/errors.js';
import { buildOpenApiDocument } from '../../src/api/framework/openapi.js';
import { BooleanScalar, DecimalScalar, IntegerScalar, StringScalar, UnixTimeScalar } from '../../src/api/framework/scalars.js';
import {
  argumentSet,
  enumType,
  lookup,
  objectType,
  polymorph,
  type ObjectType,
} from '../../src/api/framework/types.js';

const addFormats = addFormatsModule.default;

// ---- A small API, defined with the framework ---------------------------------------------------

const MissingApiToken = defineError({
  id: 'CoreAPI/Authenticator/MissingAPIToken',
  code: 'missing_api_token',
  httpStatus: 400,
  description: 'No API token was provided',
});
const InvalidApiToken = defineError({
  id: 'CoreAPI/Authenticator/InvalidAPIToken',
  code: 'invalid_api_token',
  httpStatus: 403,
  description: 'The API token provided was not valid',
  detail: { details: { type: StringScalar, nullable: true } },
});
const RateLimitReached = defineError({
  id: 'CoreAPI/Authenticator/RateLimitReached',
  code: 'rate_limit_reached',
  httpStatus: 429,
  description: 'You have reached the rate limit for this type of request',
  detail: { total_permitted: { type: IntegerScalar } },
});
const DiskNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/DiskLookup/DiskNotFound',
  code: 'disk_not_found',
  httpStatus: 404,
  description: 'No disk was found matching any of the criteria provided in the arguments',
});
const PolicyNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/DiskBackupPolicyLookup/DiskBackupPolicyNotFound',
  code: 'disk_backup_policy_not_found',
  httpStatus: 404,
  description: 'No disk backup policy was found matching any of the criteria provided in the arguments',
});
const TrashObject = objectType({
  id: 'CoreAPI/Objects/TrashObject',
  name: 'Trash object',
  fields: {
    id: { type: StringScalar },
    keep_until: { type: UnixTimeScalar, nullable: true },
    object_id: { type: StringScalar },
    object_type: { type: StringScalar },
  },
});
const ObjectInTrash = defineError({
  id: 'CoreAPI/Errors/ObjectInTrash',
  code: 'object_in_trash',
  httpStatus: 406,
  description: 'The object found is in the trash',
  detail: { trash_object: { type: TrashObject } },
});
const PermissionDenied = defineError({
  id: 'CoreAPI/Errors/PermissionDenied',
  code: 'permission_denied',
  httpStatus: 403,
  description: 'Permission denied',
  detail: { details: { type: StringScalar, nullable: true } },
});
const ValidationError = defineError({
  id: 'CoreAPI/Errors/ValidationError',
  code: 'validation_error',
  httpStatus: 422,
  description: 'A validation error occurred',
  detail: { errors: { type: StringScalar, array: true } },
});

const DiskLookup = lookup<{ id: string }>({
  id: 'CoreAPI/ArgumentSets/DiskLookup',
  name: 'Disk Lookup',
  arguments: { id: { type: StringScalar } },
  errors: [DiskNotFound, ObjectInTrash],
  resolve: async (values) => ({ id: values.id ?? '' }),
});
const PolicyLookup = lookup<{ id: string }>({
  id: 'CoreAPI/ArgumentSets/DiskBackupPolicyLookup',
  name: 'Disk Backup Policy Lookup',
  arguments: { id: { type: StringScalar } },
  errors: [PolicyNotFound, ObjectInTrash],
  resolve: async (values) => ({ id: values.id ?? '' }),
});

const Interval = enumType('CoreAPI/Objects/ScheduleIntervalTypeEnum', 'Schedule interval', [
  'hourly',
  'daily',
  'weekly',
  'monthly',
] as const);
const ScheduleArguments = argumentSet({
  id: 'CoreAPI/ArgumentSets/ScheduleArguments',
  name: 'Schedule arguments',
  arguments: {
    interval: { type: Interval, required: true },
    frequency: { type: IntegerScalar },
    minute: { type: IntegerScalar },
    time: { type: IntegerScalar },
  },
});
const PolicyArguments = argumentSet({
  id: 'CoreAPI/ArgumentSets/DiskBackupPolicyArguments',
  name: 'Disk backup policy arguments',
  arguments: { retention: { type: IntegerScalar }, schedule: { type: ScheduleArguments } },
});
/** Nests a lookup inside a set, so that its errors must be found recursively. */
const PlacementArguments = argumentSet({
  id: 'CoreAPI/ArgumentSets/PlacementArguments',
  name: 'Placement',
  arguments: { disk: { type: DiskLookup, required: true } },
});

const VirtualMachine = objectType({
  id: 'CoreAPI/Objects/VirtualMachine',
  name: 'Virtual machine',
  fields: { id: { type: StringScalar }, name: { type: StringScalar }, fqdn: { type: StringScalar } },
});
// Disk ↔ VirtualMachineDisk are mutually recursive through lazy field types.
const Disk: ObjectType = objectType({
  id: 'CoreAPI/Objects/Disk',
  name: 'Disk',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    size_in_gb: { type: IntegerScalar },
    state: { type: enumType('CoreAPI/Objects/DiskStateEnum', 'Disk state', ['active', 'deleted']), nullable: true },
    attachment: { type: () => VirtualMachineDisk, nullable: true },
  },
});
const VirtualMachineDisk: ObjectType = objectType({
  id: 'CoreAPI/Objects/VirtualMachineDisk',
  name: 'Virtual machine disk',
  fields: { boot: { type: BooleanScalar }, disk: { type: () => Disk } },
});
const Target = polymorph({
  id: 'CoreAPI/Objects/DiskBackupPolicyTarget',
  name: 'Target',
  options: [
    { name: 'VirtualMachine', type: VirtualMachine, matches: (value) => value.kind === 'vm' },
    { name: 'Disk', type: Disk, matches: (value) => value.kind === 'disk' },
  ],
});
const Schedule = objectType({
  id: 'CoreAPI/Objects/DiskBackupPolicySchedule',
  name: 'Schedule',
  fields: {
    interval: { type: Interval },
    frequency: { type: IntegerScalar },
    minute: { type: IntegerScalar },
    time: { type: IntegerScalar },
    next_invocation_at: { type: UnixTimeScalar, nullable: true },
  },
});
const Policy = objectType({
  id: 'CoreAPI/Objects/DiskBackupPolicy',
  name: 'Disk backup policy',
  fields: {
    id: { type: StringScalar },
    retention: { type: IntegerScalar },
    total_size: { type: DecimalScalar },
    target: { type: Target },
    schedule: { type: Schedule },
    auto_move_to_trash_at: { type: UnixTimeScalar, nullable: true },
  },
});
const Pagination = objectType({
  id: 'CoreAPI/Objects/Pagination',
  name: 'Pagination',
  fields: {
    current_page: { type: IntegerScalar },
    total_pages: { type: IntegerScalar, nullable: true },
    total: { type: IntegerScalar, nullable: true },
    per_page: { type: IntegerScalar },
    large_set: { type: BooleanScalar },
  },
});

const positive = { name: 'greater_than_zero', check: (value: number) => value > 0 };
const SCOPES = ['disk_backup_policies', 'disk_backup_policies:read'];

const listForDisk = defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/ListForDiskEndpoint',
  name: 'List disk backup policies for disk',
  description: 'Returns a list of all disk backup policies for a given disk',
  method: 'GET',
  route: 'disks/:disk/disk_backup_policies',
  tag: 'Disk backup policies',
  scopes: SCOPES,
  arguments: {
    disk: { type: DiskLookup, required: true, description: 'The disk to return disk backup policies for.' },
    intervals: { type: Interval, array: true },
    page: { type: IntegerScalar, default: 1, validations: [positive] },
    per_page: { type: IntegerScalar, default: 30, validations: [positive] },
  },
  errors: [],
  fields: {
    pagination: { type: Pagination },
    disk_backup_policies: { type: Policy, array: true, spec: 'id,target[id,name],schedule[interval]' },
  },
  action: async () => ({}),
});

const update = defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/UpdateEndpoint',
  name: 'Update a disk backup policy',
  description: 'Updates the disk backup policy with the provided details',
  method: 'PATCH',
  route: 'disk_backup_policies/:disk_backup_policy',
  tag: 'Disk backup policies',
  scopes: ['disk_backup_policies'],
  arguments: {
    disk_backup_policy: { type: PolicyLookup, required: true },
    properties: { type: PolicyArguments, required: true },
  },
  errors: [PermissionDenied, ValidationError],
  fields: { disk_backup_policy: { type: Policy, spec: 'id,retention,schedule,target[id]' } },
  action: async () => ({}),
});

const place = defineEndpoint({
  id: 'Test/Endpoints/PlaceEndpoint',
  name: 'Place',
  description: 'Places something on a disk (no scope needed)',
  method: 'POST',
  route: 'placements',
  tag: 'Placements',
  scopes: [],
  arguments: { placement: { type: PlacementArguments } },
  errors: [],
  fields: { disk: { type: Disk } }, // spec `*` over a recursive type
  httpStatus: 201,
  action: async () => ({}),
});

const ENDPOINTS: readonly EndpointDefinition[] = [listForDisk, update, place];
const OPTIONS = {
  title: 'Test API',
  version: '1.0.0',
  serverUrl: 'http://localhost/core/v1',
  authErrors: [MissingApiToken, InvalidApiToken, RateLimitReached],
  tokenSource: 'Tokens come from the test harness.',
};
const doc = buildOpenApiDocument(ENDPOINTS, OPTIONS) as any;

// ---- Helpers -------------------------------------------------------------------------------------

const LIST = doc.paths['/disks/disk/disk_backup_policies'].get;
const PATCH = doc.paths['/disk_backup_policies/disk_backup_policy'].patch;
const POST = doc.paths['/placements'].post;

function walk(node: unknown, visit: (object: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) node.forEach((item) => walk(item, visit));
  else if (node !== null && typeof node === 'object') {
    visit(node as Record<string, unknown>);
    Object.values(node).forEach((value) => walk(value, visit));
  }
}

function resolveRef(ref: string): any {
  assert.match(ref, /^#\/components\/schemas\/[A-Za-z0-9]+$/);
  return doc.components.schemas[ref.split('/').pop()!];
}

function jsonSchemaOf(response: any): any {
  return response.content['application/json'].schema;
}

/** An Ajv that knows the document's component schemas (under `components#/$defs/…`). */
function makeAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'components', $defs: rewriteRefs(doc.components.schemas) });
  return ajv;
}
function rewriteRefs(schema: unknown): any {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"components#/$defs/'));
}
const ajv = makeAjv();
function compile(schema: unknown): ValidateFunction {
  return ajv.compile(rewriteRefs(schema));
}
function assertValid(validate: ValidateFunction, data: unknown): void {
  assert.ok(validate(data), `${JSON.stringify(data)}\n${ajv.errorsText(validate.errors)}`);
}

const operations = Object.values(doc.paths).flatMap((methods: any) => Object.values(methods)) as any[];

// ---- Tests ---------------------------------------------------------------------------------------

test('the document has the OpenAPI 3.0 skeleton', () => {
  assert.match(doc.openapi, /^3\.0\.\d$/);
  assert.deepEqual(doc.info, { title: 'Test API', version: '1.0.0' });
  assert.deepEqual(doc.servers, [{ url: 'http://localhost/core/v1' }]);
  assert.deepEqual(doc.tags, [{ name: 'Disk backup policies' }, { name: 'Placements' }]);
  assert.equal(operations.length, 3);
  for (const operation of operations) {
    for (const key of ['operationId', 'summary', 'description', 'tags', 'responses']) assert.ok(key in operation, key);
    for (const [status, response] of Object.entries<any>(operation.responses)) {
      assert.match(status, /^[1-5]\d\d$/);
      assert.equal(typeof response.description, 'string');
    }
  }
  const ids = operations.map((operation) => operation.operationId);
  assert.deepEqual(ids, ['get:disk_disk_backup_policies', 'patch:disk_backup_policy', 'post:placements']);
});

test('every $ref resolves to a component schema and every component is used', () => {
  const refs = new Set<string>();
  walk(doc, (object) => {
    if ('$ref' in object) {
      assert.equal(Object.keys(object).length, 1, `siblings beside ${String(object.$ref)}`);
      refs.add(object.$ref as string);
    }
  });
  assert.ok(refs.size > 0);
  for (const ref of refs) assert.ok(resolveRef(ref), `${ref} does not resolve`);
  const names = Object.keys(doc.components.schemas);
  assert.deepEqual(names, [...names].sort(), 'component schemas are sorted');
  for (const name of names) assert.ok(refs.has(`#/components/schemas/${name}`), `${name} is never referenced`);
});

test('every schema compiles as a JSON Schema (Ajv, strict)', () => {
  let compiled = 0;
  for (const operation of operations) {
    for (const response of Object.values<any>(operation.responses)) (compile(jsonSchemaOf(response)), compiled++);
    if (operation.requestBody) (compile(jsonSchemaOf(operation.requestBody)), compiled++);
    for (const parameter of operation.parameters ?? []) (compile(parameter.schema), compiled++);
  }
  assert.ok(compiled >= 20, `only ${compiled} schemas`);
});

test('the output is deterministic', () => {
  assert.equal(JSON.stringify(buildOpenApiDocument(ENDPOINTS, OPTIONS)), JSON.stringify(doc));
});

test('route placeholders are rendered as the literal word', () => {
  assert.deepEqual(Object.keys(doc.paths), ['/disks/disk/disk_backup_policies', '/disk_backup_policies/disk_backup_policy', '/placements']);
});

test('GET arguments become query parameters: lookups as disk[id], arrays as name[], defaults and minimum', () => {
  assert.equal(LIST.requestBody, undefined);
  assert.deepEqual(LIST.parameters, [
    { name: 'disk[id]', in: 'query', schema: { type: 'string' }, description: 'The disk to return disk backup policies for.' },
    { name: 'intervals[]', in: 'query', schema: { type: 'array', items: { type: 'string', enum: ['hourly', 'daily', 'weekly', 'monthly'] } } },
    { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
    { name: 'per_page', in: 'query', schema: { type: 'integer', minimum: 1, default: 30 } },
  ]);
});

test('other methods take a JSON body with required arguments and component schemas', () => {
  assert.equal(PATCH.parameters, undefined);
  assert.deepEqual(jsonSchemaOf(PATCH.requestBody), {
    type: 'object',
    properties: {
      disk_backup_policy: { $ref: '#/components/schemas/DiskBackupPolicyLookup' },
      properties: { $ref: '#/components/schemas/DiskBackupPolicyArguments' },
    },
    required: ['disk_backup_policy', 'properties'],
  });
  assert.deepEqual(resolveRef('#/components/schemas/DiskBackupPolicyArguments'), {
    type: 'object',
    properties: { retention: { type: 'integer' }, schedule: { $ref: '#/components/schemas/ScheduleArguments' } },
  });
  assert.deepEqual(resolveRef('#/components/schemas/ScheduleArguments').required, ['interval']);
  assert.deepEqual(resolveRef('#/components/schemas/DiskLookup').properties, { id: { type: 'string' } });
  const validate = compile(jsonSchemaOf(PATCH.requestBody));
  assertValid(validate, { disk_backup_policy: { id: 'dbp_x' }, properties: { schedule: { interval: 'daily' } } });
  assert.equal(validate({ properties: {} }), false, 'the lookup is required');
  assert.equal(validate({ disk_backup_policy: {}, properties: { schedule: { interval: 'yearly' } } }), false);
});

test('security: only the bearer token this service accepts, no OAuth2; scopes per operation in x-scopes', () => {
  assert.deepEqual(doc.security, [{ Authenticator: [] }]);
  assert.deepEqual(Object.keys(doc.components.securitySchemes), ['Authenticator']);
  const { Authenticator } = doc.components.securitySchemes;
  assert.equal(Authenticator.type, 'http');
  assert.equal(Authenticator.scheme, 'bearer');
  assert.match(Authenticator.description, /Authorization: Bearer/);
  assert.match(Authenticator.description, /Tokens come from the test harness\.$/, 'where tokens come from, as the application says');
  assert.deepEqual(Authenticator['x-scopes'], {
    disk_backup_policies: 'Manage disk backup policies',
    'disk_backup_policies:read': 'Read-only access to disk backup policies',
  });
  const text = JSON.stringify(doc);
  for (const sign of ['"oauth2"', '"flows"', 'identity.krystal.io', 'api.katapult.io/core/v1/']) {
    assert.ok(!text.includes(sign), `no OAuth2 flow or prefixed scope anywhere in the document (found ${sign})`);
  }
  // The operations inherit the document's security; which scopes grant each is an extension and a list.
  assert.equal(LIST.security, undefined);
  assert.deepEqual(LIST['x-scopes'], ['disk_backup_policies', 'disk_backup_policies:read']);
  assert.match(LIST.description, /^Returns a list of all disk backup policies for a given disk\n## Scopes\n- `disk_backup_policies`\n- `disk_backup_policies:read`\n/);
  assert.equal(POST['x-scopes'], undefined, 'an endpoint without scopes lists none');
  assert.equal(POST.description, place.description);
});

function errorCodes(operation: any, status: string): string[] {
  const error = jsonSchemaOf(operation.responses[status]).properties.error;
  const refs: any[] = error.oneOf ?? [error];
  return refs.map((ref) => resolveRef(ref.$ref).properties.code.enum[0]);
}

test('errors are grouped by status, several as oneOf, in the {"error": …} envelope', () => {
  assert.deepEqual(Object.keys(LIST.responses), ['200', '400', '403', '404', '406', '429']);
  assert.deepEqual(errorCodes(LIST, '400'), ['missing_api_token', 'invalid_json_body', 'missing_required_argument', 'invalid_argument']);
  assert.deepEqual(errorCodes(LIST, '403'), ['invalid_api_token', 'scope_not_granted']);
  assert.deepEqual(errorCodes(LIST, '404'), ['disk_not_found']);
  assert.deepEqual(errorCodes(LIST, '406'), ['object_in_trash']);
  assert.deepEqual(jsonSchemaOf(LIST.responses['404']), {
    type: 'object',
    properties: { error: { $ref: '#/components/schemas/DiskNotFoundError' } },
    required: ['error'],
  });
  assert.equal(jsonSchemaOf(LIST.responses['403']).properties.error.oneOf.length, 2);

  assert.deepEqual(Object.keys(PATCH.responses), ['200', '400', '403', '404', '406', '422', '429']);
  assert.deepEqual(errorCodes(PATCH, '403'), ['invalid_api_token', 'scope_not_granted', 'permission_denied']);
  assert.deepEqual(errorCodes(PATCH, '404'), ['disk_backup_policy_not_found']);

  // A lookup nested in an argument set still contributes its errors; no scopes → no scope_not_granted.
  assert.deepEqual(Object.keys(POST.responses), ['201', '400', '403', '404', '406', '429']);
  assert.deepEqual(errorCodes(POST, '403'), ['invalid_api_token']);
  assert.deepEqual(errorCodes(POST, '404'), ['disk_not_found']);

  assert.deepEqual(resolveRef('#/components/schemas/DiskNotFoundError'), {
    type: 'object',
    description: DiskNotFound.description,
    properties: { code: { type: 'string', enum: ['disk_not_found'] }, description: { type: 'string' }, detail: { type: 'object' } },
    required: ['code', 'description', 'detail'],
  });
  assert.ok(resolveRef('#/components/schemas/ValidationError'), 'a code ending in _error is not named …ErrorError');
});

test('an error body as the HTTP layer sends it validates against its status schema', () => {
  const validate = compile(jsonSchemaOf(LIST.responses['400']));
  assertValid(validate, {
    error: {
      code: 'invalid_argument',
      description: "The 'page' argument is invalid",
      detail: { path: ['page'], index: null, issue: 'validation_errors', issue_description: null, errors: ['greater_than_zero'] },
    },
  });
  assert.equal(validate({ code: 'invalid_argument', description: 'x', detail: {} }), false, 'unwrapped');
  assert.equal(validate({ error: { code: 'disk_not_found', description: 'x', detail: {} } }), false, 'wrong status');
  assertValid(compile(jsonSchemaOf(LIST.responses['406'])), {
    error: { code: 'object_in_trash', description: 'x', detail: { trash_object: { id: 'trsh_1', keep_until: null, object_id: 'disk_1', object_type: 'Disk' } } },
  });
});

const policy = (target: object) => ({
  id: 'dbp_aaaaaaaaaaaaaaaa',
  retention: 7,
  total_size: 0,
  target,
  schedule: { interval: 'daily', frequency: 1, minute: 0, time: 3, next_invocation_at: null },
  auto_move_to_trash_at: null,
});
const vmTarget = { kind: 'vm', id: 'vm_1', name: 'web', fqdn: 'web.example' };
const diskTarget = { kind: 'disk', id: 'disk_1', name: 'root', size_in_gb: 10, state: null, attachment: null };

test('the list response follows the field spec; the polymorph renders as {type, value}', () => {
  const item = jsonSchemaOf(LIST.responses['200']).properties.disk_backup_policies.items;
  assert.deepEqual(Object.keys(item.properties), ['id', 'target', 'schedule']);
  assert.deepEqual(item.properties.schedule, {
    type: 'object',
    properties: { interval: { type: 'string', enum: ['hourly', 'daily', 'weekly', 'monthly'] } },
    required: ['interval'],
  });
  const options = item.properties.target.oneOf;
  assert.deepEqual(options.map((o: any) => o.properties.type), [
    { type: 'string', enum: ['VirtualMachine'] },
    { type: 'string', enum: ['Disk'] },
  ]);
  for (const option of options) {
    assert.deepEqual(option.required, ['type', 'value']);
    assert.deepEqual(Object.keys(option.properties.value.properties), ['id', 'name']);
  }
  const pagination = jsonSchemaOf(LIST.responses['200']).properties.pagination;
  assert.deepEqual(pagination.properties.total, { type: 'integer', nullable: true });
});

test('a body written by compileEndpoint validates against the generated 200 schema', () => {
  const body = JSON.parse(
    compileEndpoint(listForDisk).writeBody({
      pagination: { current_page: 1, total_pages: null, total: null, per_page: 30, large_set: true },
      disk_backup_policies: [policy(vmTarget), policy(diskTarget)],
    }),
  );
  const validate = compile(jsonSchemaOf(LIST.responses['200']));
  assertValid(validate, body);
  body.disk_backup_policies[0].target.type = 'Volume';
  assert.equal(validate(body), false, 'an unknown polymorph option is rejected');

  const updated = JSON.parse(compileEndpoint(update).writeBody({ disk_backup_policy: policy(diskTarget) }));
  assert.deepEqual(updated.disk_backup_policy.schedule, {});
  assertValid(compile(jsonSchemaOf(PATCH.responses['200'])), updated);
});

test('a spec that names an object without brackets leaves it as a bare {type: object}', () => {
  const schema = jsonSchemaOf(PATCH.responses['200']).properties.disk_backup_policy;
  assert.deepEqual(Object.keys(schema.properties), ['id', 'retention', 'target', 'schedule']);
  assert.deepEqual(schema.properties.schedule, { type: 'object' });
  for (const option of schema.properties.target.oneOf) assert.deepEqual(Object.keys(option.properties.value.properties), ['id']);
});

test('recursive object types under * are cut where they repeat, and written bodies still validate', () => {
  const disk = jsonSchemaOf(POST.responses['201']).properties.disk;
  const attachment = disk.properties.attachment;
  assert.equal(attachment.nullable, true);
  assert.deepEqual(disk.properties.state, { type: 'string', enum: ['active', 'deleted', null], nullable: true });
  assert.deepEqual(attachment.properties.disk, { type: 'object' });
  const body = JSON.parse(
    compileEndpoint(place).writeBody({
      disk: { ...diskTarget, attachment: { boot: true, disk: { ...diskTarget, state: 'active', attachment: null } } },
    }),
  );
  assertValid(compile(jsonSchemaOf(POST.responses['201'])), body);
});
