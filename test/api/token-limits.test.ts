/**
 * A token manages only tokens within its own limits (issue 15, defect 10): through HTTP, a matrix of
 * creator limits × requested token for create, and creator × existing token for update, regenerate
 * and delete. Scopes ⊆ its own; networks inside its own allow-list when it has one; expiry no later
 * than its own when it has one. Requested values beyond it: validation_error (422, as for a scope or
 * rate limit it cannot grant); acting on a token beyond it: permission_denied (403). A refusal
 * changes nothing. Tokens made by the operator (service layer without a grantor, as the CLI) are
 * unrestricted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachEngine, TEST_NOW, TestService, type TestOrganization } from '../support/harness.js';

const EXPIRY = TEST_NOW + 3600;

interface Limits {
  scopes: string[];
  authorized_ip_addresses: string[];
  expires_at: number | null;
}

/** The creators: the test client is 127.0.0.1, so each allows it. */
const CREATORS: Record<string, Limits> = {
  limited: { scopes: ['api_tokens', 'disks:read'], authorized_ip_addresses: ['127.0.0.0/8', '10.0.0.0/8', '2001:db8::/32'], expires_at: EXPIRY },
  'scopes only': { scopes: ['api_tokens', 'disks:read'], authorized_ip_addresses: [], expires_at: null },
};

interface CreateCase {
  creator: keyof typeof CREATORS;
  requested: Record<string, unknown>;
  /** null: created; else the validation error sentence expected. */
  refusal: string | null;
  /** What the created token must hold (when created). */
  holds?: Partial<Limits>;
}

const CREATE_CASES: CreateCase[] = [
  { creator: 'limited', requested: {}, refusal: null, holds: { authorized_ip_addresses: CREATORS.limited!.authorized_ip_addresses, expires_at: EXPIRY } },
  { creator: 'limited', requested: { expires_at: EXPIRY - 60, authorized_ip_addresses: ['10.1.0.0/16', '127.0.0.1', '2001:db8:1::/48'] }, refusal: null },
  { creator: 'limited', requested: { expires_at: EXPIRY }, refusal: null, holds: { expires_at: EXPIRY } },
  { creator: 'limited', requested: { expires_at: null }, refusal: 'Expires at cannot be empty (never) when the API token granting it expires' },
  { creator: 'limited', requested: { expires_at: EXPIRY + 1 }, refusal: `Expires at cannot be later than that of the API token granting it (${EXPIRY})` },
  { creator: 'limited', requested: { authorized_ip_addresses: [] }, refusal: 'Authorized IP addresses cannot be empty (any network) when the API token granting it has a list' },
  { creator: 'limited', requested: { authorized_ip_addresses: ['0.0.0.0/0'] }, refusal: 'Authorized IP addresses: 0.0.0.0/0 is outside the networks of the API token granting it' },
  { creator: 'limited', requested: { authorized_ip_addresses: ['10.0.0.1', '10.0.0.0/7'] }, refusal: 'Authorized IP addresses: 10.0.0.0/7 is outside the networks of the API token granting it' },
  { creator: 'limited', requested: { authorized_ip_addresses: ['192.168.1.1'] }, refusal: 'Authorized IP addresses: 192.168.1.1 is outside the networks of the API token granting it' },
  { creator: 'limited', requested: { scopes: ['disks'] }, refusal: 'Scope disks cannot be granted by an API token that does not hold it' },
  { creator: 'scopes only', requested: { expires_at: null, authorized_ip_addresses: [] }, refusal: null, holds: { authorized_ip_addresses: [], expires_at: null } },
  { creator: 'scopes only', requested: { scopes: ['disks:read', 'disks'] }, refusal: 'Scope disks cannot be granted by an API token that does not hold it' },
];

interface ExistingCase {
  name: string;
  target: Limits;
  /** Whether the limited creator may update, regenerate and delete it. */
  allowed: boolean;
}

const EXISTING_CASES: ExistingCase[] = [
  { name: 'within', target: { scopes: ['disks:read'], authorized_ip_addresses: ['10.2.0.0/16'], expires_at: EXPIRY - 100 }, allowed: true },
  { name: 'the same limits', target: CREATORS.limited!, allowed: true },
  { name: 'full scope', target: { scopes: ['api_tokens', 'disks:read', 'disks'], authorized_ip_addresses: ['10.2.0.0/16'], expires_at: EXPIRY - 100 }, allowed: false },
  { name: 'any network', target: { scopes: ['disks:read'], authorized_ip_addresses: [], expires_at: EXPIRY - 100 }, allowed: false },
  { name: 'a network outside', target: { scopes: ['disks:read'], authorized_ip_addresses: ['10.2.0.0/16', '192.168.0.0/16'], expires_at: EXPIRY - 100 }, allowed: false },
  { name: 'never expiring', target: { scopes: ['disks:read'], authorized_ip_addresses: ['10.2.0.0/16'], expires_at: null }, allowed: false },
  { name: 'expiring later', target: { scopes: ['disks:read'], authorized_ip_addresses: ['10.2.0.0/16'], expires_at: EXPIRY + 100 }, allowed: false },
];

