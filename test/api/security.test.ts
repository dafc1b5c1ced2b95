/**
 * The security table: for EVERY endpoint in `coreEndpoints` (the table is derived from the
 * definitions, so a new endpoint is covered without a line here), the exact status and code for
 *   - each scope combination: none, the resource's read scope, its manage scope(s), an unrelated scope;
 *   - no token, a token of another organization, an expired token, a token used from a network it does
 *     not allow, a token of a suspended organization, a token whose rate limit is spent;
 * and that none of these requests changed anything. After the table: no secret made during the suite
 * is in the database file (SQLite: the bytes of the file and its -wal/-shm companions).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { coreEndpoints } from '../../src/api/core/v1/index.js';
import type { EndpointDefinition } from '../../src/api/framework/endpoint.js';
import type { ArgumentDefinition, LookupType } from '../../src/api/framework/types.js';
import { ALL_SCOPES } from '../../src/domain/scopes.js';
import { forEachEngine, TEST_NOW, TestService, type CallResult, type TestOrganization } from '../support/harness.js';

/** The objects of one organization that lookups can name, by lookup definition id. */
type LookupTargets = Record<string, string>;

interface Expectation {
  readonly status: number;
  readonly code: string | null;
}

const resourceOf = (scope: string) => scope.replace(/:.*$/, '');

/** The scope combinations each endpoint is tried with, derived from its scopes and the known ones. */
function scopeCombinations(endpoint: EndpointDefinition): { label: string; scopes: string[] }[] {
  const resource = resourceOf(endpoint.scopes[0]!);
  const known = ALL_SCOPES as readonly string[];
  const combinations = [{ label: 'no scope', scopes: [] as string[] }];
  if (known.includes(`${resource}:read`)) combinations.push({ label: 'the read scope', scopes: [`${resource}:read`] });
  for (const manage of known.filter((s) => resourceOf(s) === resource && !s.endsWith(':read'))) {
    combinations.push({ label: `the manage scope ${manage}`, scopes: [manage] });
  }
  const unrelated = known.find((s) => resourceOf(s) !== resource)!;
  combinations.push({ label: `an unrelated scope (${unrelated})`, scopes: [unrelated] });
  return combinations;
}

function lookupArguments(endpoint: EndpointDefinition): [string, LookupType<unknown>][] {
  return Object.entries(endpoint.arguments as Record<string, ArgumentDefinition<any>>)
    .filter(([, argument]) => argument.type.kind === 'lookup')
    .map(([name, argument]) => [name, argument.type as LookupType<unknown>]);
}

/** A well-formed value for each other required argument, so that the request reaches its lookups. */
function otherRequiredArguments(endpoint: EndpointDefinition): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, argument] of Object.entries(endpoint.arguments as Record<string, ArgumentDefinition<any>>)) {
    if (!argument.required || argument.type.kind === 'lookup') continue;
    if (argument.type.kind === 'argument_set') values[name] = {};
    else if (argument.type.kind === 'scalar' && /Integer|UnixTime/.test(argument.type.id)) values[name] = TEST_NOW + 3600;
    else throw new Error(`${endpoint.id}: the security table cannot make a value for required argument ${name}; teach it`);
  }
  return values;
}

/** The lookup's own not-found error: what a permitted request naming a missing object gets. */
function notFoundOf(lookup: LookupType<unknown>): Expectation {
  const error = lookup.errors.find((e) => e.httpStatus === 404);
  if (!error) throw new Error(`${lookup.id} has no not-found error`);
  return { status: 404, code: error.code };
}

