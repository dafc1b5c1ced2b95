/**
 * The API token endpoints over HTTP: every answer against the official OpenAPI 2.68 schema, the
 * secret only where it was just made, every documented error of each endpoint (with an unchanged
 * database), what a token may grant, and that a changed token takes effect on the next request.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { forEachEngine, TEST_NOW, TestService, type CallOptions, type CallResult, type TestOrganization } from '../support/harness.js';
import { OFFICIAL_INTERFACE_URL, officialErrorCodes, validateAgainstOfficial } from '../support/openapi-validator.js';


const OP = {
  list: { method: 'GET', path: '/organizations/organization/api_tokens' },
  create: { method: 'POST', path: '/organizations/organization/api_tokens' },
  update: { method: 'PATCH', path: '/api_tokens/api_token' },
  delete: { method: 'DELETE', path: '/api_tokens/api_token' },
  regenerate: { method: 'POST', path: '/api_tokens/api_token/regenerate_secret' },
} as const;
type Operation = (typeof OP)[keyof typeof OP];

forEachEngine('API tokens', (engine) => {
  let service: TestService;
  let alpha: TestOrganization;
  let beta: TestOrganization;

  before(async () => {
    service = await TestService.start(engine);
    alpha = await service.createOrganization('Alpha');
    beta = await service.createOrganization('Beta');
  });
  after(() => service.stop());

  async function call(op: Operation, options: CallOptions & { path?: string }): Promise<CallResult> {
    return service.call(op.method, options.path ?? op.path.slice(1), options);
  }

  async function ok(op: Operation, options: CallOptions & { path?: string }): Promise<any> {
    const result = await call(op, options);
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(validateAgainstOfficial(op.method, op.path, 200, result.body), [], 'the answer against the official schema');
    return result.body;
  }

  /** The request is refused with this status and code, matches the official schema, and changes nothing. */
  async function refused(op: Operation, options: CallOptions & { path?: string }, status: number, code: string): Promise<any> {
    const before = await service.snapshot();
    const result = await call(op, options);
    const after = await service.snapshot();
    assert.equal(result.status, status, result.text);
    assert.equal(result.body?.error?.code, code, result.text);
    assert.equal(result.headers.get('x-api-schema'), 'json-error');
    if (officialErrorCodes(op.method, op.path, status).includes(code)) {
      assert.deepEqual(validateAgainstOfficial(op.method, op.path, status, result.body.error), [], 'the error against the official schema');
    }
    assert.equal(after, before, 'a refused request leaves the database unchanged');
    return result.body.error;
  }

  async function createThroughApi(properties: Record<string, unknown>, token = alpha.token): Promise<any> {
    return (await ok(OP.create, { token, json: { organization: { id: alpha.id }, properties } })).api_token;
  }

  // ---- The happy paths, against the official schema ------------------------------------------

  test('create answers the token with its secret once, and the annotations given', async () => {
    const body = await ok(OP.create, {
      token: alpha.token,
      json: {
        organization: { sub_domain: alpha.subDomain },
        properties: { name: 'deploy', scopes: ['disks:read', 'disks'], authorized_ip_addresses: ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32'], expires_at: TEST_NOW + 3600, rate_limit: 50 },
      },
    });
    assert.equal(body.api_token.name, 'deploy');
    assert.equal(body.api_token.organization_id, alpha.id);
    assert.deepEqual(body.api_token.scopes, ['disks:read', 'disks']);
    assert.deepEqual(body.api_token.authorized_ip_addresses, ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32']);
    assert.equal(body.api_token.expires_at, TEST_NOW + 3600);
    assert.equal(body.api_token.rate_limit, 50);
    assert.match(body.api_token.secret, /^[A-Za-z0-9]{48}$/);
    assert.deepEqual(body.annotations, []);
    const used = await service.call('GET', 'organizations/_/disks', { token: body.api_token.secret, query: `organization[id]=${alpha.id}` });
    assert.equal(used.status, 200, used.text);
    assert.equal(used.headers.get('x-ratelimit-permitted'), '50');
  });

  test('create keeps annotations and answers them; the list shows the new token at once (no stale cached list)', async () => {
    const listed = await ok(OP.list, { token: alpha.token, path: `organizations/${alpha.id}/api_tokens` });
    const body = await ok(OP.create, {
      token: alpha.token,
      json: { organization: { id: alpha.id }, properties: { name: 'annotated' }, annotations: [{ key: 'team', value: 'ops' }, { key: 'bare' }] },
    });
    assert.deepEqual(body.annotations, [{ key: 'team', value: 'ops' }, { key: 'bare', value: '' }]);
    const again = await ok(OP.list, { token: alpha.token, path: `organizations/${alpha.id}/api_tokens` });
    assert.equal(again.api_tokens.length, listed.api_tokens.length + 1);
    assert.ok(again.api_tokens.some((t: any) => t.id === body.api_token.id));
  });

  // ---- The annotations filter of the list, as a real Katapult client sends it --------------------

  /**
   * go-katapult (krystal/go-katapult, next/core/core.go, NewGetOrganizationApiTokensRequest) sends
   * `annotations[][key]` and `annotations[][value]` as exploded form arrays (one parameter per
   * element, runtime.StyleParamWithLocation("form", true, …)), collects them in url.Values and writes
   * `queryValues.Encode()`: keys sorted, brackets percent-encoded, every key before every value. The
   * n-th key and the n-th value make the n-th annotation ("all `annotations[]` params should have the
   * same amount of elements"). These query strings are written out exactly as it produces them.
   */
  const goKatapultQuery = (organizationId: string, annotations: { key: string; value?: string }[], page = '') =>
    [
      ...annotations.map((a) => `annotations%5B%5D%5Bkey%5D=${a.key}`),
      ...annotations.filter((a) => a.value !== undefined).map((a) => `annotations%5B%5D%5Bvalue%5D=${a.value}`),
      `organization%5Bid%5D=${organizationId}`,
      ...(page ? [page] : []),
    ].join('&');

  describe('the list filtered by annotations', () => {
    let gamma: TestOrganization;
    const made: Record<string, string> = {};
    before(async () => {
      gamma = await service.createOrganization('Annotations');
      const annotated = {
        prodOps: [{ key: 'env', value: 'prod' }, { key: 'team', value: 'ops' }],
        stagingOps: [{ key: 'env', value: 'staging' }, { key: 'team', value: 'ops' }],
        prod: [{ key: 'env', value: 'prod' }],
        teamOnly: [{ key: 'team' }],
      };
      for (const [name, annotations] of Object.entries(annotated)) {
        const body = await ok(OP.create, { token: gamma.token, json: { organization: { id: gamma.id }, properties: { name }, annotations } });
        made[body.api_token.id] = name;
      }
    });

    /** The names of the listed tokens (the organization's unannotated first token is `everything`). */
    async function listed(options: CallOptions): Promise<{ names: string[]; pagination: any }> {
      const body = await ok(OP.list, { token: gamma.token, path: 'organizations/_/api_tokens', ...options });
      return { names: body.api_tokens.map((t: any) => made[t.id] ?? t.name).sort(), pagination: body.pagination };
    }

    test('the exact go-katapult query string, as that client writes it', () => {
      assert.equal(
        goKatapultQuery('org_x', [{ key: 'env', value: 'prod' }, { key: 'team', value: 'ops' }], 'page=1&per_page=30'),
        'annotations%5B%5D%5Bkey%5D=env&annotations%5B%5D%5Bkey%5D=team&annotations%5B%5D%5Bvalue%5D=prod&annotations%5B%5D%5Bvalue%5D=ops&organization%5Bid%5D=org_x&page=1&per_page=30',
      );
    });

    test('without a filter every token is listed', async () => {
      const { names, pagination } = await listed({ query: `organization%5Bid%5D=${gamma.id}` });
      assert.deepEqual(names, ['everything', 'prod', 'prodOps', 'stagingOps', 'teamOnly']);
      assert.equal(pagination.total, 5);
    });

    test('key only: every token with that key, whatever its value', async () => {
      assert.deepEqual((await listed({ query: goKatapultQuery(gamma.id, [{ key: 'env' }]) })).names, ['prod', 'prodOps', 'stagingOps']);
      assert.deepEqual((await listed({ query: goKatapultQuery(gamma.id, [{ key: 'team' }]) })).names, ['prodOps', 'stagingOps', 'teamOnly']);
    });

    test('key and value: only tokens with that key holding that value', async () => {
      assert.deepEqual((await listed({ query: goKatapultQuery(gamma.id, [{ key: 'env', value: 'prod' }]) })).names, ['prod', 'prodOps']);
      assert.deepEqual((await listed({ query: goKatapultQuery(gamma.id, [{ key: 'team', value: 'ops' }]) })).names, ['prodOps', 'stagingOps']);
    });

    test('several annotations: tokens having every one of them, the n-th value paired with the n-th key', async () => {
      const query = goKatapultQuery(gamma.id, [{ key: 'env', value: 'prod' }, { key: 'team', value: 'ops' }]);
      assert.deepEqual((await listed({ query })).names, ['prodOps']);
      const reversed = goKatapultQuery(gamma.id, [{ key: 'team', value: 'ops' }, { key: 'env', value: 'staging' }]);
      assert.deepEqual((await listed({ query: reversed })).names, ['stagingOps']);
      // Pairs written one after the other (as a browser form would) mean the same.
      const interleaved = `organization[id]=${gamma.id}&annotations[][key]=env&annotations[][value]=prod&annotations[][key]=team&annotations[][value]=ops`;
      assert.deepEqual((await listed({ query: interleaved })).names, ['prodOps']);
    });

    test('no token matches: an empty list with totals of zero', async () => {
      const { names, pagination } = await listed({ query: goKatapultQuery(gamma.id, [{ key: 'env', value: 'dev' }]) });
      assert.deepEqual(names, []);
      assert.equal(pagination.total, 0);
      assert.equal(pagination.total_pages, 0);
      assert.deepEqual((await listed({ query: goKatapultQuery(gamma.id, [{ key: 'owner' }]) })).names, []);
    });

    test('pagination counts only the matching tokens', async () => {
      const first = await listed({ query: goKatapultQuery(gamma.id, [{ key: 'env' }], 'page=1&per_page=2') });
      const second = await listed({ query: goKatapultQuery(gamma.id, [{ key: 'env' }], 'page=2&per_page=2') });
      assert.equal(first.pagination.total, 3);
      assert.equal(first.pagination.total_pages, 2);
      assert.equal(first.names.length, 2);
      assert.equal(second.names.length, 1);
      assert.deepEqual([...first.names, ...second.names].sort(), ['prod', 'prodOps', 'stagingOps']);
    });

    /** A GET with a JSON body (fetch sends none), as the Core API accepts; answers the listed names. */
    async function listedByJsonBody(args: unknown): Promise<string[]> {
      const text = JSON.stringify(args);
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = httpRequest(`${service.url}/core/v1/organizations/_/api_tokens`, {
          method: 'GET',
          headers: { authorization: `Bearer ${gamma.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        });
        request.on('response', (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
        request.on('error', reject);
        request.end(text);
      });
      assert.equal(answer.status, 200, answer.body);
      const body = JSON.parse(answer.body);
      assert.deepEqual(validateAgainstOfficial(OP.list.method, OP.list.path, 200, body), [], 'the answer against the official schema');
      return body.api_tokens.map((t: any) => made[t.id] ?? t.name).sort();
    }

    test('the same filter as a JSON body and as an `_arguments` field; a null value matches any value', async () => {
      const args = { organization: { id: gamma.id }, annotations: [{ key: 'env', value: 'prod' }, { key: 'team' }] };
      assert.deepEqual(await listedByJsonBody(args), ['prodOps']);
      assert.deepEqual((await listed({ query: `_arguments=${encodeURIComponent(JSON.stringify(args))}` })).names, ['prodOps']);
      assert.deepEqual(await listedByJsonBody({ ...args, annotations: [{ key: 'env', value: null }] }), ['prod', 'prodOps', 'stagingOps']);
    });

    test('a changed annotation shows in the next filtered list (no stale cached answer)', async () => {
      const query = goKatapultQuery(gamma.id, [{ key: 'owner', value: 'me' }]);
      assert.deepEqual((await listed({ query })).names, []);
      const { api_token: token } = await ok(OP.create, { token: gamma.token, json: { organization: { id: gamma.id }, properties: { name: 'owned' } } });
      assert.deepEqual((await listed({ query })).names, []);
      await ok(OP.update, { token: gamma.token, json: { api_token: { id: token.id }, properties: {}, annotations: [{ key: 'owner', value: 'me' }] } });
      assert.deepEqual((await listed({ query })).names, ['owned']);
      await ok(OP.update, { token: gamma.token, json: { api_token: { id: token.id }, properties: {}, annotations: [] } });
      assert.deepEqual((await listed({ query })).names, []);
      await ok(OP.delete, { token: gamma.token, json: { api_token: { id: token.id } } });
    });

    test('a value without a key is refused, naming the argument', async () => {
      const error = await refused(OP.list, { token: gamma.token, path: 'organizations/_/api_tokens', query: `annotations%5B%5D%5Bvalue%5D=prod&organization%5Bid%5D=${gamma.id}` }, 400, 'missing_required_argument');
      assert.match(JSON.stringify(error), /annotations/);
    });
  });

  test('left out, the scopes are those of the creating token and the rate limit the default', async () => {
    const creator = await service.createToken(alpha.id, ['api_tokens', 'disks:read']);
    const token = await createThroughApi({ name: 'defaults' }, creator);
    assert.deepEqual(token.scopes, ['disks:read', 'api_tokens']); // in the order of the known scopes
    assert.equal(token.rate_limit, 1000);
    assert.deepEqual(token.authorized_ip_addresses, []);
    assert.equal(token.expires_at, null);
  });

  test('the list pages, never shows a secret, and holds only the organization’s tokens', async () => {
    const body = await ok(OP.list, { token: alpha.token, path: 'organizations/_/api_tokens', query: `organization[id]=${alpha.id}&per_page=1&page=2` });
    assert.equal(body.pagination.per_page, 1);
    assert.equal(body.pagination.current_page, 2);
    assert.equal(body.api_tokens.length, 1);
    const all = await ok(OP.list, { token: alpha.token, path: `organizations/${alpha.id}/api_tokens`, query: 'per_page=200' });
    assert.ok(all.api_tokens.length >= 2);
    for (const token of all.api_tokens) {
      assert.equal(token.secret, null);
      assert.equal(token.organization_id, alpha.id);
    }
    const readOnly = await service.createToken(alpha.id, ['api_tokens:read']);
    await ok(OP.list, { token: readOnly, path: `organizations/${alpha.id}/api_tokens` });
  });

  test('update changes only what it is given, never answers the secret, and takes effect on the next request', async () => {
    const created = await createThroughApi({ name: 'to change', scopes: ['disks:read'] });
    const body = await ok(OP.update, {
      token: alpha.token,
      json: { api_token: { id: created.id }, properties: { name: 'changed', authorized_ip_addresses: ['192.0.2.0/24'] }, annotations: [{ key: 'k', value: 'v' }] },
    });
    assert.equal(body.api_token.name, 'changed');
    assert.deepEqual(body.api_token.scopes, ['disks:read']);
    assert.deepEqual(body.api_token.authorized_ip_addresses, ['192.0.2.0/24']);
    assert.equal(body.api_token.secret, null);
    assert.deepEqual(body.annotations, [{ key: 'k', value: 'v' }]);
    const blocked = await service.call('GET', `organizations/${alpha.id}/disks`, { token: created.secret });
    assert.equal(blocked.body.error.code, 'unauthorized_network_for_api_token');
    // Back to anywhere, and an expiry that can be cleared again with null.
    await ok(OP.update, { token: alpha.token, path: `api_tokens/${created.id}`, json: { properties: { authorized_ip_addresses: [], expires_at: TEST_NOW + 60 } } });
    const cleared = await ok(OP.update, { token: alpha.token, path: `api_tokens/${created.id}`, json: { properties: { expires_at: null } } });
    assert.equal(cleared.api_token.expires_at, null);
    assert.equal((await service.call('GET', `organizations/${alpha.id}/disks`, { token: created.secret })).status, 200);
  });

  test('a token made with expires_at works until then and answers invalid_api_token (expired) from that second on', async () => {
    const created = await createThroughApi({ name: 'short-lived', scopes: ['organizations:read'], expires_at: TEST_NOW + 60 });
    try {
      service.clock.set(TEST_NOW + 59);
      assert.equal((await service.call('GET', 'organizations', { token: created.secret })).status, 200);
      service.clock.set(TEST_NOW + 60);
      const expired = await service.call('GET', 'organizations', { token: created.secret });
      assert.equal(expired.status, 403);
      assert.deepEqual(expired.body.error, {
        code: 'invalid_api_token',
        description: 'The API token provided was not valid (it may not exist or have expired)',
        detail: { details: 'The API token has expired' },
      });
    } finally {
      service.clock.set(TEST_NOW);
    }
  });

  test('update of the rate limit applies to the next request', async () => {
    const created = await createThroughApi({ name: 'limited', scopes: ['organizations:read'] });
    await ok(OP.update, { token: alpha.token, path: `api_tokens/${created.id}`, json: { properties: { rate_limit: 2 } } });
    for (let i = 0; i < 2; i++) assert.equal((await service.call('GET', 'organizations', { token: created.secret })).status, 200);
    const limited = await service.call('GET', 'organizations', { token: created.secret });
    assert.equal(limited.status, 429);
    assert.deepEqual(limited.body.error, {
      code: 'rate_limit_reached',
      description: 'You have reached the rate limit for this type of request',
      detail: { total_permitted: 2 },
    });
  });

  test('regenerate answers a new secret once; the old secret stops working at once', async () => {
    const created = await createThroughApi({ name: 'rotate', scopes: ['organizations:read'] });
    const body = await ok(OP.regenerate, { token: alpha.token, path: `api_tokens/${created.id}/regenerate_secret` });
    assert.equal(body.api_token.id, created.id);
    assert.match(body.api_token.secret, /^[A-Za-z0-9]{48}$/);
    assert.notEqual(body.api_token.secret, created.secret);
    assert.equal((await service.call('GET', 'organizations', { token: created.secret })).body.error.code, 'invalid_api_token');
    assert.equal((await service.call('GET', 'organizations', { token: body.api_token.secret })).status, 200);
  });

  test('delete answers id and name; the secret stops working at once; a second delete is not found', async () => {
    const created = await createThroughApi({ name: 'doomed', scopes: ['organizations:read'] });
    const body = await ok(OP.delete, { token: alpha.token, json: { api_token: { id: created.id } } });
    assert.deepEqual(body, { api_token: { id: created.id, name: 'doomed' } });
    assert.equal((await service.call('GET', 'organizations', { token: created.secret })).body.error.code, 'invalid_api_token');
    await refused(OP.delete, { token: alpha.token, json: { api_token: { id: created.id } } }, 404, 'api_token_not_found');
  });

  test('a token may delete itself; its next request is refused', async () => {
    const self = await createThroughApi({ name: 'self', scopes: ['api_tokens'] });
    await ok(OP.delete, { token: self.secret, path: `api_tokens/${self.id}` });
    assert.equal((await service.call('GET', `organizations/${alpha.id}/api_tokens`, { token: self.secret })).body.error.code, 'invalid_api_token');
  });

  // ---- Every documented error ------------------------------------------------------------------

  test('list and create: organization_not_found (404)', async () => {
    await refused(OP.list, { token: alpha.token, query: 'organization[id]=org_missing' }, 404, 'organization_not_found');
    await refused(OP.create, { token: alpha.token, json: { organization: { id: 'org_missing' }, properties: {} } }, 404, 'organization_not_found');
  });

  test("list and create: another organization's organization is permission_denied (403), revealing nothing", async () => {
    for (const op of [OP.list, OP.create]) {
      const json = op === OP.create ? { properties: {} } : undefined;
      const error = await refused(op, { token: alpha.token, path: `organizations/${beta.id}/api_tokens`, json }, 403, 'permission_denied');
      assert.deepEqual(error.detail, { details: 'The object belongs to an organization this API token cannot act for' });
    }
  });

  test("update, delete, regenerate: api_token_not_found (404); another organization's token is permission_denied (403)", async () => {
    const betaToken = (await service.services.tokens.create({ organizationId: beta.id, name: 'beta secret name' })).token;
    for (const op of [OP.update, OP.delete, OP.regenerate]) {
      const path = op === OP.regenerate ? 'api_tokens/_/regenerate_secret' : 'api_tokens/_';
      const json = { api_token: { id: 'apitoken_missing' }, properties: { name: 'x' } };
      await refused(op, { token: alpha.token, path, json }, 404, 'api_token_not_found');
      const error = await refused(op, { token: alpha.token, path, json: { ...json, api_token: { id: betaToken.id } } }, 403, 'permission_denied');
      assert.equal(JSON.stringify(error).includes('beta secret name'), false, 'the refusal reveals nothing of the token');
    }
  });

  test('create and update: validation_error (422) for every bad property, all reported at once', async () => {
    const bad = {
      scopes: ['disks:read', 'no_such_scope'],
      authorized_ip_addresses: ['10.0.0.0/33', 'not-an-address', '2001:db8::/129', 'fe80::1%eth0', '1.2.3.4/x'],
      expires_at: TEST_NOW - 1,
      rate_limit: 0,
    };
    const error = await refused(OP.create, { token: alpha.token, json: { organization: { id: alpha.id }, properties: bad } }, 422, 'validation_error');
    assert.deepEqual(error.detail.errors, [
      'Scope no_such_scope is not known (known scopes: organizations:read, disk_backup_policies, disk_backup_policies:read, disks, disks:read, virtual_machines, virtual_machines:read, trash_objects:read, trash_objects:restore, trash_objects:purge, api_tokens, api_tokens:read)',
      'Authorized IP addresses: "10.0.0.0/33" has an invalid prefix length (an IPv4 range takes /0 to /32)',
      'Authorized IP addresses: "not-an-address" is not an IPv4 or IPv6 address or CIDR range',
      'Authorized IP addresses: "2001:db8::/129" has an invalid prefix length (an IPv6 range takes /0 to /128)',
      'Authorized IP addresses: "fe80::1%eth0" is not an IPv4 or IPv6 address or CIDR range',
      'Authorized IP addresses: "1.2.3.4/x" has an invalid prefix length (an IPv4 range takes /0 to /32)',
      'Expires at must be in the future',
      'Rate limit must be a whole number from 1 to 2147483647',
    ]);
    const existing = await createThroughApi({ name: 'kept', scopes: ['disks:read'] });
    const update = await refused(
      OP.update,
      { token: alpha.token, path: `api_tokens/${existing.id}`, json: { properties: { name: '  ', authorized_ip_addresses: ['::ffff:10.0.0.0/200'] }, annotations: [{ key: 'a' }, { key: 'a' }] } },
      422,
      'validation_error',
    );
    assert.deepEqual(update.detail.errors, [
      'Name cannot be blank',
      'Authorized IP addresses: "::ffff:10.0.0.0/200" has an invalid prefix length (an IPv6 range takes /0 to /128)',
      'Annotation keys must be unique',
    ]);
  });

  test('a token cannot grant a scope it lacks, nor a higher rate limit than its own (validation_error)', async () => {
    const creator = (await service.services.tokens.create({ organizationId: alpha.id, scopes: ['api_tokens', 'disks:read'], rateLimit: 100 })).secret;
    const error = await refused(
      OP.create,
      { token: creator, json: { organization: { id: alpha.id }, properties: { scopes: ['disks:read', 'disks', 'api_tokens'], rate_limit: 101 } } },
      422,
      'validation_error',
    );
    assert.deepEqual(error.detail.errors, [
      'Scope disks cannot be granted by an API token that does not hold it',
      'Rate limit cannot be higher than that of the API token granting it (100)',
    ]);
    const existing = await createThroughApi({ name: 'narrow', scopes: ['disks:read'] }, creator);
    await refused(OP.update, { token: creator, path: `api_tokens/${existing.id}`, json: { properties: { scopes: ['disks'] } } }, 422, 'validation_error');
    // Within its own scopes and limit, it may.
    const granted = await createThroughApi({ name: 'ok', scopes: ['disks:read'], rate_limit: 100 }, creator);
    assert.equal(granted.rate_limit, 100);
  });

  test('a token cannot change or take the secret of a token holding scopes it lacks (permission_denied)', async () => {
    const creator = (await service.services.tokens.create({ organizationId: alpha.id, scopes: ['api_tokens'] })).secret;
    const powerful = (await service.services.tokens.create({ organizationId: alpha.id, scopes: ['api_tokens', 'disks'] })).token;
    for (const op of [OP.update, OP.regenerate]) {
      const path = op === OP.regenerate ? `api_tokens/${powerful.id}/regenerate_secret` : `api_tokens/${powerful.id}`;
      const error = await refused(op, { token: creator, path, json: { properties: { name: 'mine now' } } }, 403, 'permission_denied');
      assert.deepEqual(error.detail, { details: 'The API token holds scopes this API token does not hold (disks)' });
    }
  });

  test('without the api_tokens scope: scope_not_granted (403); api_tokens:read only lists', async () => {
    const readOnly = await service.createToken(alpha.id, ['api_tokens:read']);
    const existing = await createThroughApi({ name: 'target', scopes: ['disks:read'] });
    await refused(OP.create, { token: readOnly, path: `organizations/${alpha.id}/api_tokens`, json: { properties: {} } }, 403, 'scope_not_granted');
    await refused(OP.update, { token: readOnly, path: `api_tokens/${existing.id}`, json: { properties: { name: 'x' } } }, 403, 'scope_not_granted');
    await refused(OP.delete, { token: readOnly, path: `api_tokens/${existing.id}` }, 403, 'scope_not_granted');
    await refused(OP.regenerate, { token: readOnly, path: `api_tokens/${existing.id}/regenerate_secret` }, 403, 'scope_not_granted');
  });

  test('missing or malformed arguments are refused before anything is written', async () => {
    await refused(OP.create, { token: alpha.token, path: `organizations/${alpha.id}/api_tokens` }, 400, 'missing_required_argument');
    const bad = await refused(
      OP.create,
      { token: alpha.token, json: { organization: { id: alpha.id }, properties: { scopes: 'disks', expires_at: 'tomorrow' } } },
      400,
      'invalid_argument',
    );
    assert.ok(bad.detail.path, JSON.stringify(bad));
    await refused(OP.update, { token: alpha.token, json: { api_token: { id: 'apitoken_x' } } }, 400, 'missing_required_argument');
  });

  test("a suspended organization's token: organization_suspended (403) on every token endpoint", async () => {
    const gamma = await service.createOrganization('Gamma');
    await service.services.inventory.setSuspended(gamma.id, true);
    for (const op of Object.values(OP)) {
      const result = await call(op, { token: gamma.token, path: op.path.slice(1).replace('organization/', `${gamma.id}/`) });
      assert.equal(result.status, 403, result.text);
      assert.equal(result.body.error.code, 'organization_suspended');
    }
  });
});

describe('API tokens in the served OpenAPI document', () => {
  test('both served documents offer only the bearer token, saying where tokens come from; no OAuth2', async () => {
    const service = await TestService.start('sqlite');
    try {
      for (const path of ['/core/v1/openapi.json', '/ext/v1/openapi.json']) {
        const served = (await service.call('GET', path)).body;
        assert.deepEqual(served.security, [{ Authenticator: [] }], path);
        assert.deepEqual(Object.keys(served.components.securitySchemes), ['Authenticator'], path);
        const scheme = served.components.securitySchemes.Authenticator;
        assert.deepEqual([scheme.type, scheme.scheme], ['http', 'bearer'], path);
        assert.match(scheme.description, /`dbp token create`/, path);
        assert.match(scheme.description, /\/core\/v1\/organizations\/organization\/api_tokens/, path);
        const text = JSON.stringify(served);
        for (const sign of ['"oauth2"', 'identity.krystal.io', 'api.katapult.io/core/v1/']) assert.ok(!text.includes(sign), `${path} has no ${sign}`);
      }
    } finally {
      await service.stop();
    }
  });

  test('each operation has the official operation id, tag, scopes, arguments, answer fields and error statuses', async () => {
    const official = JSON.parse(readFileSync(OFFICIAL_INTERFACE_URL, 'utf8'));
    const service = await TestService.start('sqlite');
    try {
      const served = (await service.call('GET', 'openapi.json')).body;
      const resolve = (document: any, node: any): any => {
        let current = node;
        while (current?.$ref) current = current.$ref.slice(2).split('/').reduce((at: any, part: string) => at?.[part], document);
        return current;
      };
      const bodyOf = (document: any, operation: any) => resolve(document, operation.requestBody?.content['application/json'].schema);
      const answerOf = (document: any, operation: any) => resolve(document, operation.responses['200'].content['application/json'].schema);
      for (const { method, path } of Object.values(OP)) {
        const label = `${method} ${path}`;
        const mine = served.paths[path]?.[method.toLowerCase()];
        const theirs = official.paths[path][method.toLowerCase()];
        assert.ok(mine, `${label} is served`);
        for (const key of ['operationId', 'tags']) assert.deepEqual(mine[key], theirs[key], `${label} ${key}`);
        // The official document lists the bearer scheme's scopes in `security`; this service, which takes
        // only bearer tokens, lists them in `x-scopes` (a bearer scheme has no scopes in OpenAPI 3.0).
        const officialScopes = theirs.security.find((s: any) => s.Authenticator).Authenticator;
        assert.deepEqual(mine['x-scopes'], officialScopes, `${label} scopes`);
        if (method !== 'GET') {
          assert.deepEqual(Object.keys(bodyOf(served, mine).properties), Object.keys(bodyOf(official, theirs).properties), `${label} arguments`);
          assert.deepEqual(bodyOf(served, mine).required, bodyOf(official, theirs).required, `${label} required arguments`);
        } else {
          const names = (operation: any) => operation.parameters.map((p: any) => p.name);
          assert.deepEqual(names(mine), names(theirs), `${label} parameters`);
        }
        const fields = (document: any, operation: any) => {
          const answer = answerOf(document, operation);
          return Object.fromEntries(Object.entries(answer.properties).map(([name, schema]: [string, any]) => {
            const object = resolve(document, schema.allOf?.[0] ?? schema.items ?? schema);
            return [name, Object.keys(resolve(document, object.items ?? object).properties ?? {})];
          }));
        };
        assert.deepEqual(fields(served, mine), fields(official, theirs), `${label} answer fields`);
        const servedStatuses = Object.keys(mine.responses).filter((s) => s !== '200');
        const officialStatuses = Object.keys(theirs.responses).filter((s) => s !== '200');
        assert.deepEqual(servedStatuses.filter((s) => !officialStatuses.includes(s)), [], `${label}: no status the official document lacks`);
      }
    } finally {
      await service.stop();
    }
  });
});
