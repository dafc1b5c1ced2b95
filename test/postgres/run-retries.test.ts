/**
 * Scheduled runs through database faults, on PostgreSQL (issue 15, defect 4): a real `dbp serve
 * --role worker` reaches its database only through a TCP proxy, and the test cuts every connection
 * again and again while a burst of policies is due. A cut connection is a transient error: the run
 * it interrupts is given back and retried, never recorded as failed, and the retry does not take
 * again a backup already taken. What must hold: every instant of the burst ends with exactly one
 * succeeded run and exactly one backup (catalogue row and repository manifest).
 *
 * Runs only with TEST_DATABASE_URL (a PostgreSQL URL whose user may CREATE DATABASE).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { openRepository } from '../../src/engine/repository/index.js';
import { openRuntime } from '../../src/runtime.js';
import { createDatabase, cleanUpServeTest, freePort, queryDatabase, spawnServe, type Child } from '../support/serve-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL;
const SKIP = ADMIN_URL ? false : 'TEST_DATABASE_URL is not set: PostgreSQL run retry tests skipped';
const POLICIES = 12;
const PASSWORD = 'run retries test';

describe('PostgreSQL: connections cut during a burst of scheduled runs', { skip: SKIP }, () => {
  const databaseName = `dbp_retries_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'dbp-run-retries-'));
  let databaseUrl: string;
  let proxy: TcpProxy;
  let worker: Child | undefined;

  before(async () => {
    databaseUrl = await createDatabase(ADMIN_URL!, databaseName);
    writeFileSync(join(dataDir, 'repository.key'), `${PASSWORD}\n`, { mode: 0o600 });
    mkdirSync(join(dataDir, 'disks'), { recursive: true });
    const runtime = await openRuntime({ dataDir, databaseUrl });
    try {
      const organization = await runtime.services.inventory.createOrganization({ name: 'Retries', subDomain: 'retries' });
      for (let i = 0; i < POLICIES; i += 1) {
        const disk = await runtime.services.inventory.createDisk({ organizationId: organization.id, name: `disk-${i}`, sizeInGb: 1 });
        // A few MiB of content each, so that a backup takes long enough for a cut to land in it.
        const image = join(dataDir, 'disks', `${disk.id}.img`);
        writeFileSync(image, randomBytes(4 * 1024 * 1024));
        truncateSync(image, 1_000_000_000);
        await runtime.services.policies.create(organization.id, { type: 'Disk', id: disk.id, name: disk.name }, { retention: 5, schedule: { interval: 'hourly' } });
      }
    } finally {
      await runtime.close();
    }
    proxy = await TcpProxy.toUrl(ADMIN_URL!);
  });

  after(() =>
    cleanUpServeTest(databaseUrl ? { adminUrl: ADMIN_URL!, name: databaseName } : undefined, dataDir, async () => {
      await worker?.stop();
      await proxy?.close();
    }),
  );

  test('every instant of the burst: exactly one succeeded run and one backup, however often the connections are cut', async (t) => {
    // The whole burst is due a few seconds from now (the worker's clock is the real one).
    const instant = Math.floor(Date.now() / 1000) + 6;
    await queryDatabase(databaseUrl, `update disk_backup_policies set next_invocation_at = ${instant}`);
    worker = spawnServe(['--database-url', proxy.rewriteUrl(databaseUrl), '--data-dir', dataDir, '--role', 'worker', '--port', String(await freePort()), '--log-level', 'warn']);

    const runs = () =>
      queryDatabase<{ id: string; policy_id: string; status: string; error: string | null; lease_expires_at: string | null; attempts: number }>(
        databaseUrl,
        `select id, policy_id, status, error, lease_expires_at, attempts from backup_runs where scheduled_at = ${instant}`,
      );
    // Cut every connection of the worker, again and again, from just before the instant until every
    // run has finished (bounded).
    while (Date.now() / 1000 < instant - 0.5) await sleep(50);
    // First one cut across the instant itself, so that the runs' first database work surely meets
    // it (short cuts alone could all fall between the worker's queries), then short cuts.
    proxy.cut('refuse');
    let cuts = 1;
    while (Date.now() / 1000 < instant + 1) await sleep(50);
    proxy.restore();
    const deadline = Date.now() + 90_000;
    const cutUntil = Date.now() + 5_000;
    for (;;) {
      const current = await runs();
      if (current.length === POLICIES && current.every((run) => run.lease_expires_at === null)) break;
      assert.ok(Date.now() < deadline, `the burst did not finish: ${JSON.stringify(current)}\n${worker.output().slice(-3000)}`);
      if (Date.now() < cutUntil) {
        proxy.cut('refuse');
        cuts += 1;
        await sleep(150 + Math.floor(Math.random() * 150));
        proxy.restore();
        await sleep(150 + Math.floor(Math.random() * 250));
      } else {
        await sleep(200);
      }
    }
    t.diagnostic(`connections cut ${cuts} times`);
    const finished = await runs();
    for (const run of finished) assert.equal(run.status, 'succeeded', `run ${run.id}: ${run.status} (${run.error})`);
    const givenBack = worker.output().split('cut short by a database error').length - 1;
    t.diagnostic(`${givenBack} attempts were cut short by a database error and retried`);
    const claimsFailed = worker.output().split('claiming failed').length - 1;
    t.diagnostic(`${claimsFailed} claims failed and were tried again`);
    t.diagnostic(`${proxy.stats.refused} of the worker's connection attempts were refused`);
    assert.ok(givenBack + claimsFailed > 0 || proxy.stats.refused > 0, 'the cuts reached the worker');

    const backups = await queryDatabase<{ run_id: string; n: string }>(
      databaseUrl,
      `select r.id as run_id, count(b.id) as n from backup_runs r left join backups b on b.run_id = r.id where r.scheduled_at = ${instant} group by r.id`,
    );
    assert.equal(backups.length, POLICIES);
    for (const row of backups) assert.equal(Number(row.n), 1, `run ${row.run_id} has ${row.n} catalogued backups`);

    await worker.stop();
    const repository = await openRepository({ location: { type: 'local', path: join(dataDir, 'repository') }, password: PASSWORD });
    try {
      const manifests = new Map<string, number>();
      for (const summary of await repository.listBackups()) manifests.set(summary.tags.run_id!, (manifests.get(summary.tags.run_id!) ?? 0) + 1);
      for (const run of finished) assert.equal(manifests.get(run.id), 1, `run ${run.id} has ${manifests.get(run.id) ?? 0} backups in the repository`);
    } finally {
      await repository.close();
    }
  });
});
