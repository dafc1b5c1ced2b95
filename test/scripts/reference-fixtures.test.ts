/**
 * scripts/make-reference-fixtures.ts on a small made-up document (the official ones are not in the
 * repository): what it keeps and strips, that it is deterministic; and that the committed fixtures
 * name their source and cover every served Core API endpoint.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { coreEndpoints } from '../../src/api/core/v1/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = 'scripts/make-reference-fixtures.ts';
const work = mkdtempSync(join(tmpdir(), 'dbp-fixtures-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

const made = {
  openapi: '3.0.0',
  info: { 'x-katapult-version': '9.8.7', version: '1.0.0', title: 'Made up', description: 'Prose' },
  paths: {
    '/organizations': {
      get: {
        operationId: 'get:organizations',
        summary: 'List organizations',
        description: 'Long prose',
        tags: ['Organizations'],
        security: [{ Authenticator: ['organizations:read'] }],
        parameters: [{ in: 'query', name: 'page', schema: { type: 'integer' }, description: 'The page', example: 2 }],
        responses: {
          '200': { description: 'OK', content: { 'application/json': { schema: { $ref: '#/components/schemas/List' } } } },
          '404': { $ref: '#/components/responses/NotFound' },
        },
      },
    },
    '/not_served': { get: { operationId: 'get:not_served', responses: { '200': { $ref: '#/components/responses/Unused' } } } },
  },
  components: {
    schemas: {
      List: { type: 'object', description: 'A list', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Item' } } } },
      Item: { type: 'object', title: 'Item', properties: { description: { type: 'string', description: 'a field called description' } }, required: ['description'] },
      Unused: { type: 'string' },
    },
    responses: {
      NotFound: { description: 'Not found', content: { 'application/json': { schema: { properties: { code: { type: 'string', enum: ['x_not_found'] } } } } } },
      Unused: { description: 'Unused' },
    },
    securitySchemes: { Authenticator: { type: 'http', scheme: 'bearer' } },
  },
};
const native = {
  objects: [
    { type: 'endpoint', value: { id: 'CoreAPI/Endpoints/Organizations/ListEndpoint', scopes: ['organizations:read'], description: 'Prose' } },
    { type: 'endpoint', value: { id: 'CoreAPI/Endpoints/NotServed', scopes: ['other'] } },
    { type: 'object', value: { id: 'CoreAPI/Objects/Organization' } },
  ],
};

function run(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8' });
}

test('keeps the served operations, their facts and the components they reference; strips documentation; same bytes twice', () => {
  const documentPath = join(work, 'made-up-openapi.json');
  const nativePath = join(work, 'made-up-native.json');
  writeFileSync(documentPath, JSON.stringify(made));
  writeFileSync(nativePath, JSON.stringify(native));
  const out = join(work, 'out');
  const first = run(documentPath, nativePath, '--out', out);
  assert.equal(first.status, 0, first.stderr);
  const bytes = readFileSync(join(out, 'official-openapi-interface.json'), 'utf8');
  const nativeBytes = readFileSync(join(out, 'native-schema-interface.json'), 'utf8');
  assert.equal(run(documentPath, nativePath, '--out', out).status, 0);
  assert.equal(readFileSync(join(out, 'official-openapi-interface.json'), 'utf8'), bytes, 'deterministic');
  assert.equal(readFileSync(join(out, 'native-schema-interface.json'), 'utf8'), nativeBytes, 'deterministic');

  const fixture = JSON.parse(bytes);
  assert.deepEqual(fixture['x-fixture'].source, { name: 'made-up-openapi.json', version: '9.8.7' });
  assert.equal(fixture['x-fixture'].script, SCRIPT);
  assert.deepEqual(Object.keys(fixture.paths), ['/organizations'], 'only paths this service serves');
  assert.deepEqual(fixture.paths['/organizations'].get, {
    operationId: 'get:organizations',
    tags: ['Organizations'],
    security: [{ Authenticator: ['organizations:read'] }],
    parameters: [{ in: 'query', name: 'page', schema: { type: 'integer' } }],
    responses: {
      '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/List' } } } },
      '404': { $ref: '#/components/responses/NotFound' },
    },
  });
  assert.deepEqual(fixture.components, {
    schemas: {
      List: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Item' } } } },
      Item: { type: 'object', properties: { description: { type: 'string' } }, required: ['description'] },
    },
    responses: { NotFound: { content: { 'application/json': { schema: { properties: { code: { type: 'string', enum: ['x_not_found'] } } } } } } },
  });

  const nativeFixture = JSON.parse(nativeBytes);
  assert.deepEqual(nativeFixture['x-fixture'].source, { name: 'made-up-native.json', version: '9.8.7' });
  assert.deepEqual(nativeFixture.endpoints, { 'CoreAPI/Endpoints/Organizations/ListEndpoint': ['organizations:read'] });
});

test('without a document it prints its usage and exits 2', () => {
  const result = run();
  assert.equal(result.status, 2);
  assert.match(result.stderr, /^usage: node --import tsx scripts\/make-reference-fixtures\.ts <openapi\.json>/);
});

test('the committed fixtures name their source (2.68.0) and hold every served Core API operation', () => {
  const fixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/official-openapi-interface.json'), 'utf8'));
  const nativeFixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/native-schema-interface.json'), 'utf8'));
  assert.deepEqual(fixture['x-fixture'].source, { name: 'katapult-core-openapi-2.68.0.json', version: '2.68.0' });
  assert.equal(nativeFixture['x-fixture'].source.version, '2.68.0');
  for (const endpoint of coreEndpoints) {
    const path = `/${endpoint.route.replace(/:([a-z_]+)/g, '$1')}`;
    assert.ok(fixture.paths[path]?.[endpoint.method.toLowerCase()], `${endpoint.method} ${path} is in the fixture (regenerate it: see ${SCRIPT})`);
  }
});
