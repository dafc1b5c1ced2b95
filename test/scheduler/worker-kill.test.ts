/**
 * A worker killed with SIGKILL in the middle of a burst of scheduled runs, then another worker
 * finishes the burst (issue 15, defect 4): the runs the dead worker held are retried once their
 * lease expires, and a retried run does not take again a backup its first attempt completed (its
 * catalogue row, or a manifest tagged with the run). What must hold: every instant ends with exactly
 * one succeeded run and exactly one backup, in the catalogue and in the repository.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { openRepository } from '../../src/engine/repository/index.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { dbpJson } from '../support/dbp-cli.js';
import { freePort, spawnServe } from '../support/serve-process.js';

const POLICIES = 12;
const PASSWORD = 'worker kill test';
const dataDir = mkdtempSync(join(tmpdir(), 'dbp-worker-kill-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('kill -9 of a worker in the middle of a burst, another worker finishes it: exactly one backup per instant', async (t) => {
  writeFileSync(join(dataDir, 'repository.key'), `${PASSWORD}\n`, { mode: 0o600 });
  mkdirSync(join(dataDir, 'disks'), { recursive: true });
  const instant = Math.floor(Date.now() / 1000) + 5;
  let runtime: Runtime | undefined = await openRuntime({ dataDir });
  try {
    const organization = await runtime.services.inventory.createOrganization({ name: 'Kill', subDomain: 'kill' });
    for (let i = 0; i < POLICIES; i += 1) {
      const disk = await runtime.services.inventory.createDisk({ organizationId: organization.id, name: `disk-${i}`, sizeInGb: 1 });
      const image = join(dataDir, 'disks', `${disk.id}.img`);
      writeFileSync(image, randomBytes(2 * 1024 * 1024));
      truncateSync(image, 1_000_000_000);
      await runtime.services.policies.create(organization.id, { type: 'Disk', id: disk.id, name: disk.name }, { retention: 5, schedule: { interval: 'hourly' } });
    }
    await runtime.store.db.updateTable('disk_backup_policies').set({ next_invocation_at: instant }).execute();

    // Worker A takes the burst; it is killed as soon as a backup of a run it has not yet recorded exists.
    const worker = spawnServe(['--data-dir', dataDir, '--role', 'worker', '--port', String(await freePort()), '--log-level', 'warn']);
    const db = runtime.store.db;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (worker.process.exitCode !== null) throw new Error(`the worker exited: ${worker.output()}`);
      const unrecorded = await db
        .selectFrom('backups as b')
        .innerJoin('backup_runs as r', 'r.id', 'b.run_id')
        .select('b.id')
        .where('r.lease_expires_at', 'is not', null)
        .executeTakeFirst();
      if (unrecorded) break;
      assert.ok(Date.now() < deadline, 'worker A took no backup');
      await sleep(10);
    }
    worker.process.kill('SIGKILL');
    await worker.exited;
    const unfinished = await db.selectFrom('backup_runs').select(['id', 'lease_expires_at']).where('lease_expires_at', 'is not', null).execute();
    const leasesEnd = Math.max(...unfinished.map((run) => Number(run.lease_expires_at)));
    t.diagnostic(`worker A killed holding ${unfinished.length} unfinished runs`);
    assert.ok(unfinished.length > 0);
    await runtime.close();
    runtime = undefined;

    // Worker B, once A's leases have expired (its clock set past them), retries what A held.
    const due = await dbpJson(['run-due', '--now', String(leasesEnd + 1), '--data-dir', dataDir, '--log-level', 'error']);
    // (Its clock may also have reached the policies' next instant: those runs are not this test's.)
    const retried = due.runs.filter((run: { scheduled_at: number }) => run.scheduled_at === instant);
    assert.equal(retried.length, unfinished.length, JSON.stringify(due.runs));
    for (const run of retried) assert.equal(run.status, 'succeeded', JSON.stringify(run));

    runtime = await openRuntime({ dataDir });
    const runs = await runtime.store.db.selectFrom('backup_runs').selectAll().where('scheduled_at', '=', instant).execute();
    assert.equal(runs.length, POLICIES);
    for (const run of runs) assert.equal(run.status, 'succeeded', `${run.id}: ${run.status} (${run.error})`);
    const backups = await runtime.store.db.selectFrom('backups').select(['id', 'run_id', 'policy_id']).execute();
    const perRun = new Map<string, number>();
    for (const backup of backups) perRun.set(backup.run_id!, (perRun.get(backup.run_id!) ?? 0) + 1);
    for (const run of runs) assert.equal(perRun.get(run.id), 1, `run ${run.id} has ${perRun.get(run.id) ?? 0} catalogued backups`);

    const repository = await openRepository({ location: { type: 'local', path: join(dataDir, 'repository') }, password: PASSWORD });
    try {
      const manifests = new Map<string, number>();
      for (const summary of await repository.listBackups()) manifests.set(summary.tags.run_id!, (manifests.get(summary.tags.run_id!) ?? 0) + 1);
      for (const run of runs) assert.equal(manifests.get(run.id), 1, `run ${run.id} has ${manifests.get(run.id) ?? 0} backups in the repository`);
    } finally {
      await repository.close();
    }
  } finally {
    await runtime?.close();
  }
});
