/**
 * The `dbp` command line, run as a child process the way an operator runs it
 * (`node --import tsx src/cli/main.ts …` from the repository root), each test on its own data directory.
 * What a command prints is checked against the database it wrote, and printed secrets against the API.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SQLITE_FILE_NAME } from '../../src/store/database.js';
import { startServer } from '../../src/http/server.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { dbp, dbpJson } from '../support/dbp-cli.js';

const dataDirs: string[] = [];

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dbp-cli-test-'));
  dataDirs.push(dir);
  return dir;
}

/** Opens the data directory's database in this process, for a look at what the CLI left there. */
async function withRuntime<T>(dataDir: string, use: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime({ dataDir });
  try {
    return await use(runtime);
  } finally {
    await runtime.close();
  }
}

async function countRows(dataDir: string, table: 'organizations' | 'virtual_machines' | 'disks' | 'api_tokens'): Promise<number> {
  return withRuntime(dataDir, async (runtime) => {
    const row = await runtime.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  });
}

/** Serves the data directory's database on loopback for the duration of `use`. */
async function withServer<T>(dataDir: string, use: (call: (method: string, path: string, secret: string, json?: unknown) => Promise<{ status: number; body: any }>) => Promise<T>): Promise<T> {
  return withRuntime(dataDir, async (runtime) => {
    const server = await startServer(runtime, { host: '127.0.0.1', port: 0, logger: false });
    try {
      return await use(async (method, path, secret, json) => {
        const response = await fetch(`${server.url}/core/v1/${path}`, {
          method,
          headers: { authorization: `Bearer ${secret}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
          body: json === undefined ? undefined : JSON.stringify(json),
        });
        return { status: response.status, body: await response.json() };
      });
    } finally {
      await server.stop();
    }
  });
}

/** An organization made through the CLI; answers what `org create --json` printed. */
async function createOrganization(dataDir: string, name = 'Himalaya Trading'): Promise<{ id: string; sub_domain: string }> {
  return dbpJson(['org', 'create', '--name', name, '--data-dir', dataDir]);
}

after(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe('dbp command line', { concurrency: 4 }, () => {
  // ---- demo ------------------------------------------------------------------------------------

  test('demo run twice keeps the same organization, machine, disks and policy', async () => {
    const dataDir = newDataDir();
    const first = await dbpJson(['demo', '--data-dir', dataDir]);
    const second = await dbpJson(['demo', '--data-dir', dataDir]);
    assert.equal(second.organization.id, first.organization.id);
    assert.equal(second.virtual_machine.id, first.virtual_machine.id);
    assert.deepEqual(second.virtual_machine.disk_ids, first.virtual_machine.disk_ids);
    assert.equal(second.disk.id, first.disk.id);
    assert.equal(second.disk_backup_policy.id, first.disk_backup_policy.id);
    assert.equal(second.api_token.id, first.api_token.id);
    assert.equal(await countRows(dataDir, 'organizations'), 1);
    assert.equal(await countRows(dataDir, 'disks'), 3);
    assert.equal(await countRows(dataDir, 'api_tokens'), 1);
  });

  test('each demo run prints a new secret that works, and the previous secret stops working', async () => {
    const dataDir = newDataDir();
    const first = await dbpJson(['demo', '--data-dir', dataDir]);
    const second = await dbpJson(['demo', '--data-dir', dataDir]);
    assert.notEqual(second.api_token.secret, first.api_token.secret);
    await withRuntime(dataDir, async (runtime) => {
      assert.equal((await runtime.services.tokens.authenticate(second.api_token.secret)).ok, true);
      assert.equal((await runtime.services.tokens.authenticate(first.api_token.secret)).ok, false);
    });
  });

  test("the secret demo prints as text lists the demo disk's policy over HTTP", async () => {
    const dataDir = newDataDir();
    const result = await dbp(['demo', '--data-dir', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    const secret = /token secret\s+(\S+)/.exec(result.stdout)?.[1];
    const diskId = /standalone disk\s+(disk_\S+)/.exec(result.stdout)?.[1];
    const policyId = /backup policy\s+(dbp_\S+)/.exec(result.stdout)?.[1];
    assert.ok(secret && diskId && policyId, result.stdout);
    await withServer(dataDir, async (call) => {
      const listed = await call('GET', `disks/${diskId}/disk_backup_policies`, secret);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.deepEqual(listed.body.disk_backup_policies.map((p: { id: string }) => p.id), [policyId]);
    });
  });

  test('demo --json prints one valid JSON document with prefixed ids', async () => {
    const dataDir = newDataDir();
    const result = await dbp(['demo', '--json', '--data-dir', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    const demo = JSON.parse(result.stdout);
    assert.deepEqual(Object.keys(demo).sort(), ['api_token', 'disk', 'disk_backup_policy', 'organization', 'virtual_machine']);
    assert.match(demo.organization.id, /^org_[A-Za-z0-9]{16}$/);
    assert.match(demo.virtual_machine.id, /^vm_[A-Za-z0-9]{16}$/);
    assert.match(demo.disk.id, /^disk_[A-Za-z0-9]{16}$/);
    assert.match(demo.disk_backup_policy.id, /^dbp_[A-Za-z0-9]{16}$/);
    assert.equal(typeof demo.api_token.secret, 'string');
    assert.ok(demo.api_token.secret.length >= 32);
  });

  // ---- org create ------------------------------------------------------------------------------

  test('org create with a time zone prints the organization, placed in that time zone\'s country', async () => {
    const dataDir = newDataDir();
    const organization = await dbpJson(['org', 'create', '--name', 'Kathmandu Cloud', '--time-zone', 'Asia/Kathmandu', '--data-dir', dataDir]);
    assert.match(organization.id, /^org_[A-Za-z0-9]{16}$/);
    assert.equal(organization.name, 'Kathmandu Cloud');
    assert.equal(organization.sub_domain, 'kathmandu-cloud');
    assert.equal(organization.country, 'Nepal');
    assert.equal(organization.time_zone, 'Asia/Kathmandu');
    await withRuntime(dataDir, async (runtime) => {
      const stored = await runtime.services.inventory.findOrganization({ id: organization.id });
      assert.equal(stored?.country?.name, 'Nepal');
      assert.equal(await runtime.services.inventory.timeZoneOf(organization.id), 'Asia/Kathmandu');
    });
  });

  test('org create without --name exits 2 with a clear message and creates nothing', async () => {
    const dataDir = newDataDir();
    const result = await dbp(['org', 'create', '--data-dir', dataDir]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--name is required/);
    assert.equal(result.stdout, '');
    assert.equal(await countRows(dataDir, 'organizations'), 0);
  });

  test('an unknown flag exits 2 and names the flag', async () => {
    const dataDir = newDataDir();
    const result = await dbp(['org', 'create', '--name', 'Flagged', '--colour', 'blue', '--data-dir', dataDir]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--colour/);
    assert.equal(await countRows(dataDir, 'organizations'), 0);
  });

  test('org create with an unknown time zone exits 1 naming it, and creates nothing', async () => {
    const dataDir = newDataDir();
    const result = await dbp(['org', 'create', '--name', 'Red Planet', '--time-zone', 'Mars/Base', '--data-dir', dataDir]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Mars\/Base/);
    assert.equal(result.stdout, '');
    assert.equal(await countRows(dataDir, 'organizations'), 0);
  });

  // ---- vm create / disk create -----------------------------------------------------------------

  test("vm create --org <sub-domain> creates a machine in that organization", async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const vm = await dbpJson(['vm', 'create', '--org', organization.sub_domain, '--name', 'web', '--data-dir', dataDir]);
    assert.match(vm.id, /^vm_[A-Za-z0-9]{16}$/);
    assert.equal(vm.organization_id, organization.id);
    assert.ok(vm.fqdn.endsWith(`.${organization.sub_domain}.katapult.cloud`), vm.fqdn);
    await withRuntime(dataDir, async (runtime) => {
      assert.equal((await runtime.services.inventory.findVirtualMachine({ fqdn: vm.fqdn }))?.id, vm.id);
    });
  });

  test('disk create --org --vm --size-gb 20 creates a 20 GB disk attached to that machine', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const vm = await dbpJson(['vm', 'create', '--org', organization.id, '--name', 'db', '--data-dir', dataDir]);
    const disk = await dbpJson(['disk', 'create', '--org', organization.sub_domain, '--vm', vm.fqdn, '--name', 'db data', '--size-gb', '20', '--data-dir', dataDir]);
    assert.match(disk.id, /^disk_[A-Za-z0-9]{16}$/);
    assert.equal(disk.size_in_gb, 20);
    assert.equal(disk.virtual_machine_id, vm.id);
    await withRuntime(dataDir, async (runtime) => {
      const stored = await runtime.services.inventory.findDisk({ id: disk.id });
      assert.equal(stored?.size_in_gb, 20);
      assert.equal(stored?.attachment?.virtual_machine.id, vm.id);
    });
  });

  test('disk create --size-gb 0 fails with a clear error and creates no disk', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const result = await dbp(['disk', 'create', '--org', organization.id, '--name', 'empty', '--size-gb', '0', '--data-dir', dataDir]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /--size-gb/);
    assert.equal(result.stdout, '');
    assert.equal(await countRows(dataDir, 'disks'), 0);
  });

  // ---- token create ----------------------------------------------------------------------------

  test('token create --scopes disk_backup_policies:read prints a secret that reads policies but cannot write', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const disk = await dbpJson(['disk', 'create', '--org', organization.id, '--name', 'standalone', '--size-gb', '10', '--data-dir', dataDir]);
    const token = await dbpJson(['token', 'create', '--org', organization.sub_domain, '--scopes', 'disk_backup_policies:read', '--data-dir', dataDir]);
    assert.deepEqual(token.scopes, ['disk_backup_policies:read']);
    assert.equal(token.organization_id, organization.id);
    await withServer(dataDir, async (call) => {
      const read = await call('GET', `disks/${disk.id}/disk_backup_policies`, token.secret);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.deepEqual(read.body.disk_backup_policies, []);
      const write = await call('POST', `disks/${disk.id}/disk_backup_policies`, token.secret, { properties: { retention: 1, schedule: { interval: 'daily' } } });
      assert.equal(write.status, 403);
      assert.equal(write.body.error.code, 'scope_not_granted');
      assert.deepEqual(write.body.error.detail.scopes, ['disk_backup_policies']);
    });
  });

  test('token create --scopes nonsense fails with a clear error naming the scope, and creates no token', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const result = await dbp(['token', 'create', '--org', organization.id, '--scopes', 'nonsense', '--data-dir', dataDir]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /nonsense/);
    assert.equal(result.stdout, '');
    assert.equal(await countRows(dataDir, 'api_tokens'), 0);
  });

  test('token create --rate-limit --allow --expires-at: the token is limited as asked, over HTTP', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const args = ['token', 'create', '--org', organization.id, '--scopes', 'organizations:read', '--rate-limit', '2', '--expires-at', String(expiresAt), '--data-dir', dataDir];
    const open = await dbpJson([...args, '--allow', '10.0.0.0/8', '--allow', '127.0.0.1']);
    assert.deepEqual(open.authorized_ip_addresses, ['10.0.0.0/8', '127.0.0.1']);
    assert.equal(open.expires_at, expiresAt);
    assert.equal(open.rate_limit, 2);
    const elsewhere = await dbpJson([...args, '--allow', '192.0.2.0/24', '--allow', '2001:db8::/32']);
    await withServer(dataDir, async (call) => {
      assert.equal((await call('GET', 'organizations', open.secret)).status, 200);
      assert.equal((await call('GET', 'organizations', open.secret)).status, 200);
      const limited = await call('GET', 'organizations', open.secret);
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body.error.detail, { total_permitted: 2 });
      const refused = await call('GET', 'organizations', elsewhere.secret);
      assert.equal(refused.status, 403);
      assert.deepEqual(refused.body.error, {
        code: 'unauthorized_network_for_api_token',
        description: 'Network is not allowed to access the API with this API token',
        detail: { ip_address: '127.0.0.1' },
      });
    });
  });

  test('token create with a bad --allow, a past --expires-at or a bad --rate-limit fails clearly and creates nothing', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const base = ['token', 'create', '--org', organization.id, '--data-dir', dataDir];
    const cases: [string[], number, RegExp][] = [
      [['--allow', '10.0.0.0/33'], 1, /"10\.0\.0\.0\/33" has an invalid prefix length/],
      [['--allow', 'example.com'], 1, /"example\.com" is not an IPv4 or IPv6 address or CIDR range/],
      [['--expires-at', '1000'], 1, /Expires at must be in the future/],
      [['--expires-at', 'tomorrow'], 2, /--expires-at must be a whole number/],
      [['--rate-limit', '0'], 2, /--rate-limit must be a whole number from 1/],
    ];
    for (const [flags, code, message] of cases) {
      const result = await dbp([...base, ...flags]);
      assert.equal(result.code, code, `${flags.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    }
    assert.equal(await countRows(dataDir, 'api_tokens'), 0);
  });

  test('token list shows every token of the organization without secrets; token revoke stops one at once', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const other = await createOrganization(dataDir, 'Other Org');
    const kept = await dbpJson(['token', 'create', '--org', organization.id, '--name', 'kept', '--scopes', 'organizations:read', '--data-dir', dataDir]);
    const revoked = await dbpJson(['token', 'create', '--org', organization.id, '--name', 'revoked', '--allow', '127.0.0.1', '--data-dir', dataDir]);
    await dbpJson(['token', 'create', '--org', other.id, '--name', 'elsewhere', '--data-dir', dataDir]);
    const listed = await dbpJson(['token', 'list', '--org', organization.sub_domain, '--data-dir', dataDir]);
    assert.deepEqual(listed.map((t: any) => t.name), ['kept', 'revoked']);
    assert.deepEqual(listed[1].authorized_ip_addresses, ['127.0.0.1']);
    assert.equal(JSON.stringify(listed).includes(kept.secret), false);
    assert.ok(listed.every((t: any) => !('secret' in t)));
    const text = await dbp(['token', 'list', '--org', organization.id, '--data-dir', dataDir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${kept.id}  kept  \\[organizations:read\\]  1000/min  no expiry  any network`));
    assert.equal(text.stdout.includes(revoked.secret), false);

    const revoke = await dbpJson(['token', 'revoke', revoked.id, '--data-dir', dataDir]);
    assert.equal(revoke.id, revoked.id);
    await withServer(dataDir, async (call) => {
      assert.equal((await call('GET', 'organizations', revoked.secret)).body.error.code, 'invalid_api_token');
      assert.equal((await call('GET', 'organizations', kept.secret)).status, 200);
    });
    const again = await dbp(['token', 'revoke', revoked.id, '--data-dir', dataDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`No API token with id "${revoked.id}"`));
    const missing = await dbp(['token', 'revoke', '--data-dir', dataDir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /ID is required/);
    const unknownOrg = await dbp(['token', 'list', '--org', 'no-such-org', '--data-dir', dataDir]);
    assert.equal(unknownOrg.code, 1);
    assert.match(unknownOrg.stderr, /No organization with id or sub-domain "no-such-org"/);
  });

  test('org suspend refuses the organization\'s tokens with organization_suspended; org unsuspend lets them in again', async () => {
    const dataDir = newDataDir();
    const organization = await createOrganization(dataDir);
    const token = await dbpJson(['token', 'create', '--org', organization.id, '--data-dir', dataDir]);
    const suspended = await dbpJson(['org', 'suspend', organization.sub_domain, '--data-dir', dataDir]);
    assert.deepEqual(suspended, { id: organization.id, sub_domain: organization.sub_domain, suspended: true });
    await withServer(dataDir, async (call) => {
      const refused = await call('GET', 'organizations', token.secret);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, 'organization_suspended');
    });
    assert.equal((await dbpJson(['org', 'unsuspend', organization.id, '--data-dir', dataDir])).suspended, false);
    await withServer(dataDir, async (call) => assert.equal((await call('GET', 'organizations', token.secret)).status, 200));
    const unknown = await dbp(['org', 'suspend', 'nobody', '--data-dir', dataDir]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No organization with id or sub-domain "nobody"/);
  });

  test('serve refuses a --trusted-proxy that is not an address or range, naming it (exit 2)', async () => {
    const result = await dbp(['serve', '--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '10.0.0.0/40', '--data-dir', newDataDir()]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--trusted-proxy: "10\.0\.0\.0\/40" has an invalid prefix length/);
    const fromEnv = await dbp(['serve', '--data-dir', newDataDir()], { env: { DBP_TRUSTED_PROXIES: '127.0.0.1, proxy.local' } });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /"proxy\.local" is not an IPv4 or IPv6 address/);
  });

  // ---- the data directory, help and unknown commands --------------------------------------------

  test('DBP_DATA_DIR chooses the data directory as --data-dir does', async () => {
    const dataDir = newDataDir();
    const result = await dbp(['org', 'create', '--name', 'From Env', '--json'], { env: { DBP_DATA_DIR: dataDir } });
    assert.equal(result.code, 0, result.stderr);
    const organization = JSON.parse(result.stdout);
    assert.ok(existsSync(join(dataDir, SQLITE_FILE_NAME)));
    await withRuntime(dataDir, async (runtime) => {
      assert.equal((await runtime.services.inventory.findOrganization({ sub_domain: 'from-env' }))?.id, organization.id);
    });
  });

  test('--data-dir wins over DBP_DATA_DIR', async () => {
    const flagged = newDataDir();
    const fromEnv = newDataDir();
    const result = await dbp(['org', 'create', '--name', 'Flag Wins', '--data-dir', flagged], { env: { DBP_DATA_DIR: fromEnv } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await countRows(flagged, 'organizations'), 1);
    assert.equal(existsSync(join(fromEnv, SQLITE_FILE_NAME)), false);
  });

  test('dbp help exits 0 and prints the usage; a group\'s help lists its subcommands, a command\'s its flags', async () => {
    const result = await dbp(['help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /Usage: dbp \[options\] \[command\]/);
    const token = await dbp(['help', 'token']);
    assert.equal(token.code, 0);
    for (const action of ['create', 'list', 'revoke']) assert.match(token.stdout, new RegExp(`\\n  ${action} `), action);
    const create = await dbp(['token', 'create', '--help']);
    for (const flag of ['--allow <cidr>', '--expires-at <unix>', '--rate-limit <n>', '--scopes']) assert.ok(create.stdout.includes(flag), flag);
  });

  test('an unknown command exits 2 and says so', async () => {
    const result = await dbp(['frobnicate']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command "frobnicate"/);
  });
});
