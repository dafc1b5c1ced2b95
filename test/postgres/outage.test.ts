/**
 * PostgreSQL outages: a real `dbp serve` child process reaches its database only through a TCP proxy
 * that the test cuts (refused connections; a blackholed "hung" server; stalled open connections, as in
 * a partition) and restores, and whose backends it terminates (as a PostgreSQL restart would).
 *
 * What must hold: while the database is unreachable every API call answers 503 `service_unavailable`
 * promptly (never 500, never a hang) and /healthz answers 503 (`"ready":false`, `"database":"unreachable"`);
 * when the database comes back the same process recovers by itself; under load with cuts in the middle, every create answered
 * 200 is stored exactly once and no write is doubled.
 *
 * Runs only with TEST_DATABASE_URL (a PostgreSQL URL whose user may CREATE DATABASE); it creates and
 * drops its own database. The machine's PostgreSQL itself is never stopped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { openRuntime } from '../../src/runtime.js';
import {
  CALL_BOUND_MS,
  call,
  createDatabase,
  cleanUpServeTest,
  freePort,
  queryDatabase,
  spawnServe,
  waitReady,
  type Child,
  type Observed,
} from '../support/serve-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL;
const SKIP = ADMIN_URL ? false : 'TEST_DATABASE_URL is not set (a PostgreSQL URL allowed to CREATE DATABASE): PostgreSQL outage tests skipped';

describe('PostgreSQL outage: 503 while unreachable, recovery without restart, no lost or doubled writes', { skip: SKIP }, () => {
  const databaseName = `dbp_outage_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'dbp-outage-'));
  let databaseUrl: string;
  let proxy: TcpProxy;
  let child: Child | undefined;
  let base: string;
  let token: string;
  let diskIds: string[];
  const createdBeforeLoad: string[] = [];
  /** Every HTTP status this test saw from the service, to prove no 500 ever. */
  const seen: Observed[] = [];

  const api = async (method: string, path: string, json?: unknown): Promise<Observed> => {
    const result = await call(base, method, path, { token, json });
    seen.push(result);
    return result;
  };

  before(async () => {
    databaseUrl = await createDatabase(ADMIN_URL!, databaseName);
    const runtime = await openRuntime({ dataDir, databaseUrl });
    try {
      const organization = await runtime.services.inventory.createOrganization({ name: 'Outage', subDomain: 'outage' });
      token = (await runtime.services.tokens.create({ organizationId: organization.id, rateLimit: 1_000_000 })).secret;
      diskIds = [];
      for (let i = 0; i < 4; i += 1) {
        diskIds.push((await runtime.services.inventory.createDisk({ organizationId: organization.id, name: `disk-${i}`, sizeInGb: 10 })).id);
      }
    } finally {
      await runtime.close();
    }
    proxy = await TcpProxy.toUrl(ADMIN_URL!);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawnServe(['--database-url', proxy.rewriteUrl(databaseUrl), '--port', String(port), '--role', 'all', '--log-level', 'warn']);
    await waitReady(base, child, 20_000);
  });

  after(() =>
    cleanUpServeTest(databaseUrl ? { adminUrl: ADMIN_URL!, name: databaseName } : undefined, dataDir, async () => {
      await child?.stop();
      await proxy?.close();
    }),
  );

  test('(a) healthy: policies are created and listed', async () => {
    for (let i = 0; i < 3; i += 1) {
      const created = await api('POST', 'disks/disk/disk_backup_policies', {
        disk: { id: diskIds[0] },
        properties: { retention: 5, schedule: { interval: 'daily' } },
      });
      assert.equal(created.status, 200, created.text);
      createdBeforeLoad.push(created.body.disk_backup_policy.id);
    }
    const listed = await api('GET', `disks/${diskIds[0]}/disk_backup_policies`);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.disk_backup_policies.map((p: { id: string }) => p.id).sort(), [...createdBeforeLoad].sort());
    assert.equal((await call(base, 'GET', '/healthz')).status, 200);
  });

  test('(b) refused connections: every call answers 503 service_unavailable promptly; /healthz is 503', async (t) => {
    proxy.cut('refuse');
    const results = await everyKindOfCall();
    for (const [name, result] of Object.entries(results)) {
      t.diagnostic(`refuse: ${name} → ${result.status} in ${result.ms} ms`);
      assertUnavailable(name, result);
    }
  });

  test('(c) blackholed (hung) server: every call answers 503 service_unavailable within the bound; /healthz is 503', async (t) => {
    proxy.cut('blackhole');
    const results = await everyKindOfCall();
    for (const [name, result] of Object.entries(results)) {
      t.diagnostic(`blackhole: ${name} → ${result.status} in ${result.ms} ms`);
      assertUnavailable(name, result);
    }
  });

  test('(d) restored: the same process answers again within a few seconds, nothing lost', async (t) => {
    proxy.restore();
    const listed = await waitRecovered(t, 'blackhole');
    assert.deepEqual(listed.body.disk_backup_policies.map((p: { id: string }) => p.id).sort(), [...createdBeforeLoad].sort());
    const health = await call(base, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body.ready, true);
    assert.equal(health.body.status, 'serving');
    const created = await api('POST', 'disks/disk/disk_backup_policies', {
      disk: { id: diskIds[0] },
      properties: { retention: 6, schedule: { interval: 'weekly' } },
    });
    assert.equal(created.status, 200, created.text);
    createdBeforeLoad.push(created.body.disk_backup_policy.id);
    const updated = await api('PATCH', 'disk_backup_policies/disk_backup_policy', {
      disk_backup_policy: { id: created.body.disk_backup_policy.id },
      properties: { retention: 9 },
    });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.body.disk_backup_policy.retention, 9);
  });

  test('(d2) stalled connections (a frozen server or a partition: no resets, no bytes): 503 within the bound; recovery although they never close', async (t) => {
    // Warm the pool, so that the stall catches established connections, idle and in use.
    const warm = await Promise.all(Array.from({ length: 4 }, () => api('GET', `disks/${diskIds[0]}/disk_backup_policies`)));
    assert.deepEqual(warm.map((r) => r.status), [200, 200, 200, 200]);
    proxy.cut('stall');
    try {
      const results = await everyKindOfCall();
      for (const [name, result] of Object.entries(results)) {
        t.diagnostic(`stall: ${name} → ${result.status} in ${result.ms} ms`);
        assertUnavailable(name, result);
      }
    } finally {
      // The stalled connections stay open and silent (as after a failover): the service must drop them itself.
      proxy.restore({ keepStalled: true });
    }
    await waitRecovered(t, 'stall');
  });

  test('(e) creates under load with cuts and restores: every 200 stored exactly once, nothing doubled, no 500', async (t) => {
    // Each request carries a unique tag (worker → disk; n → retention and schedule minute), so every
    // row can be traced to the one request that made it.
    const tagOf = (n: number) => ({ retention: 1 + (n % 1000), minute: Math.floor(n / 1000) % 60 });
    type Outcome = { disk: string; n: number; result: Observed; phase: string };
    const outcomes: Outcome[] = [];
    let running = true;
    let phase = 'healthy';
    const worker = async (disk: string) => {
      for (let n = 0; running; n += 1) {
        const { retention, minute } = tagOf(n);
        const startedIn = phase;
        const result = await api('POST', 'disks/disk/disk_backup_policies', {
          disk: { id: disk },
          properties: { retention, schedule: { interval: 'hourly', minute } },
        });
        outcomes.push({ disk, n, result, phase: startedIn === phase ? phase : `${startedIn} → ${phase}` });
        if (result.status !== 200) await sleep(20); // a failing client backs off a little; it never retries a create
        else await sleep(2);
      }
    };
    const workers = diskIds.map((disk) => worker(disk));
    const timeline: string[] = [];
    const mark = (what: string) => {
      phase = what;
      timeline.push(`${what} at ${outcomes.length} requests`);
    };
    await sleep(800);
    proxy.cut('refuse'); // connections reset, new ones refused
    mark('cut(refuse)');
    await sleep(800);
    proxy.restore();
    mark('restore');
    await sleep(800);
    // What a PostgreSQL restart does to open connections (57P01), without touching the server itself.
    const terminated = await terminateBackendsOf(ADMIN_URL!, databaseName);
    mark(`terminated ${terminated} backends`);
    await sleep(800);
    proxy.cut('stall'); // open connections freeze mid-request, new ones are blackholed
    mark('cut(stall)');
    await sleep(3500); // longer than the pool's 3 s connect timeout
    proxy.restore({ keepStalled: true });
    mark('restore(keepStalled)');
    // Recovery under load: run on until every worker has had a 200 since the last restore.
    const recoveryStarted = Date.now();
    const recoveredWorkers = () => new Set(outcomes.filter((o) => o.phase === phase && o.result.status === 200).map((o) => o.disk)).size;
    while (recoveredWorkers() < diskIds.length && Date.now() - recoveryStarted < 12_000) await sleep(50);
    t.diagnostic(`load: every worker had a 200 again ${Date.now() - recoveryStarted} ms after the last restore`);
    running = false;
    await Promise.all(workers);
    t.diagnostic(timeline.join('; '));

    assert.equal(child!.process.exitCode, null, `the service died under load:\n${child!.output().slice(-4000)}`);
    const byStatus = new Map<number, number>();
    for (const { result } of outcomes) byStatus.set(result.status, (byStatus.get(result.status) ?? 0) + 1);
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(byStatus))}; slowest: ${Math.max(...outcomes.map((o) => o.result.ms))} ms`);
    for (const { result } of outcomes) {
      assert.ok(result.status === 200 || result.status === 503, `only 200 or 503 under load, got ${result.status}: ${result.text}`);
      assert.ok(result.ms < CALL_BOUND_MS, `a create took ${result.ms} ms`);
      if (result.status === 503) assert.equal(result.body?.error?.code, 'service_unavailable');
    }
    const ok = outcomes.filter((o) => o.result.status === 200);
    const failed = outcomes.filter((o) => o.result.status === 503);
    assert.ok(ok.length > 0 && failed.length > 0, 'the load saw both successes and outages');

    // Every policy of the load disks, through the API (page by page) and straight from the database.
    const listedIds: string[] = [];
    for (const disk of diskIds) listedIds.push(...(await listAll(disk)));
    const rows = await queryDatabase<{ id: string; target_id: string; retention: number; schedule_minute: number }>(
      databaseUrl,
      `select id, target_id, retention, schedule_minute from disk_backup_policies where schedule_interval = 'hourly'`,
    );
    const loadListed = listedIds.filter((id) => !createdBeforeLoad.includes(id));
    assert.equal(new Set(loadListed).size, loadListed.length, 'no policy is listed twice');
    assert.deepEqual([...loadListed].sort(), rows.map((r) => r.id).sort(), 'the API lists exactly the rows stored');

    const rowsById = new Map(rows.map((row) => [row.id, row]));
    for (const { result, disk, n } of ok) {
      const id = result.body.disk_backup_policy.id as string;
      const row = rowsById.get(id);
      assert.ok(row, `policy ${id} was acknowledged with 200 but is not stored`);
      assert.deepEqual([row.target_id, row.retention, row.schedule_minute], [disk, tagOf(n).retention, tagOf(n).minute]);
    }
    const tagKey = (disk: string, retention: number, minute: number) => `${disk}/${retention}/${minute}`;
    const rowsPerTag = new Map<string, number>();
    for (const row of rows) {
      const key = tagKey(row.target_id, row.retention, row.schedule_minute);
      rowsPerTag.set(key, (rowsPerTag.get(key) ?? 0) + 1);
    }
    const doubled = [...rowsPerTag].filter(([, count]) => count > 1);
    assert.deepEqual(doubled, [], 'no request stored more than one row');
    const landedDespite503 = failed.filter(({ disk, n }) => rowsPerTag.has(tagKey(disk, tagOf(n).retention, tagOf(n).minute)));
    for (const landed of landedDespite503) {
      t.diagnostic(`503 but stored: create ${landed.disk}#${landed.n} in phase "${landed.phase}", answered in ${landed.result.ms} ms: ${landed.result.text}`);
    }
    assert.equal(recoveredWorkers(), diskIds.length, 'every worker succeeded again after the last restore');
    t.diagnostic(
      `load: ${outcomes.length} creates, ${ok.length} × 200, ${failed.length} × 503; ${rows.length} rows stored; ` +
        `${landedDespite503.length} of the 503'd creates were stored anyway`,
    );
    assert.equal(rows.length, ok.length + landedDespite503.length, 'rows = 200s + 503s whose write landed');
    assert.ok(landedDespite503.length <= failed.length);

    const health = await call(base, 'GET', '/healthz');
    assert.equal(health.status, 200, 'healthy again after the load');
  });

  test('no answer was ever a 500 or a hang', () => {
    assert.ok(seen.length > 0);
    const bad = seen.filter((r) => r.status === 0 || r.status >= 500 && r.status !== 503 || r.ms >= CALL_BOUND_MS);
    assert.deepEqual(bad.map((r) => `${r.status} ${r.ms} ms ${r.text.slice(0, 200)}`), []);
    const errors = child!.output().split('\n').filter((line) => /"level":(50|60)/.test(line));
    assert.deepEqual(errors, [], 'the service logged no error (no unhandled exception) during the outages');
    assert.equal(child!.process.exitCode, null, `the service died:\n${child!.output().slice(-4000)}`);
  });

  /** After restore(): polls until a read answers 200 (only 503 meanwhile), within 10 s. */
  async function waitRecovered(t: { diagnostic(message: string): void }, after: string): Promise<Observed> {
    const restoredAt = Date.now();
    for (;;) {
      const listed = await api('GET', `disks/${diskIds[0]}/disk_backup_policies`);
      if (listed.status === 200) {
        t.diagnostic(`${after}: recovered ${Date.now() - restoredAt} ms after restore()`);
        return listed;
      }
      assert.equal(listed.status, 503, `while recovering only 503 is acceptable, got ${listed.status}: ${listed.text}`);
      assert.ok(Date.now() - restoredAt < 10_000, `still failing 10 s after restore(): ${listed.text}`);
      await sleep(100);
    }
  }

  /** One call of each kind, all at once: a read, a create, an update, a delete, the trash, /healthz. */
  async function everyKindOfCall(): Promise<Record<string, Observed>> {
    const policy = createdBeforeLoad[0]!;
    const entries = await Promise.all([
      api('GET', `disks/${diskIds[0]}/disk_backup_policies`).then((r) => ['list for disk', r] as const),
      api('GET', `disk_backup_policies/_?disk_backup_policy[id]=${policy}`).then((r) => ['info', r] as const),
      api('POST', 'disks/disk/disk_backup_policies', {
        disk: { id: diskIds[1] },
        properties: { retention: 1, schedule: { interval: 'daily' } },
      }).then((r) => ['create', r] as const),
      api('PATCH', 'disk_backup_policies/disk_backup_policy', {
        disk_backup_policy: { id: policy },
        properties: { retention: 2 },
      }).then((r) => ['update', r] as const),
      api('DELETE', 'disk_backup_policies/disk_backup_policy', { disk_backup_policy: { id: policy } }).then((r) => ['delete', r] as const),
      api('GET', 'organizations/_/trash_objects?organization[sub_domain]=outage').then((r) => ['trash list', r] as const),
      call(base, 'GET', '/healthz').then((r) => ['healthz', r] as const),
    ]);
    return Object.fromEntries(entries);
  }

  async function listAll(disk: string): Promise<string[]> {
    const ids: string[] = [];
    for (let page = 1; ; page += 1) {
      const listed = await api('GET', `disks/${disk}/disk_backup_policies?page=${page}&per_page=200`);
      assert.equal(listed.status, 200, listed.text);
      ids.push(...listed.body.disk_backup_policies.map((p: { id: string }) => p.id));
      if (page >= listed.body.pagination.total_pages) return ids;
    }
  }
});

