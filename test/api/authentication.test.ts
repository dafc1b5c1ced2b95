/**
 * Who may call: the Bearer token, its expiry, its organization's suspension, its scopes (every one of
 * the 21 endpoints, table-driven), its rate limit — and that the database never holds a secret in clear.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { coreEndpoints } from '../../src/api/core/v1/index.js';
import type { EndpointDefinition } from '../../src/api/framework/endpoint.js';
import { ALL_SCOPES } from '../../src/domain/scopes.js';
import { forEachEngine, TEST_NOW, TestService, type CallResult, type TestOrganization } from '../support/harness.js';

/**
 * Each served endpoint's scopes in the real API's native schema, and the official OpenAPI document's
 * interface, as the committed fixtures keep them (made by scripts/make-reference-fixtures.ts).
 */
const NATIVE_SCHEMA = new URL('../fixtures/native-schema-interface.json', import.meta.url);
const OPENAPI_DOCUMENT = new URL('../fixtures/official-openapi-interface.json', import.meta.url);

/** The endpoint's route with every placeholder filled by `_`, as real clients call it. */
function pathOf(endpoint: EndpointDefinition): string {
  return endpoint.route.replace(/:[a-z_]+/g, '_');
}

function assertError(result: CallResult, status: number, code: string): void {
  assert.equal(result.status, status, `expected ${status} ${code}, got ${result.status}: ${result.text}`);
  assert.equal(result.body?.error?.code, code, result.text);
  assert.equal(result.headers.get('x-api-schema'), 'json-error');
}

