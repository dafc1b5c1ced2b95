/**
 * What a run and its backups say about themselves: a run that succeeded carries no error, a disk read
 * in place (no point-in-time clone) is the named flag `live_read` on the backup and on its run, a
 * backup is stamped with the wall-clock time it was taken (not the simulated `run-due --now`
 * instant, which stays the run's `scheduled_at`), and a manual run answers each backup's bytes and
 * duration.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { constants, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openBackupEngine, type BackupEngine } from '../../src/engine/index.js';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';
import { dbp } from '../support/dbp-cli.js';
import { createDiskPolicy, databaseUrlArgs, TestDatabase } from '../scheduler/support.js';

const MiB = 1024 * 1024;

/** Whether `dir`'s filesystem makes reflink clones (then backups are point-in-time, not live). */
function clonesIn(dir: string): boolean {
  const source = join(dir, 'reflink-probe');
  writeFileSync(source, 'probe');
  try {
    copyFileSync(source, `${source}-clone`, constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(source, { force: true });
    rmSync(`${source}-clone`, { force: true });
  }
}

forEachEngine('run status', (engineName) => {
  let service: TestService;
  let org: TestOrganization;
  let backupEngine: BackupEngine;
  let dataDir: string;
  let live: boolean;
  before(async () => {
    service = await TestService.start(engineName);
    org = await service.createOrganization('Run status');
    dataDir = mkdtempSync(join(tmpdir(), 'dbp-run-status-'));
    live = !clonesIn(dataDir);
    backupEngine = await openBackupEngine(service.runtime, { dataDir, password: 'run status passphrase' });
  });
  after(async () => {
    await backupEngine.close();
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function policyOnNewDisk(name: string, image: Buffer) {
    const imagePath = join(dataDir, `${name}.img`);
    writeFileSync(imagePath, image);
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name, sizeInGb: 1, imagePath });
    const policy = await service.createPolicy(org.token, disk.id);
    return { disk, policy, imagePath };
  }

  test('a run that read its disk live succeeded with no error; live_read is true on the run and on the backup', async (t) => {
    if (!live) t.diagnostic('this filesystem makes reflink clones: the backup is point-in-time, so live_read is false');
    const { policy } = await policyOnNewDisk('live', randomBytes(MiB));
    const { runId, result } = await backupEngine.runPolicyNow(policy.id);
    assert.equal(result.status, 'succeeded');
    assert.equal(result.error, null);
    assert.equal(result.liveRead, live);

    const run = await service.services.runs.find(runId);
    assert.equal(run?.status, 'succeeded');
    assert.equal(run?.error, null, 'a run that succeeded carries no error');
    assert.equal(run?.live_read, live);
    const [listed] = await service.services.runs.list({ policyId: policy.id, limit: 10 });
    assert.equal(listed?.live_read, live);

    const [backup] = await service.services.backups.list(policy.id);
    assert.equal(backup?.live_read, live);
    assert.equal(backup?.consistency, live ? 'live' : 'snapshot');
    assert.equal(backup?.run_id, runId);

    const served = await service.call('GET', `/ext/v1/disk_backup_policies/${policy.id}/backups`, { token: org.token });
    assert.equal(served.body.backups[0].live_read, live);
  });

  test('runPolicyNow answers each backup: its id, disk, bytes read, bytes newly stored, duration and live read', async () => {
    const image = Buffer.concat([randomBytes(2 * MiB), Buffer.alloc(MiB), randomBytes(12345)]);
    const { disk, policy } = await policyOnNewDisk('measured', image);

    const first = await backupEngine.runPolicyNow(policy.id);
    assert.equal(first.result.backups.length, 1);
    const taken = first.result.backups[0]!;
    assert.deepEqual(Object.keys(taken), ['id', 'diskId', 'bytesRead', 'bytesStored', 'durationMs', 'liveRead']);
    const [catalogued] = await service.services.backups.list(policy.id);
    assert.equal(taken.id, catalogued?.id);
    assert.equal(taken.diskId, disk.id);
    assert.equal(taken.bytesRead, image.length);
    assert.ok(taken.bytesStored > MiB, `a first backup stores its random data (${taken.bytesStored} bytes)`);
    assert.equal(taken.bytesStored, catalogued?.new_stored_bytes);
    assert.ok(Number.isInteger(taken.durationMs) && taken.durationMs >= 0);
    assert.equal(taken.liveRead, live);

    const second = await backupEngine.runPolicyNow(policy.id);
    const unchanged = second.result.backups[0]!;
    assert.notEqual(unchanged.id, taken.id);
    assert.equal(unchanged.bytesRead, image.length);
    assert.equal(unchanged.bytesStored, 0, 'an unchanged disk adds no chunk');
  });
});

forEachEngine('run-due --now stamps backups with the time they were taken', (engineName) => {
  let database: TestDatabase;
  before(() => {
    database = TestDatabase.create(engineName);
  });
  after(() => database.close());

  test("a run-due --now T backup has created_at = the real time; its run's scheduled_at is T", async () => {
    const runtime = await database.open();
    const { dataDir } = database.location;
    const organization = await runtime.services.inventory.createOrganization({ name: 'Run due', subDomain: `run-due-${process.pid}` });
    const imagePath = join(dataDir, 'run-due.img');
    writeFileSync(imagePath, randomBytes(MiB));
    const disk = await runtime.services.inventory.createDisk({ organizationId: organization.id, name: 'run due', sizeInGb: 1, imagePath });
    const policy = await createDiskPolicy(runtime, organization.id, disk, { interval: 'daily', time: 2, minute: 30 });
    const at = policy.next_invocation_at;
    assert.ok(Math.abs(at - Date.now() / 1000) > 3600, 'the simulated instant is far from the real time');

    const result = await dbp(['run-due', '--now', String(at), '--data-dir', dataDir, ...databaseUrlArgs(database.location), '--json'], {
      env: { DBP_REPOSITORY_PASSWORD: 'run-due passphrase', DBP_LOG_LEVEL: 'warn' },
    });
    assert.equal(result.code, 0, result.stderr);
    const realNow = Date.now() / 1000;

    const [run] = await runtime.services.runs.list({ policyId: policy.id, limit: 10 });
    assert.equal(run?.scheduled_at, at, 'the run keeps the instant it was for');
    assert.equal(run?.status, 'succeeded');
    assert.equal(run?.error, null);
    const [backup] = await runtime.services.backups.list(policy.id);
    assert.equal(backup?.run_id, run?.id);
    assert.ok(
      Math.abs(backup!.created_at - realNow) < 60,
      `created_at ${backup!.created_at} is the real time (${Math.round(realNow)}), not the simulated instant ${at}`,
    );
  });
});
