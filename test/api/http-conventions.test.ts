/**
 * What every answer of the service looks like on the wire, whatever the endpoint: the headers real
 * Core API traffic carries, the error envelope, routing misses, OPTIONS, bodies that are not
 * arguments, and the two service documents (`openapi.json`, `/healthz`).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { coreEndpoints } from '../../src/api/core/v1/index.js';
import { forEachEngine, TestService, type CallResult, type TestOrganization } from '../support/harness.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type',
};

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

function assertSuccessHeaders(result: CallResult, label: string): void {
  assert.equal(result.status, 200, `${label}: ${result.text}`);
  assert.equal(result.headers.get('content-type'), 'application/json', label);
  assert.equal(result.headers.get('cache-control'), 'max-age=0, private, must-revalidate', label);
  assert.equal(result.headers.get('etag'), `W/"${md5(result.text)}"`, label);
  assert.equal(result.headers.get('x-api-schema'), null, label);
}

function assertErrorHeaders(result: CallResult, label: string): void {
  assert.ok(result.status >= 400, `${label}: ${result.status}`);
  assert.equal(result.headers.get('content-type'), 'application/json', label);
  assert.equal(result.headers.get('cache-control'), 'no-cache', label);
  assert.equal(result.headers.get('x-api-schema'), 'json-error', label);
  assert.equal(result.headers.get('etag'), null, label);
  assert.deepEqual(Object.keys(result.body ?? {}), ['error'], `${label}: ${result.text}`);
  assert.deepEqual(Object.keys(result.body.error), ['code', 'description', 'detail'], label);
  assert.equal(typeof result.body.error.code, 'string', label);
}

forEachEngine('HTTP conventions', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let policyId: string;
  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Conventions');
    const disk = await service.createDisk(org.id);
    policyId = (await service.createPolicy(org.token, disk.id)).id;
  });
  after(() => service.stop());

  /** One response of each kind the service gives. */
  async function oneOfEachKind(): Promise<Record<string, CallResult>> {
    return {
      'success': await service.call('GET', 'organizations', { token: org.token }),
      'write success': await service.call('PATCH', `disk_backup_policies/${policyId}`, {
        token: org.token,
        json: { properties: { retention: 3 } },
      }),
      'missing token': await service.call('GET', 'organizations'),
      'invalid token': await service.call('GET', 'organizations', { token: 'nope' }),
      'not found after authentication': await service.call('GET', 'disks/_', { token: org.token, query: 'disk[id]=disk_missing' }),
      'argument error': await service.call('GET', 'disks/_/disk_backup_policies', { token: org.token, query: 'page=zero' }),
      'unknown route': await service.call('GET', 'no_such_thing', { token: org.token }),
      'openapi document': await service.call('GET', 'openapi.json'),
      'health check': await service.call('GET', '/healthz'),
      'options': await service.call('OPTIONS', 'organizations'),
    };
  }

  // ---- Headers on every response ---------------------------------------------------------------

  test('every response carries an x-request-id that is a UUID, different for each request', async () => {
    const responses = Object.entries(await oneOfEachKind());
    const ids = responses.map(([label, r]) => {
      const id = r.headers.get('x-request-id');
      assert.match(id ?? '', UUID, label);
      return id;
    });
    assert.equal(new Set(ids).size, ids.length, 'request ids must differ');
  });

  test('the same request made twice gets two request ids', async () => {
    const first = await service.call('GET', 'organizations', { token: org.token });
    const second = await service.call('GET', 'organizations', { token: org.token });
    assert.notEqual(first.headers.get('x-request-id'), second.headers.get('x-request-id'));
  });

  test('every response carries the three CORS headers exactly', async () => {
    for (const [label, result] of Object.entries(await oneOfEachKind())) {
      for (const [name, value] of Object.entries(CORS)) assert.equal(result.headers.get(name), value, `${label}: ${name}`);
    }
  });

  test('every response with a body is application/json with no charset, as in real traffic', async () => {
    for (const [label, result] of Object.entries(await oneOfEachKind())) {
      if (label === 'options') continue; // an empty body
      assert.equal(result.headers.get('content-type'), 'application/json', label);
      assert.doesNotThrow(() => JSON.parse(result.text), label);
    }
  });

  // ---- Successes -------------------------------------------------------------------------------

  test('a successful answer has a weak etag that is the md5 of its body, and the real cache-control', async () => {
    const responses = await oneOfEachKind();
    for (const label of ['success', 'write success', 'openapi document']) assertSuccessHeaders(responses[label]!, label);
  });

  test('a successful answer carries the rate-limit headers of its token', async () => {
    const result = await service.call('GET', 'organizations', { token: org.token });
    assert.match(result.headers.get('x-ratelimit-permitted') ?? '', /^\d+$/);
    assert.match(result.headers.get('x-ratelimit-remaining') ?? '', /^\d+$/);
  });

  test('a different body gets a different etag; the same body the same etag', async () => {
    const one = await service.call('GET', `disk_backup_policies/${policyId}`, { token: org.token });
    const again = await service.call('GET', `disk_backup_policies/${policyId}`, { token: org.token });
    const organizations = await service.call('GET', 'organizations', { token: org.token });
    assert.equal(one.headers.get('etag'), again.headers.get('etag'));
    assert.notEqual(one.headers.get('etag'), organizations.headers.get('etag'));
  });

  // ---- Errors ----------------------------------------------------------------------------------

  test('an error has cache-control no-cache, x-api-schema json-error, no etag and the error envelope', async () => {
    const responses = await oneOfEachKind();
    for (const label of ['missing token', 'invalid token', 'not found after authentication', 'argument error', 'unknown route']) {
      assertErrorHeaders(responses[label]!, label);
    }
  });

  test('an error after authentication carries the rate-limit headers, as recorded real errors do', async () => {
    const result = await service.call('GET', 'disks/_', { token: org.token, query: 'disk[id]=disk_missing' });
    assert.equal(result.body.error.code, 'disk_not_found');
    assert.match(result.headers.get('x-ratelimit-permitted') ?? '', /^\d+$/);
    assert.match(result.headers.get('x-ratelimit-remaining') ?? '', /^\d+$/);
  });

  // ---- OPTIONS ---------------------------------------------------------------------------------

  test('OPTIONS answers 200 with an empty body and the CORS headers, without a token', async () => {
    for (const path of ['organizations', `disk_backup_policies/${policyId}`, 'no_such_thing', '/anything/at/all']) {
      const result = await service.call('OPTIONS', path);
      assert.equal(result.status, 200, path);
      assert.equal(result.text, '', path);
      for (const [name, value] of Object.entries(CORS)) assert.equal(result.headers.get(name), value, `${path}: ${name}`);
      assert.match(result.headers.get('x-request-id') ?? '', UUID, path);
    }
  });

  test('a CORS preflight is answered 200 with the CORS headers', async () => {
    const result = await service.call('OPTIONS', 'disks/_/disk_backup_policies', {
      headers: { origin: 'https://example.com', 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('access-control-allow-origin'), '*');
  });

  // ---- Routing ---------------------------------------------------------------------------------

  test('an unknown path answers 404 route_not_found naming the path below /core/v1/ and the method', async () => {
    const result = await service.call('GET', 'no_such_thing/deeper', { token: org.token, query: 'a=1' });
    assert.equal(result.status, 404);
    assert.equal(result.body.error.code, 'route_not_found');
    assert.equal(result.body.error.description, "No route matches 'no_such_thing/deeper' for GET");
  });

  test('a known path with a method it does not have answers 404 route_not_found', async () => {
    const put = await service.call('PUT', 'organizations', { token: org.token });
    assert.equal(put.status, 404);
    assert.equal(put.body.error.code, 'route_not_found');
    assert.equal(put.body.error.description, "No route matches 'organizations' for PUT");
    const post = await service.call('POST', `disk_backup_policies/${policyId}`, { token: org.token, json: {} });
    assert.equal(post.body.error.code, 'route_not_found');
    assert.equal(post.body.error.description, `No route matches 'disk_backup_policies/${policyId}' for POST`);
  });

  test('the route is checked before the token: an unknown path without a token is route_not_found', async () => {
    const result = await service.call('DELETE', 'organizations');
    assert.equal(result.status, 404);
    assert.equal(result.body.error.code, 'route_not_found');
  });

  test(
    'a path that is not valid percent-encoding is answered in the error envelope with the usual headers',
    async () => {
      for (const path of ['/core/v1/disks/%E0%A4%A', '/core/v1/%zz']) {
        const result = await service.call('GET', path, { token: org.token });
        assert.ok(result.status >= 400 && result.status < 500, `${path}: ${result.status}`);
        assertErrorHeaders(result, path);
        for (const [name, value] of Object.entries(CORS)) assert.equal(result.headers.get(name), value, `${path}: ${name}`);
        assert.match(result.headers.get('x-request-id') ?? '', UUID, path);
      }
    },
  );

  test('a trailing slash is tolerated', async () => {
    const plain = await service.call('GET', `disk_backup_policies/${policyId}`, { token: org.token });
    const slashed = await service.call('GET', `disk_backup_policies/${policyId}/`, { token: org.token });
    assert.equal(slashed.status, 200, slashed.text);
    assert.equal(slashed.text, plain.text);
    const list = await service.call('GET', 'organizations/', { token: org.token });
    assert.equal(list.status, 200, list.text);
  });

  // ---- Bodies ----------------------------------------------------------------------------------

  test('malformed JSON answers 400 invalid_json_body with detail.details and changes nothing', async () => {
    const before = await service.snapshot();
    const result = await service.call('PATCH', `disk_backup_policies/${policyId}`, {
      token: org.token,
      body: '{"properties": {"retention": 9',
      contentType: 'application/json',
    });
    assert.equal(result.status, 400, result.text);
    assert.equal(result.body.error.code, 'invalid_json_body');
    assert.equal(typeof result.body.error.detail.details, 'string');
    assert.notEqual(result.body.error.detail.details, '');
    assertErrorHeaders(result, 'invalid_json_body');
    assert.equal(await service.snapshot(), before);
  });

  test('malformed JSON from a caller without a token is missing_api_token: the token is checked first', async () => {
    const result = await service.call('PATCH', `disk_backup_policies/${policyId}`, { body: '{', contentType: 'application/json' });
    assert.equal(result.status, 400);
    assert.equal(result.body.error.code, 'missing_api_token');
  });

  test('a JSON content type with an empty body counts as no arguments', async () => {
    const result = await service.call('DELETE', 'disk_backup_policies/_/schedule', {
      token: org.token,
      body: '',
      contentType: 'application/json',
    });
    assert.notEqual(result.body.error.code, 'invalid_json_body', result.text);
    assert.ok(result.status < 500, result.text);
  });

  test('a JSON body that is an array, a string, a number or null counts as no arguments', async () => {
    for (const body of ['[{"properties":{"retention":9}}]', '"properties"', '42', 'null']) {
      // Arguments inside such a body are not read…
      const ignored = await service.call('PATCH', `disk_backup_policies/${policyId}`, { token: org.token, body, contentType: 'application/json' });
      assert.equal(ignored.status, 400, `${body}: ${ignored.text}`);
      assert.equal(ignored.body.error.code, 'missing_required_argument', body);
      // …and the query string's still are.
      const fromQuery = await service.call('PATCH', `disk_backup_policies/${policyId}`, {
        token: org.token,
        query: 'properties[retention]=4',
        body,
        contentType: 'application/json',
      });
      assert.equal(fromQuery.status, 200, `${body}: ${fromQuery.text}`);
      assert.equal(fromQuery.body.disk_backup_policy.retention, 4);
    }
  });

  test('a body that is not JSON is ignored: its content type carries no arguments', async () => {
    for (const contentType of ['text/plain', 'application/octet-stream', 'application/xml']) {
      const ignored = await service.call('PATCH', `disk_backup_policies/${policyId}`, {
        token: org.token,
        body: '{"properties":{"retention":9}}',
        contentType,
      });
      assert.equal(ignored.status, 400, `${contentType}: ${ignored.text}`);
      assert.equal(ignored.body.error.code, 'missing_required_argument', contentType);
      const fromQuery = await service.call('PATCH', `disk_backup_policies/${policyId}`, {
        token: org.token,
        query: 'properties[retention]=5',
        body: 'this is not { JSON',
        contentType,
      });
      assert.equal(fromQuery.status, 200, `${contentType}: ${fromQuery.text}`);
      assert.equal(fromQuery.body.disk_backup_policy.retention, 5);
    }
  });

  test('a JSON body over 1 MiB is refused with a clean 4xx error, not a 500, and changes nothing', async () => {
    const before = await service.snapshot();
    const body = JSON.stringify({ properties: { retention: 9 }, padding: 'x'.repeat(1024 * 1024 + 10) });
    const result = await service.call('PATCH', `disk_backup_policies/${policyId}`, { token: org.token, body, contentType: 'application/json' });
    assert.ok(result.status >= 400 && result.status < 500, `${result.status}: ${result.text.slice(0, 300)}`);
    assertErrorHeaders(result, 'oversized body');
    assert.notEqual(result.body.error.code, 'unhandled_exception');
    assert.equal(await service.snapshot(), before);
  });

  test('a JSON body just under 1 MiB is accepted', async () => {
    const body = JSON.stringify({ properties: { retention: 3 }, padding: 'x'.repeat(1024 * 1024 - 200) });
    const result = await service.call('PATCH', `disk_backup_policies/${policyId}`, { token: org.token, body, contentType: 'application/json' });
    assert.equal(result.status, 200, result.text.slice(0, 300));
  });

  // ---- Service documents -----------------------------------------------------------------------

  test('GET /core/v1/openapi.json answers an OpenAPI 3.0 document with all 26 endpoints', async () => {
    const result = await service.call('GET', 'openapi.json');
    assert.equal(result.status, 200);
    assert.match(String(result.body.openapi), /^3\.0\.\d+$/);
    assert.equal(coreEndpoints.length, 26);
    let operations = 0;
    for (const endpoint of coreEndpoints) {
      const path = `/${endpoint.route.replace(/:/g, '')}`;
      assert.ok(result.body.paths[path], `missing path ${path}`);
      assert.ok(result.body.paths[path][endpoint.method.toLowerCase()], `missing ${endpoint.method} ${path}`);
      operations += 1;
    }
    const documented = Object.values(result.body.paths as Record<string, object>).reduce((n, ops) => n + Object.keys(ops).length, 0);
    assert.equal(documented, operations, 'the document lists exactly the served endpoints');
  });

  test('/healthz answers 200: ready, serving, its database reachable', async () => {
    const result = await service.call('GET', '/healthz');
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-type'), 'application/json');
    assert.equal(result.body.ready, true);
    assert.equal(result.body.status, 'serving');
    assert.equal(result.body.database, 'reachable');
  });
});