forEachEngine('authentication', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Auth');
  });
  after(() => service.stop());

  // ---- The Authorization header ----------------------------------------------------------------

  test('a request without an Authorization header is refused with missing_api_token', async () => {
    const result = await service.call('GET', 'organizations');
    assertError(result, 400, 'missing_api_token');
  });

  test('an Authorization header with another scheme than Bearer counts as no token', async () => {
    for (const header of [`Basic ${Buffer.from(`x:${org.token}`).toString('base64')}`, `Token ${org.token}`, org.token]) {
      const result = await service.call('GET', 'organizations', { headers: { authorization: header } });
      assertError(result, 400, 'missing_api_token');
    }
  });

  test('an empty Authorization header or a Bearer without a secret counts as no token', async () => {
    for (const header of ['', 'Bearer', 'Bearer    ']) {
      const result = await service.call('GET', 'organizations', { headers: { authorization: header } });
      assertError(result, 400, 'missing_api_token');
    }
  });

  test('the Bearer scheme is accepted in any letter case', async () => {
    const result = await service.call('GET', 'organizations', { headers: { authorization: `bearer ${org.token}` } });
    assert.equal(result.status, 200, result.text);
  });

  test('an unknown secret is refused with invalid_api_token and detail {details: null}', async () => {
    const result = await service.call('GET', 'organizations', { token: 'not-a-real-secret-0123456789' });
    assertError(result, 403, 'invalid_api_token');
    assert.deepEqual(result.body.error.detail, { details: null });
  });

  test('a secret that differs from a real one by one character is refused', async () => {
    const last = org.token.at(-1) === 'a' ? 'b' : 'a';
    const result = await service.call('GET', 'organizations', { token: `${org.token.slice(0, -1)}${last}` });
    assertError(result, 403, 'invalid_api_token');
  });

  test('an expired token is refused with invalid_api_token', async () => {
    const expiring = await service.services.tokens.create({ organizationId: org.id, name: 'expired' });
    await service.runtime.store.db.updateTable('api_tokens').set({ expires_at: TEST_NOW - 1 }).where('id', '=', expiring.token.id).execute();
    const result = await service.call('GET', 'organizations', { token: expiring.secret });
    assertError(result, 403, 'invalid_api_token');
    assert.ok('details' in result.body.error.detail, result.text);
  });

  test('a token that expires in the future still works', async () => {
    const expiring = await service.services.tokens.create({ organizationId: org.id, name: 'not yet expired' });
    await service.runtime.store.db.updateTable('api_tokens').set({ expires_at: TEST_NOW + 60 }).where('id', '=', expiring.token.id).execute();
    const result = await service.call('GET', 'organizations', { token: expiring.secret });
    assert.equal(result.status, 200, result.text);
  });

  test("a suspended organization's token is refused with organization_suspended", async () => {
    const suspended = await service.createOrganization('Suspended');
    const before = await service.call('GET', 'organizations', { token: suspended.token });
    assert.equal(before.status, 200, before.text);
    await service.runtime.store.db.updateTable('organizations').set({ suspended: 1 }).where('id', '=', suspended.id).execute();
    const result = await service.call('GET', 'organizations', { token: suspended.token });
    assertError(result, 403, 'organization_suspended');
  });

  test('authentication is checked before arguments: a bad token with no arguments is invalid_api_token', async () => {
    const result = await service.call('GET', 'disks/_/disk_backup_policies', { token: 'unknown-secret' });
    assertError(result, 403, 'invalid_api_token');
  });

  // ---- Scopes, over every endpoint -------------------------------------------------------------

  test('there are 26 endpoints to check', () => {
    assert.equal(coreEndpoints.length, 26);
  });

  test("every endpoint's accepted scopes are those of the real API (native schema, else the official OpenAPI)", () => {
    const native = JSON.parse(readFileSync(NATIVE_SCHEMA, 'utf8')) as { endpoints: Record<string, string[]> };
    const real = new Map(Object.entries(native.endpoints));
    // The native schema has no API token endpoints; OpenAPI 2.68 lists their scopes as `security`.
    const openApi = JSON.parse(readFileSync(OPENAPI_DOCUMENT, 'utf8')) as {
      paths: Record<string, Record<string, { security?: { Authenticator?: string[] }[] }>>;
    };
    const documented = (endpoint: (typeof coreEndpoints)[number]) =>
      openApi.paths[`/${endpoint.route.replace(/:([a-z_]+)/g, '$1')}`]?.[endpoint.method.toLowerCase()]?.security?.find((s) => s.Authenticator)?.Authenticator;
    for (const endpoint of coreEndpoints) {
      const expected = real.get(endpoint.id) ?? documented(endpoint) ?? ['<in neither document>'];
      assert.deepEqual([...endpoint.scopes].sort(), [...expected].sort(), endpoint.id);
    }
  });

  test('read endpoints accept the `:read` scope and the manage scope; writes accept no `:read` scope', () => {
    for (const endpoint of coreEndpoints) {
      const label = `${endpoint.method} ${endpoint.route}`;
      assert.ok(endpoint.scopes.length > 0, `${label} must need a scope`);
      if (endpoint.method === 'GET') {
        const read = endpoint.scopes.filter((s) => s.endsWith(':read'));
        assert.equal(read.length, 1, `${label} must accept exactly one :read scope`);
        const manage = read[0]!.slice(0, -':read'.length);
        const expected = (ALL_SCOPES as readonly string[]).includes(manage) ? [manage, read[0]] : [read[0]];
        assert.deepEqual([...endpoint.scopes].sort(), [...expected].sort(), label);
      } else {
        assert.deepEqual(endpoint.scopes.filter((s) => s.endsWith(':read')), [], label);
      }
    }
  });

  for (const endpoint of coreEndpoints) {
    const label = `${endpoint.method} ${endpoint.route}`;

    test(`${label}: a token with no scopes gets scope_not_granted naming the accepted scopes`, async () => {
      const token = await service.createToken(org.id, []);
      const result = await service.call(endpoint.method, pathOf(endpoint), { token });
      assertError(result, 403, 'scope_not_granted');
      assert.deepEqual(result.body.error.detail, { scopes: [...endpoint.scopes] });
    });

    test(`${label}: a token with every scope but the accepted ones gets scope_not_granted`, async () => {
      const others = ALL_SCOPES.filter((s) => !endpoint.scopes.includes(s));
      const token = await service.createToken(org.id, others);
      const result = await service.call(endpoint.method, pathOf(endpoint), { token });
      assertError(result, 403, 'scope_not_granted');
    });

    test(`${label}: a token with any one of the accepted scopes passes the scope check`, async () => {
      for (const scope of endpoint.scopes) {
        const token = await service.createToken(org.id, [scope]);
        const result = await service.call(endpoint.method, pathOf(endpoint), { token });
        assert.notEqual(result.body?.error?.code, 'scope_not_granted', `${scope}: ${result.text}`);
        assert.ok(result.status < 500, `${scope}: ${result.status} ${result.text}`);
      }
    });
  }

  test('a read-only policy token can read a policy but not change, create or delete it', async () => {
    const disk = await service.createDisk(org.id);
    const policy = await service.createPolicy(org.token, disk.id);
    const token = await service.createToken(org.id, ['disk_backup_policies:read']);
    const read = await service.call('GET', `disk_backup_policies/${policy.id}`, { token });
    assert.equal(read.status, 200, read.text);
    const update = await service.call('PATCH', 'disk_backup_policies/_', {
      token,
      json: { disk_backup_policy: { id: policy.id }, properties: { retention: 9 } },
    });
    assertError(update, 403, 'scope_not_granted');
    assert.deepEqual(update.body.error.detail, { scopes: ['disk_backup_policies'] });
    const create = await service.call('POST', `disks/${disk.id}/disk_backup_policies`, { token, json: { properties: { retention: 1 } } });
    assertError(create, 403, 'scope_not_granted');
    const remove = await service.call('DELETE', `disk_backup_policies/${policy.id}`, { token });
    assertError(remove, 403, 'scope_not_granted');
    const after = await service.call('GET', `disk_backup_policies/${policy.id}`, { token });
    assert.equal(after.body.disk_backup_policy.retention, read.body.disk_backup_policy.retention);
  });

  // ---- Rate limit ------------------------------------------------------------------------------

  test('a default token is permitted 1000 requests a minute, as observed on the real API', async () => {
    const token = await service.createToken(org.id, ['organizations:read']);
    const result = await service.call('GET', 'organizations', { token });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('x-ratelimit-permitted'), '1000');
    assert.equal(result.headers.get('x-ratelimit-remaining'), '999');
  });

  test('a token with rate limit 3 is answered three times, then refused with rate_limit_reached', async () => {
    const token = await service.createToken(org.id, ['organizations:read'], 3);
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await service.call('GET', 'organizations', { token });
      assert.equal(result.status, 200, result.text);
      assert.equal(result.headers.get('x-ratelimit-permitted'), '3');
      remaining.push(result.headers.get('x-ratelimit-remaining'));
    }
    assert.deepEqual(remaining, ['2', '1', '0']);

    const refused = await service.call('GET', 'organizations', { token });
    assertError(refused, 429, 'rate_limit_reached');
    assert.deepEqual(refused.body.error.detail, { total_permitted: 3 });
    assert.equal(refused.headers.get('x-ratelimit-permitted'), '3');
    assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
    // Windows are whole minutes (the test clock stands at a minute's start): the next opens in 60 s.
    assert.equal(TEST_NOW % 60, 0);
    assert.equal(refused.headers.get('retry-after'), '60');
  });

  test('errors after authentication count against the rate limit too', async () => {
    const token = await service.createToken(org.id, ['disks:read'], 2);
    const first = await service.call('GET', 'disks/_', { token, query: 'disk[id]=disk_missing' });
    assertError(first, 404, 'disk_not_found');
    assert.equal(first.headers.get('x-ratelimit-remaining'), '1');
    await service.call('GET', 'disks/_', { token, query: 'disk[id]=disk_missing' });
    assertError(await service.call('GET', 'disks/_', { token, query: 'disk[id]=disk_missing' }), 429, 'rate_limit_reached');
  });

  test("one token's exhausted rate limit does not affect another token", async () => {
    const exhausted = await service.createToken(org.id, ['organizations:read'], 1);
    const other = await service.createToken(org.id, ['organizations:read'], 1);
    await service.call('GET', 'organizations', { token: exhausted });
    assertError(await service.call('GET', 'organizations', { token: exhausted }), 429, 'rate_limit_reached');
    assert.equal((await service.call('GET', 'organizations', { token: other })).status, 200);
  });

  test('the rate limit starts afresh in the next minute', async () => {
    const token = await service.createToken(org.id, ['organizations:read'], 1);
    await service.call('GET', 'organizations', { token });
    assertError(await service.call('GET', 'organizations', { token }), 429, 'rate_limit_reached');
    service.clock.advance(60);
    try {
      const result = await service.call('GET', 'organizations', { token });
      assert.equal(result.status, 200, result.text);
      assert.equal(result.headers.get('x-ratelimit-remaining'), '0');
    } finally {
      service.clock.set(TEST_NOW);
    }
  });

  // ---- Secrets at rest -------------------------------------------------------------------------

  test('the database holds no token secret in clear', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) {
      created.push(await service.services.tokens.create({ organizationId: org.id, name: `at-rest-${i}-${Date.now()}` }));
    }
    if (service.engine === 'sqlite') {
      const location = service.runtime.store.location;
      // The main file and its WAL/SHM companions: a fresh row sits in the WAL until a checkpoint.
      const files = readdirSync(dirname(location)).filter((f) => f.startsWith(basename(location)));
      const bytes = Buffer.concat(files.map((f) => readFileSync(join(dirname(location), f))));
      for (const { token, secret } of created) {
        assert.ok(bytes.includes(token.name), 'the token rows must be in the files read (else this proves nothing)');
        assert.equal(bytes.includes(secret), false, `secret of ${token.id} found in clear in ${files.join(', ')}`);
      }
    } else {
      const rows = JSON.stringify((await sql`select * from api_tokens`.execute(service.runtime.store.db)).rows);
      for (const { token, secret } of created) {
        assert.ok(rows.includes(token.id));
        assert.equal(rows.includes(secret), false, `secret of ${token.id} found in clear in api_tokens`);
      }
    }
    // And each secret still authenticates (what is stored is enough to check it).
    for (const { secret } of created) assert.equal((await service.services.tokens.authenticate(secret)).ok, true);
  });
});
