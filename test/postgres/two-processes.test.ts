/**
 * Several `dbp serve` processes on one PostgreSQL database: what one writes the other reads at once,
 * and a token's rate limit is one budget across them all. Also the roles: `worker` serves no HTTP and
 * stops cleanly on SIGTERM; an unknown role is a usage error (exit 2).
 *
 * Runs only with TEST_DATABASE_URL (a PostgreSQL URL whose user may CREATE DATABASE); it creates and
 * drops its own database.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { openRuntime } from '../../src/runtime.js';
import { call, createDatabase, cleanUpServeTest, freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL;
const SKIP = ADMIN_URL ? false : 'TEST_DATABASE_URL is not set (a PostgreSQL URL allowed to CREATE DATABASE): multi-process PostgreSQL tests skipped';

describe('two dbp serve processes on one PostgreSQL database', { skip: SKIP }, () => {
  const databaseName = `dbp_twoproc_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'dbp-twoproc-'));
  const children: Child[] = [];
  let databaseUrl: string | undefined;
  let a: string;
  let b: string;
  let token: string;
  let diskId: string;
  let organizationId: string;
  let limitedToken: string;
  let burstToken: string;

  before(async () => {
    databaseUrl = await createDatabase(ADMIN_URL!, databaseName);
    const runtime = await openRuntime({ dataDir, databaseUrl });
    try {
      const organization = await runtime.services.inventory.createOrganization({ name: 'Two', subDomain: 'two' });
      organizationId = organization.id;
      token = (await runtime.services.tokens.create({ organizationId })).secret;
      limitedToken = (await runtime.services.tokens.create({ organizationId, name: 'limited', rateLimit: 5 })).secret;
      burstToken = (await runtime.services.tokens.create({ organizationId, name: 'burst', rateLimit: 6 })).secret;
      diskId = (await runtime.services.inventory.createDisk({ organizationId, name: 'disk', sizeInGb: 10 })).id;
    } finally {
      await runtime.close();
    }
    const [portA, portB] = [await freePort(), await freePort()];
    a = `http://127.0.0.1:${portA}`;
    b = `http://127.0.0.1:${portB}`;
    const childA = spawnServe(['--database-url', databaseUrl, '--port', String(portA), '--role', 'api', '--log-level', 'warn']);
    children.push(childA);
    const childB = spawnServe(['--database-url', databaseUrl, '--port', String(portB), '--role', 'api', '--log-level', 'warn']);
    children.push(childB);
    await Promise.all([waitReady(a, childA, 20_000), waitReady(b, childB, 20_000)]);
  });

  after(() =>
    cleanUpServeTest(databaseUrl ? { adminUrl: ADMIN_URL!, name: databaseName } : undefined, dataDir, async () => {
      await Promise.all(children.map((child) => child.stop()));
    }),
  );

  test('a policy created through A is listed at once through B; an update through B is seen by A', async () => {
    const created = await call(a, 'POST', 'disks/disk/disk_backup_policies', {
      token,
      json: { disk: { id: diskId }, properties: { retention: 3, schedule: { interval: 'daily' } } },
    });
    assert.equal(created.status, 200, created.text);
    const id = created.body.disk_backup_policy.id as string;

    const listedByB = await call(b, 'GET', `disks/disk/disk_backup_policies?disk[id]=${diskId}`, { token });
    assert.equal(listedByB.status, 200, listedByB.text);
    assert.deepEqual(listedByB.body.disk_backup_policies.map((p: { id: string }) => p.id), [id]);
    assert.equal(listedByB.body.disk_backup_policies[0].retention, 3);

    const updatedByB = await call(b, 'PATCH', 'disk_backup_policies/disk_backup_policy', {
      token,
      json: { disk_backup_policy: { id }, properties: { retention: 11, schedule: { interval: 'weekly' } } },
    });
    assert.equal(updatedByB.status, 200, updatedByB.text);

    const seenByA = await call(a, 'GET', `disk_backup_policies/${id}`, { token });
    assert.equal(seenByA.status, 200, seenByA.text);
    assert.equal(seenByA.body.disk_backup_policy.retention, 11);
    assert.equal(seenByA.body.disk_backup_policy.schedule.interval, 'weekly');
    const listedByA = await call(a, 'GET', `organizations/${organizationId}/disk_backup_policies`, { token });
    assert.deepEqual(
      listedByA.body.disk_backup_policies.map((p: { id: string; retention: number }) => [p.id, p.retention]),
      [[id, 11]],
    );

    // Deleted through A: B finds it in the trash at once.
    const deleted = await call(a, 'DELETE', 'disk_backup_policies/disk_backup_policy', { token, json: { disk_backup_policy: { id } } });
    assert.equal(deleted.status, 200, deleted.text);
    const inTrash = await call(b, 'GET', `disk_backup_policies/${id}`, { token });
    assert.equal(inTrash.status, 406, inTrash.text);
    assert.equal(inTrash.body.error.code, 'object_in_trash');
  });

  test('rate limit 5 is one budget across both processes: 3 through A + 2 through B, then 429 from either', async () => {
    await awayFromMinuteBoundary();
    const path = `disks/${diskId}/disk_backup_policies`;
    const remaining: string[] = [];
    for (const base of [a, a, a, b, b]) {
      const result = await call(base, 'GET', path, { token: limitedToken });
      assert.equal(result.status, 200, `call ${remaining.length + 1} through ${base === a ? 'A' : 'B'}: ${result.text}`);
      assert.equal(result.headers!.get('x-ratelimit-permitted'), '5');
      remaining.push(result.headers!.get('x-ratelimit-remaining')!);
    }
    assert.deepEqual(remaining, ['4', '3', '2', '1', '0']);
    for (const [name, base] of [['A', a], ['B', b]] as const) {
      const limited = await call(base, 'GET', path, { token: limitedToken });
      assert.equal(limited.status, 429, `6th call through ${name}: ${limited.text}`);
      assert.equal(limited.body.error.code, 'rate_limit_reached');
      assert.deepEqual(limited.body.error.detail, { total_permitted: 5 });
      assert.equal(limited.headers!.get('x-ratelimit-permitted'), '5');
      assert.equal(limited.headers!.get('x-ratelimit-remaining'), '0');
      assert.equal(limited.headers!.get('x-api-schema'), 'json-error');
    }
  });

  test('a concurrent burst across both processes gets exactly the permitted number of answers', async () => {
    await awayFromMinuteBoundary();
    const path = `disks/${diskId}/disk_backup_policies`;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call(i % 2 === 0 ? a : b, 'GET', path, { token: burstToken })),
    );
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 6, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 6, `statuses: ${statuses.join(',')}`);
    const remainingOf200 = results.filter((r) => r.status === 200).map((r) => Number(r.headers!.get('x-ratelimit-remaining')));
    assert.deepEqual(remainingOf200.sort(), [0, 1, 2, 3, 4, 5], 'each allowed request consumed its own unit');
  });

  test('--role worker starts without listening and exits cleanly on SIGTERM', async () => {
    const port = await freePort();
    const worker = spawnServe(['--database-url', databaseUrl!, '--port', String(port), '--role', 'worker', '--log-level', 'info']);
    children.push(worker);
    const deadline = Date.now() + 20_000;
    while (!/"msg":"dbp started"/.test(worker.output())) {
      assert.equal(worker.process.exitCode, null, `the worker exited early:\n${worker.output()}`);
      assert.ok(Date.now() < deadline, `the worker did not start within 20 s:\n${worker.output()}`);
      await sleep(100);
    }
    const started = worker.output().split('\n').find((line) => line.includes('"msg":"dbp started"'))!;
    assert.equal(JSON.parse(started).role, 'worker');
    assert.equal(JSON.parse(started).url, undefined);
    assert.doesNotMatch(worker.output(), /dbp: serving/);
    assert.equal(await isListening(port), false, `nothing listens on --port ${port} in the worker role`);

    const startedStopping = Date.now();
    worker.process.kill('SIGTERM');
    const code = await Promise.race([worker.exited, sleep(5000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, `the worker exits 0 on SIGTERM (got ${String(code)}):\n${worker.output()}`);
    assert.match(worker.output(), /shutting down/);
    assert.ok(Date.now() - startedStopping < 5000);
  });

  test('--role nonsense is a usage error: exit 2', async () => {
    const child = spawnServe(['--database-url', databaseUrl!, '--port', String(await freePort()), '--role', 'nonsense']);
    children.push(child);
    const code = await Promise.race([child.exited, sleep(15_000).then(() => 'timeout' as const)]);
    assert.equal(code, 2, child.output());
    assert.match(child.output(), /--role must be one of all, api, worker \(got "nonsense"\)/);
  });
});

/** Rate-limit windows are calendar minutes: keep a sequence of calls inside one. */
async function awayFromMinuteBoundary(): Promise<void> {
  const second = new Date().getSeconds();
  if (second >= 50) await sleep((61 - second) * 1000);
}

async function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