forEachEngine('security table', (engine) => {
  let service: TestService;
  let alpha: TestOrganization;
  let beta: TestOrganization;
  let alphaTargets: LookupTargets;
  const secrets: { id: string; secret: string }[] = [];
  const tokensByScopes = new Map<string, string>();
  let expired: string;
  let wrongNetwork: string;
  let suspended: string;
  let spent: string;

  async function token(organizationId: string, options: { scopes?: string[]; rateLimit?: number; authorizedIpAddresses?: string[] } = {}) {
    const made = await service.services.tokens.create({ organizationId, ...options });
    secrets.push({ id: made.token.id, secret: made.secret });
    return made;
  }

  function tokenWithScopes(scopes: string[]): string {
    return tokensByScopes.get(scopes.join(','))!;
  }

  before(async () => {
    service = await TestService.start(engine);
    alpha = await service.createOrganization('Alpha');
    beta = await service.createOrganization('Beta');
    const vm = await service.createVirtualMachine(alpha.id, 'alpha-vm');
    const disk = await service.createDisk(alpha.id, { name: 'alpha-disk' });
    const policy = await service.createPolicy(alpha.token, disk.id);
    const trashed = await service.createPolicy(alpha.token, (await service.createDisk(alpha.id)).id);
    await service.call('DELETE', `disk_backup_policies/${trashed.id}`, { token: alpha.token });
    const trashObject = (await service.call('GET', 'trash_objects/_', { token: alpha.token, query: `trash_object[object_id]=${trashed.id}` })).body.trash_object;
    const alphaToken = (await token(alpha.id, { scopes: ['disks:read'] })).token;
    alphaTargets = {
      'CoreAPI/ArgumentSets/OrganizationLookup': alpha.id,
      'CoreAPI/ArgumentSets/VirtualMachineLookup': vm.id,
      'CoreAPI/ArgumentSets/DiskLookup': disk.id,
      'CoreAPI/ArgumentSets/DiskBackupPolicyLookup': policy.id,
      'CoreAPI/ArgumentSets/TrashObjectLookup': trashObject.id,
      'CoreAPI/ArgumentSets/APITokenLookup': alphaToken.id,
    };

    const expiring = await token(alpha.id);
    await service.runtime.store.db.updateTable('api_tokens').set({ expires_at: TEST_NOW }).where('id', '=', expiring.token.id).execute();
    expired = expiring.secret;
    wrongNetwork = (await token(alpha.id, { authorizedIpAddresses: ['192.0.2.0/24', '2001:db8::/32'] })).secret;
    const gamma = await service.createOrganization('Gamma');
    suspended = (await token(gamma.id)).secret;
    await service.services.inventory.setSuspended(gamma.id, true);
    spent = (await token(alpha.id, { rateLimit: 1 })).secret;
    // Every token the table uses exists before it runs, so that the table itself writes nothing.
    for (const { scopes } of coreEndpoints.flatMap(scopeCombinations)) {
      const key = scopes.join(',');
      if (!tokensByScopes.has(key)) tokensByScopes.set(key, (await token(alpha.id, { scopes })).secret);
    }
    assert.equal((await service.call('GET', 'organizations', { token: spent })).status, 200);
  });
  after(() => service.stop());

  /** Calls the endpoint naming `targets` (or missing objects), with every other required argument well formed. */
  function request(endpoint: EndpointDefinition, secret: string | null, targets: LookupTargets | 'missing'): Promise<CallResult> {
    const args: Record<string, unknown> = otherRequiredArguments(endpoint);
    for (const [name, lookup] of lookupArguments(endpoint)) {
      const target = targets === 'missing' ? `${lookup.name.toLowerCase()}_missing` : targets[lookup.id];
      if (target === undefined) throw new Error(`${endpoint.id}: no ${lookup.id} object in the security fixtures; add one`);
      args[name] = { id: target };
    }
    const path = endpoint.route.replace(/:[a-z_]+/g, '_');
    if (endpoint.method === 'GET') {
      const query = Object.entries(args)
        .map(([name, value]) => `${name}[id]=${encodeURIComponent((value as { id: string }).id)}`)
        .join('&');
      return service.call('GET', path, { token: secret, query });
    }
    return service.call(endpoint.method, path, { token: secret, json: args });
  }

  function expect(result: CallResult, expected: Expectation, label: string): void {
    assert.equal(result.status, expected.status, `${label}: ${result.text}`);
    assert.equal(result.body?.error?.code ?? null, expected.code, `${label}: ${result.text}`);
    if (expected.code !== null) assert.equal(result.headers.get('x-api-schema'), 'json-error', label);
  }

  test('the table covers every endpoint, each with a lookup fixture or none needed', () => {
    assert.ok(coreEndpoints.length >= 26);
    for (const endpoint of coreEndpoints) {
      for (const [, lookup] of lookupArguments(endpoint)) assert.ok(alphaTargets[lookup.id], `${endpoint.id}: ${lookup.id}`);
      otherRequiredArguments(endpoint); // throws when a required argument is of a kind the table cannot fill
    }
  });

  for (const endpoint of coreEndpoints) {
    describe(`${endpoint.method} ${endpoint.route}`, () => {
      const lookups = lookupArguments(endpoint);
      /** What a request that passes every check but names missing objects gets. */
      const permitted = (): Expectation => (lookups.length > 0 ? notFoundOf(lookups[0]![1]) : { status: 200, code: null });
      let before: string;
      test('(database snapshot before the table)', async () => {
        before = await service.snapshot();
      });

      for (const { label, scopes } of scopeCombinations(endpoint)) {
        const granted = scopes.some((s) => endpoint.scopes.includes(s));
        test(`a token with ${label}: ${granted ? 'permitted' : '403 scope_not_granted'}`, async () => {
          const result = await request(endpoint, tokenWithScopes(scopes), 'missing');
          if (granted) return expect(result, permitted(), label);
          expect(result, { status: 403, code: 'scope_not_granted' }, label);
          assert.deepEqual(result.body.error.detail, { scopes: [...endpoint.scopes] });
        });
      }

      test('no token: 400 missing_api_token', async () => {
        expect(await request(endpoint, null, alphaTargets), { status: 400, code: 'missing_api_token' }, 'no token');
      });

      test("another organization's token with every scope: 403 permission_denied, revealing nothing", async () => {
        const result = await request(endpoint, beta.token, alphaTargets);
        if (lookups.length === 0) {
          // Nothing is named: the answer is the caller's own, and holds nothing of the other organization.
          assert.equal(result.status, 200, result.text);
          assert.equal(result.text.includes(alpha.id), false, result.text);
          return;
        }
        expect(result, { status: 403, code: 'permission_denied' }, 'another organization');
        assert.deepEqual(result.body.error.detail, { details: 'The object belongs to an organization this API token cannot act for' });
        for (const name of ['alpha-vm', 'alpha-disk', alpha.subDomain]) assert.equal(result.text.includes(name), false, result.text);
      });

      test('an expired token: 403 invalid_api_token', async () => {
        const result = await request(endpoint, expired, alphaTargets);
        expect(result, { status: 403, code: 'invalid_api_token' }, 'expired');
        assert.deepEqual(result.body.error.detail, { details: 'The API token has expired' });
      });

      test('a token from a network it does not allow: 403 unauthorized_network_for_api_token', async () => {
        const result = await request(endpoint, wrongNetwork, alphaTargets);
        expect(result, { status: 403, code: 'unauthorized_network_for_api_token' }, 'network');
        assert.deepEqual(result.body.error.detail, { ip_address: '127.0.0.1' });
      });

      test("a suspended organization's token: 403 organization_suspended", async () => {
        expect(await request(endpoint, suspended, alphaTargets), { status: 403, code: 'organization_suspended' }, 'suspended');
      });

      test('a token whose rate limit is spent: 429 rate_limit_reached', async () => {
        const result = await request(endpoint, spent, alphaTargets);
        expect(result, { status: 429, code: 'rate_limit_reached' }, 'rate limit');
        assert.deepEqual(result.body.error.detail, { total_permitted: 1 });
        assert.equal(result.headers.get('x-ratelimit-remaining'), '0');
      });

      test('(nothing above changed the database)', async () => {
        assert.equal(await service.snapshot(), before);
      });
    });
  }

  test('after the table: no secret made during the suite is in the database in clear', async () => {
    assert.ok(secrets.length >= 8);
    if (service.engine === 'sqlite') {
      const location = service.runtime.store.location;
      const files = readdirSync(dirname(location)).filter((f) => f.startsWith(basename(location)));
      assert.ok(files.some((f) => f.endsWith('-wal')), `the WAL is read too (${files.join(', ')})`);
      const bytes = Buffer.concat(files.map((f) => readFileSync(join(dirname(location), f))));
      for (const { id, secret } of secrets) {
        assert.ok(bytes.includes(id), `token ${id} is in the files read (else this proves nothing)`);
        assert.equal(bytes.includes(secret), false, `the secret of ${id} is in ${files.join(', ')}`);
      }
    } else {
      const rows = JSON.stringify((await sql`select * from api_tokens`.execute(service.runtime.store.db)).rows);
      for (const { id, secret } of secrets) {
        assert.ok(rows.includes(id));
        assert.equal(rows.includes(secret), false, `the secret of ${id} is in api_tokens`);
      }
    }
  });
});
