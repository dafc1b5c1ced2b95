import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openBackupEngine, type BackupEngine } from '../../src/engine/index.js';
import { formatRepositoryLocation } from '../../src/engine/storage/location.js';
import { DEFAULT_CHUNK_SIZE } from '../../src/engine/repository/index.js';
import { schedulerFor } from '../../src/scheduler/index.js';
import { forEachEngine, TestService, type Engine, type TestOrganization } from '../support/harness.js';
import { corruptChunks, packIds, packsNotIn, storedChunkBytes } from '../support/repository-damage.js';
import { TEST_STORES, type TestStore } from '../support/test-stores.js';

const MiB = 1024 * 1024;
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

// The engine and the catalogue together, on each catalogue engine and each store.
forEachEngine('backup engine', (engineName) => {
  for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => suite(engineName, store));
});

function suite(engineName: Engine, store: TestStore) {
  let service: TestService;
  let org: TestOrganization;
  let backupEngine: BackupEngine;
  let dataDir: string;
  before(async () => {
    service = await TestService.start(engineName);
    org = await service.createOrganization('Backups');
    dataDir = mkdtempSync(join(tmpdir(), 'dbp-engine-test-'));
    const repositoryPath = formatRepositoryLocation(await store.location(`backups-${engineName}`));
    backupEngine = await openBackupEngine(service.runtime, { dataDir, repositoryPath, password: 'correct horse', workers: 2 });
  });
  after(async () => {
    await backupEngine.close();
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function diskWithImage(name: string, bytes: Buffer) {
    const imagePath = join(dataDir, `${name}.img`);
    writeFileSync(imagePath, bytes);
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name, sizeInGb: 1, imagePath });
    return { disk, imagePath };
  }

  test('after 10 runs with retention 3: 3 backups per disk, unreferenced chunks gone, total_size = bytes they use', async () => {
    const image = Buffer.concat([randomBytes(3 * MiB), Buffer.alloc(2 * MiB), randomBytes(MiB + 4321)]);
    const { disk, imagePath } = await diskWithImage('retained', image);
    const policy = await service.createPolicy(org.token, disk.id, { retention: 3, schedule: { interval: 'daily' } });
    const hashes = new Map<string, string>();
    for (let run = 0; run < 10; run++) {
      randomBytes(4096).copy(image, (run % 3) * MiB); // change one chunk each run
      writeFileSync(imagePath, image);
      const { result } = await backupEngine.runPolicyNow(policy.id);
      assert.equal(result.status, 'succeeded', result.error ?? '');
      const [newest] = await backupEngine.listBackups(policy.id);
      hashes.set(newest!.id, sha256(imagePath));
    }
    const kept = await backupEngine.listBackups(policy.id);
    assert.equal(kept.length, 3);
    assert.equal((await backupEngine.repository.listBackups()).filter((b) => b.tags.policy_id === policy.id).length, 3);
    await backupEngine.collectGarbage();
    const policyNow = await service.call('GET', `disk_backup_policies/${policy.id}`, { token: org.token });
    assert.equal(policyNow.body.disk_backup_policy.total_size, (await storedChunkBytes(backupEngine.repository)) / 1e9);
    assert.ok(policyNow.body.disk_backup_policy.total_size > 0);
    for (const backup of kept) {
      const target = join(dataDir, `restored-${backup.id}`);
      await backupEngine.restoreToPath(backup.id, target);
      assert.equal(sha256(target), hashes.get(backup.id), `backup ${backup.id} restores byte-exact`);
      rmSync(target);
    }
  });

  test("a virtual machine's policy backs up every disk of the machine in one run", async () => {
    const vm = await service.createVirtualMachine(org.id, 'two-disks');
    for (const name of ['system', 'data']) {
      const imagePath = join(dataDir, `${vm.id}-${name}.img`);
      writeFileSync(imagePath, randomBytes(MiB));
      await service.services.inventory.createDisk({ organizationId: org.id, name, sizeInGb: 1, virtualMachineId: vm.id, imagePath });
    }
    const created = await service.call('POST', 'virtual_machines/virtual_machine/disk_backup_policies', {
      token: org.token,
      json: { virtual_machine: { id: vm.id }, properties: { retention: 2, schedule: { interval: 'hourly' } } },
    });
    assert.equal(created.status, 200, created.text);
    const { runId, result } = await backupEngine.runPolicyNow(created.body.disk_backup_policy.id);
    assert.equal(result.status, 'succeeded');
    const backups = await backupEngine.listBackups(created.body.disk_backup_policy.id);
    assert.equal(backups.length, 2);
    assert.ok(backups.every((b) => b.run_id === runId));
  });

  test('the scheduler hands due runs to the engine, which backs them up', async () => {
    const { disk } = await diskWithImage('scheduled', randomBytes(MiB));
    const policy = await service.createPolicy(org.token, disk.id, { retention: 1, schedule: { interval: 'hourly' } });
    service.clock.set((policy.schedule as { next_invocation_at: number }).next_invocation_at);
    const finished = await schedulerFor(service.runtime, { logger: false, runner: backupEngine }).runDue();
    const mine = finished.filter((run) => run.run.policyId === policy.id);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.status, 'succeeded');
    assert.equal((await backupEngine.listBackups(policy.id)).length, 1);
  });

  test('purging a policy from the trash deletes its backups (catalogue at once, repository at the next gc)', async () => {
    const { disk } = await diskWithImage('purged', randomBytes(2 * MiB));
    const policy = await service.createPolicy(org.token, disk.id);
    await backupEngine.runPolicyNow(policy.id);
    const [backup] = await backupEngine.listBackups(policy.id);
    assert.ok(backup);
    assert.equal((await service.call('DELETE', `disk_backup_policies/${policy.id}`, { token: org.token })).status, 200);
    const trash = await service.services.trash.find({ object_id: policy.id });
    const purged = await service.call('DELETE', `trash_objects/${trash!.id}`, { token: org.token });
    assert.equal(purged.status, 200, purged.text);
    assert.equal((await backupEngine.listBackups(policy.id)).length, 0);
    await backupEngine.collectGarbage();
    assert.equal((await backupEngine.repository.listBackups()).some((b) => b.id === backup.repository_backup_id), false);
  });

  test('reconcile adopts a backup whose catalogue row was lost and drops a row whose manifest is gone', async () => {
    const { disk } = await diskWithImage('reconciled', randomBytes(MiB));
    const policy = await service.createPolicy(org.token, disk.id, { retention: 5, schedule: { interval: 'daily' } });
    await backupEngine.runPolicyNow(policy.id);
    await backupEngine.runPolicyNow(policy.id);
    const [newest, older] = await backupEngine.listBackups(policy.id);
    const db = service.runtime.store.db;
    await db.deleteFrom('backups').where('id', '=', newest!.id).execute(); // crash before the row was written
    await backupEngine.repository.forget([older!.repository_backup_id]); // crash while pruning
    const changes = await backupEngine.reconcile();
    assert.deepEqual({ adopted: changes.adopted, rowsDeleted: changes.rowsDeleted }, { adopted: 1, rowsDeleted: 1 });
    assert.deepEqual((await backupEngine.listBackups(policy.id)).map((b) => b.id), [newest!.id]);
  });

  test('verify names the backups a damaged chunk affects', async () => {
    const { disk } = await diskWithImage('damaged', randomBytes(MiB));
    const policy = await service.createPolicy(org.token, disk.id);
    const packsBefore = await packIds(backupEngine.repository);
    await backupEngine.runPolicyNow(policy.id);
    const [backup] = await backupEngine.listBackups(policy.id);
    assert.equal((await backupEngine.verify(backup!.id)).ok, true);
    // Damage every chunk of this backup: it is the only one with this random content.
    const before = await backupEngine.repository.storedBytes([backup!.repository_backup_id]);
    assert.ok(before > 0);
    const summary = await backupEngine.repository.getBackup(backup!.repository_backup_id);
    assert.equal(summary.chunkCount, MiB / DEFAULT_CHUNK_SIZE);
    const damaged = await corruptChunks(backupEngine.repository, packsNotIn(packsBefore));
    assert.ok(damaged >= 1);
    const report = await backupEngine.verify(backup!.id);
    assert.equal(report.ok, false);
    assert.deepEqual(report.affectedBackups, [backup!.id]);
  });
}