function assertUnavailable(name: string, result: Observed): void {
  assert.ok(result.ms < CALL_BOUND_MS, `${name} took ${result.ms} ms (a hang)`);
  assert.equal(result.status, 503, `${name}: expected 503, got ${result.status}: ${result.text}`);
  if (name === 'healthz') {
    assert.equal(result.body?.ready, false, result.text);
    assert.equal(result.body?.status, 'unavailable', result.text);
    assert.equal(result.body?.database, 'unreachable', result.text);
  } else {
    assert.equal(result.body?.error?.code, 'service_unavailable', `${name}: ${result.text}`);
    assert.equal(result.headers?.get('x-api-schema'), 'json-error');
  }
}

// ---------------------------------------------------------------------------------------------
// Ending a database's connections (the child process, HTTP and database helpers are in ../support/serve-process.ts).

/**
 * Ends every connection to one database (only that one: the server is shared). Never write this as
 * `… where datname = X and pg_terminate_backend(pid)`: the planner may run the function before the
 * filter, on every backend of the server. Here the pids are chosen first, and CASE (whose order is
 * guaranteed) re-checks each one before terminating it.
 */
async function terminateBackendsOf(adminUrl: string, name: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [name],
    );
    const pids = rows.map((row) => row.pid);
    if (pids.length === 0) return 0;
    const result = await client.query<{ terminated: boolean | null }>(
      `select case when datname = $1 and pid <> pg_backend_pid() then pg_terminate_backend(pid) else false end as terminated
         from pg_stat_activity where pid = any($2::int[])`,
      [name, pids],
    );
    return result.rows.filter((row) => row.terminated === true).length;
  } finally {
    await client.end();
  }
}