const OPERATIONS = [
  { name: 'update', method: 'PATCH', path: (id: string) => `api_tokens/${id}`, json: { properties: { name: 'renamed' } } },
  { name: 'regenerate', method: 'POST', path: (id: string) => `api_tokens/${id}/regenerate_secret`, json: undefined },
  { name: 'delete', method: 'DELETE', path: (id: string) => `api_tokens/${id}`, json: undefined },
] as const;

forEachEngine('API token limits', (engine) => {
  let service: TestService;
  let organization: TestOrganization;
  const creators: Record<string, string> = {};

  before(async () => {
    service = await TestService.start(engine);
    organization = await service.createOrganization('Limits');
    for (const [name, limits] of Object.entries(CREATORS)) creators[name] = await operatorToken(limits, `creator ${name}`);
  });
  after(() => service.stop());

  /** A token made by the operator (no grantor: any limits). */
  async function operatorToken(limits: Limits, name: string): Promise<string> {
    const made = await service.services.tokens.create({
      organizationId: organization.id,
      name,
      scopes: limits.scopes,
      authorizedIpAddresses: limits.authorized_ip_addresses,
      expiresAt: limits.expires_at,
    });
    return name.startsWith('creator') ? made.secret : made.token.id;
  }

  for (const [index, { creator, requested, refusal, holds }] of CREATE_CASES.entries()) {
    test(`create #${index} by the ${creator} token: ${JSON.stringify(requested)} is ${refusal === null ? 'created' : 'refused'}`, async () => {
      const before = await service.snapshot();
      const result = await service.call('POST', 'organizations/organization/api_tokens', {
        token: creators[creator]!,
        json: { organization: { id: organization.id }, properties: { name: `made ${index}`, scopes: ['disks:read'], ...requested } },
      });
      if (refusal === null) {
        assert.equal(result.status, 200, result.text);
        for (const [key, value] of Object.entries(holds ?? {})) assert.deepEqual(result.body.api_token[key], value, key);
        return;
      }
      assert.equal(result.status, 422, result.text);
      assert.equal(result.body.error.code, 'validation_error');
      assert.deepEqual(result.body.error.detail.errors, [refusal]);
      assert.equal(await service.snapshot(), before, 'a refused request changes nothing');
    });
  }

  for (const { name, target, allowed } of EXISTING_CASES) {
    for (const operation of OPERATIONS) {
      test(`${operation.name} of a token (${name}) by the limited token is ${allowed ? 'done' : 'permission_denied'}`, async () => {
        const id = await operatorToken(target, `target ${name} ${operation.name}`);
        const before = await service.snapshot();
        const result = await service.call(operation.method, operation.path(id), { token: creators.limited!, json: operation.json });
        if (allowed) {
          assert.equal(result.status, 200, result.text);
          if (operation.name === 'delete') assert.equal(await service.services.tokens.find(id), null);
          return;
        }
        assert.equal(result.status, 403, result.text);
        assert.equal(result.body.error.code, 'permission_denied');
        assert.match(result.body.error.detail.details, /^The API token /);
        assert.equal(await service.snapshot(), before, 'a refused request changes nothing');
      });
    }
  }

  test('update cannot widen a token within limits: never expiring, any network, a later expiry (validation_error)', async () => {
    const id = await operatorToken(EXISTING_CASES[0]!.target, 'target to widen');
    for (const properties of [{ expires_at: null }, { authorized_ip_addresses: [] }, { expires_at: EXPIRY + 1 }, { authorized_ip_addresses: ['1.2.3.4'] }]) {
      const before = await service.snapshot();
      const result = await service.call('PATCH', `api_tokens/${id}`, { token: creators.limited!, json: { properties } });
      assert.equal(result.status, 422, `${JSON.stringify(properties)}: ${result.text}`);
      assert.equal(await service.snapshot(), before, 'a refused request changes nothing');
    }
  });

  test('the unrestricted organization token may delete any of them', async () => {
    const id = await operatorToken(EXISTING_CASES[2]!.target, 'target full for the operator');
    const result = await service.call('DELETE', `api_tokens/${id}`, { token: organization.token });
    assert.equal(result.status, 200, result.text);
  });
});
