/**
 * `authorized_ip_addresses` and `--trusted-proxy` over HTTP: addresses and CIDR ranges of both
 * families, IPv4-mapped IPv6 addresses, X-Forwarded-For believed only from a trusted proxy (and then
 * its right-most untrusted entry), and the exact refusal. Plus the address maths as properties.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { NetworkSet, networkListErrors, parseNetwork } from '../../src/domain/networks.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';

const REFUSAL = {
  code: 'unauthorized_network_for_api_token',
  description: 'Network is not allowed to access the API with this API token',
};

forEachEngine('authorized networks', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Networks');
  });
  after(() => service.stop());

  async function tokenFor(networks: string[]): Promise<string> {
    return (await service.services.tokens.create({ organizationId: org.id, scopes: ['organizations:read'], authorizedIpAddresses: networks })).secret;
  }

  test('a token limited to networks that hold 127.0.0.1 is answered from loopback', async () => {
    for (const networks of [['127.0.0.1'], ['127.0.0.0/8'], ['192.0.2.1', '127.0.0.0/31'], ['0.0.0.0/0'], ['::ffff:127.0.0.1'], ['::ffff:127.0.0.0/104']]) {
      const result = await service.call('GET', 'organizations', { token: await tokenFor(networks) });
      assert.equal(result.status, 200, `${networks.join(' ')}: ${result.text}`);
    }
  });

  test('a token limited to other networks is refused with unauthorized_network_for_api_token and the address', async () => {
    for (const networks of [['127.0.0.2'], ['10.0.0.0/8'], ['::1'], ['2001:db8::/32'], ['128.0.0.0/1']]) {
      const result = await service.call('GET', 'organizations', { token: await tokenFor(networks) });
      assert.equal(result.status, 403, result.text);
      assert.deepEqual(result.body, { error: { ...REFUSAL, detail: { ip_address: '127.0.0.1' } } });
      assert.equal(result.headers.get('x-api-schema'), 'json-error');
      assert.equal(result.headers.get('x-ratelimit-remaining'), null, 'a refused network is not counted against the rate limit');
    }
  });

  test('X-Forwarded-For from an untrusted peer is ignored', async () => {
    const token = await tokenFor(['203.0.113.0/24']);
    const result = await service.call('GET', 'organizations', { token, headers: { 'x-forwarded-for': '203.0.113.7' } });
    assert.deepEqual(result.body.error.detail, { ip_address: '127.0.0.1' });
  });

  test('a token for IPv6 loopback is answered over IPv6 and refused over IPv4', async () => {
    let v6: RunningServer;
    try {
      v6 = await startServer(service.runtime, { host: '::1', port: 0, logger: false });
    } catch {
      return; // no IPv6 loopback on this machine: nothing to check
    }
    try {
      const token = await tokenFor(['::1/128']);
      const over6 = await fetch(`${v6.url}/core/v1/organizations`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(over6.status, 200, await over6.text());
      const refused = await fetch(`${v6.url}/core/v1/organizations`, { headers: { authorization: `Bearer ${await tokenFor(['fd00::/8'])}` } });
      assert.deepEqual(((await refused.json()) as any).error.detail, { ip_address: '::1' });
      assert.equal((await service.call('GET', 'organizations', { token })).status, 403);
    } finally {
      await v6.stop();
    }
  });

  describe('behind a trusted proxy', () => {
    let proxied: RunningServer;
    before(async () => {
      proxied = await startServer(service.runtime, { host: '127.0.0.1', port: 0, logger: false, trustedProxies: ['127.0.0.0/8', '10.1.0.0/16'] });
    });
    after(() => proxied.stop());

    async function via(token: string, forwardedFor: string | undefined) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
      const response = await fetch(`${proxied.url}/core/v1/organizations`, { headers });
      return { status: response.status, body: (await response.json()) as any };
    }

    test('the client is the right-most X-Forwarded-For address that is not a trusted proxy', async () => {
      const token = await tokenFor(['203.0.113.0/24']);
      assert.equal((await via(token, '203.0.113.7')).status, 200);
      assert.equal((await via(token, '198.51.100.1, 203.0.113.7, 10.1.2.3')).status, 200, 'trusted hops are skipped');
      // A client cannot forge its way in by prepending an address: the right-most untrusted one counts.
      const forged = await via(token, '203.0.113.7, 198.51.100.9');
      assert.deepEqual(forged.body.error, { ...REFUSAL, detail: { ip_address: '198.51.100.9' } });
    });

    test('IPv4-mapped IPv6 addresses match IPv4 ranges and are reported as IPv4', async () => {
      const token = await tokenFor(['203.0.113.0/24']);
      assert.equal((await via(token, '::ffff:203.0.113.7')).status, 200);
      const refused = await via(token, '::ffff:198.51.100.9');
      assert.deepEqual(refused.body.error.detail, { ip_address: '198.51.100.9' });
    });

    test('IPv6 clients are matched against IPv6 ranges', async () => {
      const token = await tokenFor(['2001:db8:1::/48']);
      assert.equal((await via(token, '2001:db8:1::42')).status, 200);
      assert.deepEqual((await via(token, '2001:db8:2::42')).body.error.detail, { ip_address: '2001:db8:2::42' });
    });

    test('without X-Forwarded-For the client is the proxy itself; a garbled entry matches nothing', async () => {
      const token = await tokenFor(['203.0.113.0/24']);
      assert.deepEqual((await via(token, undefined)).body.error.detail, { ip_address: '127.0.0.1' });
      const garbled = await via(token, 'not-an-address');
      assert.equal(garbled.status, 403);
      assert.equal(garbled.body.error.code, 'unauthorized_network_for_api_token');
    });
  });
});

describe('network maths', () => {
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
  const toNumber = (address: string) => address.split('.').reduce((n, part) => n * 256 + Number(part), 0);

  test('an IPv4 address is in a range exactly when its first `prefix` bits equal the range’s', () => {
    fc.assert(
      fc.property(ipv4, ipv4, fc.integer({ min: 0, max: 32 }), (network, address, prefix) => {
        const leadingBits = (a: string) => Math.floor(toNumber(a) / 2 ** (32 - prefix));
        const expected = leadingBits(network) === leadingBits(address);
        const set = new NetworkSet([`${network}/${prefix}`]);
        assert.equal(set.includes(address), expected);
        assert.equal(set.includes(`::ffff:${address}`), expected, 'the IPv4-mapped form answers the same');
      }),
    );
  });

  test('every valid entry parses; an invalid one gets one sentence naming it', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 0, max: 32 }), (address, prefix) => {
        assert.deepEqual(networkListErrors([address, `${address}/${prefix}`], 'x'), []);
      }),
    );
    for (const bad of ['', '/', '1.2.3', '1.2.3.4/', '1.2.3.4/33', '1.2.3.4/-1', '1.2.3.4/1/2', '::1/129', 'fe80::1%lo', 'localhost', ' 1.2.3.4']) {
      const errors = networkListErrors([bad], 'Field');
      assert.equal(errors.length, 1, JSON.stringify(bad));
      assert.ok(errors[0]!.startsWith(`Field: ${JSON.stringify(bad)}`), errors[0]);
      assert.equal(typeof parseNetwork(bad), 'string');
    }
  });

  test('an address that is not valid is in no set', () => {
    const everything = new NetworkSet(['0.0.0.0/0', '::/0']);
    for (const address of ['', 'unknown', '1.2.3.4.5', '::g']) assert.equal(everything.includes(address), false, address);
  });
});
