/**
 * Disks on Ceph RBD (docs/RBD.md), on the project's test cluster: snapshot-based backups, full reads of
 * only the allocated extents, incrementals that read only the chunks RBD says changed, every backup
 * of a chain restoring byte-identical to its snapshot (hashed by `rbd export`, not by the engine), a
 * write during a backup not in it, the fallbacks to a full read, restore to a new RBD image, and a
 * kill -9 during a backup leaving no snapshot behind once the next run is done.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { RbdSnapshotReader } from '../../src/engine/rbd/io.js';
import { rbdImageOfPath, rbdImagePath } from '../../src/engine/rbd/names.js';
import { dbp } from '../support/dbp-cli.js';
import { TEST_REPOSITORY_PASSWORD, TestService, type TestOrganization } from '../support/harness.js';
import { counterOf, createImage, exportHash, randomWrites, rbdCommand, rbdSkipReason, removeImage, snapshotNames, startLockStepWriter, uniqueImage, writeImage } from '../support/rbd.js';

const MiB = 1024 * 1024;
const CHUNK = 65_536;
const IMAGE_BYTES = 128 * MiB;
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const ours = async (image: Parameters<typeof snapshotNames>[0]) => (await snapshotNames(image)).filter((name) => name.startsWith('dbp.'));

describe('RBD disks', { skip: rbdSkipReason() }, () => {
  let service: TestService;
  let org: TestOrganization;
  const images: ReturnType<typeof uniqueImage>[] = [];
  before(async () => {
    service = await TestService.start('sqlite', { backupEngine: true });
    org = await service.createOrganization('Rbd');
  });
  const vmIds: string[] = [];
  after(async () => {
    // A group's images cannot be removed while they are in it.
    for (const vmId of vmIds) await rbdCommand(['group', 'rm', `rbd/dbp-${vmId}`]).catch(() => {});
    for (const image of images) await removeImage(image);
    await service.stop();
  });

  /** A new 128 MiB image holding `dataMiB` MiB of random data from its start; a disk and a policy on it. */
  async function rbdDisk(label: string, dataMiB: number) {
    const image = uniqueImage(label);
    images.push(image);
    await createImage(image, IMAGE_BYTES);
    await writeImage(image, [{ offset: 0, bytes: randomBytes(dataMiB * MiB) }]);
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name: label, sizeInGb: 1, imagePath: rbdImagePath(image) });
    const policy = await service.createPolicy(org.token, disk.id, { retention: 10, schedule: { interval: 'daily' } });
    return { image, disk, policy };
  }

  const engine = () => service.backupEngine!;

  async function runOnce(policyId: string) {
    const { result } = await engine().runPolicyNow(policyId);
    assert.equal(result.status, 'succeeded', result.error ?? '');
    const [newest] = await engine().listBackups(policyId);
    return { taken: result.backups[0]!, row: newest! };
  }

  test('a chain of backups: a full read of the allocated extents, then incrementals reading only the changed chunks; each restores to its snapshot', async () => {
    const { image, policy } = await rbdDisk('chain', 24);
    // Data far from the start too: a full read skips the unallocated middle.
    await writeImage(image, [{ offset: 96 * MiB, bytes: randomBytes(8 * MiB) }]);
    const snapshotHashes = new Map<string, string>();
    const first = await runOnce(policy.id);
    assert.equal(first.row.consistency, 'snapshot');
    assert.equal(first.row.live_read, false);
    assert.equal(first.row.read_mode, 'full');
    assert.equal(first.row.read_note, null);
    assert.equal(first.taken.bytesRead, 32 * MiB, 'a full read reads the allocated extents only');
    snapshotHashes.set(first.row.id, await exportHash(image, first.row.source_snapshot!));
    let previous = first.row;
    for (let round = 0; round < 4; round++) {
      const writes = randomWrites(24 * MiB, 20); // inside the written data: RBD's diff is then exact
      await writeImage(image, writes);
      const changedChunks = new Set(writes.map((write) => Math.floor(write.offset / CHUNK))).size;
      const next = await runOnce(policy.id);
      assert.equal(next.row.read_mode, 'incremental');
      assert.equal(next.row.base_backup_id, previous.id);
      assert.equal(next.taken.bytesRead, changedChunks * CHUNK, 'only the chunks the writes touched are read');
      assert.deepEqual(await ours(image), [next.row.source_snapshot], 'the snapshot before is removed, the newest kept');
      snapshotHashes.set(next.row.id, await exportHash(image, next.row.source_snapshot!));
      previous = next.row;
    }
    // The API shows how each backup read the disk.
    const listed = await service.call('GET', `/ext/v1/disk_backup_policies/${policy.id}/backups`, { token: org.token });
    assert.equal(listed.status, 200, listed.text);
    const modes = (listed.body.backups as { read_mode: string; consistency: string; live_read: boolean }[]).map((b) => [b.read_mode, b.consistency, b.live_read]);
    assert.deepEqual(modes, [...Array.from({ length: 4 }, () => ['incremental', 'snapshot', false]), ['full', 'snapshot', false]]);
    for (const [backupId, expected] of snapshotHashes) {
      const target = join(service.dataDir, `restored-${backupId}.img`);
      await engine().restoreToPath(backupId, target);
      assert.equal(sha256(target), expected, `backup ${backupId} restores byte-identical to its snapshot`);
      rmSync(target);
    }
    // Restore to a new RBD image: the same bytes, and thin (only the non-zero chunks written).
    const restored = uniqueImage('restored');
    images.push(restored);
    await engine().restoreToRbd(previous.id, restored);
    assert.equal(await exportHash(restored), snapshotHashes.get(previous.id));
    const usage = JSON.parse(await new Promise<string>((resolve, reject) => {
      const child = spawn('rbd', ['du', `${restored.pool}/${restored.image}`, '--format', 'json'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (data: Buffer) => (out += data.toString()));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error('rbd du failed'))));
    })) as { images: { used_size: number }[] };
    assert.ok(usage.images[0]!.used_size <= 40 * MiB, `the restored image is thin (${usage.images[0]!.used_size} bytes used)`);
    // A new disk from the backup of an RBD disk is a new RBD image in the same pool.
    const newDiskImage = await engine().restoreToNewImage(previous.id);
    const onRbd = rbdImageOfPath(newDiskImage);
    assert.ok(onRbd && onRbd.pool === image.pool, newDiskImage);
    images.push(onRbd);
    assert.equal(await exportHash(onRbd), snapshotHashes.get(previous.id));
    // An image that exists is refused and left alone.
    await assert.rejects(engine().restoreToRbd(previous.id, restored), /exists/);
    assert.equal(await exportHash(restored), snapshotHashes.get(previous.id));
  });

  test('a reader given the chunk size sends zero chunks as a flag only, and answers the same bytes as one without', async () => {
    // 8 MiB and 12 KiB: the last chunk is short. Data at a few places, one of them straddling two chunks.
    const image = uniqueImage('zero-chunks');
    images.push(image);
    const size = 8 * MiB + 12 * 1024;
    await createImage(image, size);
    await writeImage(image, [
      { offset: 0, bytes: randomBytes(4096) },
      { offset: 3 * CHUNK - 100, bytes: randomBytes(200) },
      { offset: 5 * MiB, bytes: randomBytes(CHUNK) },
      { offset: size - 5000, bytes: randomBytes(10) },
    ]);
    await rbdCommand(['snap', 'create', `${image.pool}/${image.image}@read`]);
    const plain = RbdSnapshotReader.open(image, { kind: 'user', name: 'read' });
    const chunked = RbdSnapshotReader.open(image, { kind: 'user', name: 'read' }, CHUNK);
    try {
      const ranges: [number, number][] = [[0, size], [0, CHUNK], [2 * CHUNK, 2 * CHUNK], [4 * MiB, 2 * MiB], [size - (size % CHUNK) - CHUNK, CHUNK + (size % CHUNK)]];
      for (let i = 0; i < 40; i++) {
        const first = Math.floor(Math.random() * (size / CHUNK));
        ranges.push([first * CHUNK, Math.min(size - first * CHUNK, (1 + Math.floor(Math.random() * 20)) * CHUNK)]);
      }
      // All asked for at once, as a backup does: the answers come back in order, each whole.
      const [expected, got] = await Promise.all([
        Promise.all(ranges.map(([offset, length]) => plain.read(offset, length))),
        Promise.all(ranges.map(([offset, length]) => chunked.read(offset, length))),
      ]);
      ranges.forEach(([offset, length], i) => {
        assert.equal(got[i]!.length, length);
        assert.ok(got[i]!.equals(expected[i]!), `bytes ${offset}+${length} differ`);
      });
      assert.ok(expected[0]!.subarray(5 * MiB, 5 * MiB + CHUNK).some((byte) => byte !== 0), 'the image holds data where it was written');
    } finally {
      await Promise.all([plain.close(), chunked.close()]);
    }
  });

  test('a write landing during a backup is not in it', async () => {
    const { image, policy } = await rbdDisk('during', 64);
    const before = new Set(await ours(image));
    const running = engine().runPolicyNow(policy.id);
    // As soon as the backup's snapshot exists, the live image changes.
    let snapshot: string | undefined;
    for (let i = 0; i < 500 && !snapshot; i++) {
      snapshot = (await ours(image)).find((name) => !before.has(name));
      if (!snapshot) await sleep(5);
    }
    assert.ok(snapshot, 'the backup took a snapshot');
    await writeImage(image, [{ offset: 8 * MiB, bytes: randomBytes(MiB) }]);
    const { result } = await running;
    assert.equal(result.status, 'succeeded', result.error ?? '');
    const [backup] = await engine().listBackups(policy.id);
    assert.equal(backup!.source_snapshot, snapshot);
    const target = join(service.dataDir, 'during.img');
    await engine().restoreToPath(backup!.id, target);
    assert.equal(sha256(target), await exportHash(image, snapshot));
    assert.notEqual(sha256(target), await exportHash(image), 'the live image has the write; the backup has not');
    rmSync(target);
  });

  test('a full read, saying why, when the base snapshot is gone or the previous backup failed verification', async () => {
    const { image, policy } = await rbdDisk('fallback', 8);
    const first = await runOnce(policy.id);
    await removeSnapshot(image, first.row.source_snapshot!);
    await writeImage(image, randomWrites(8 * MiB, 5));
    const second = await runOnce(policy.id);
    assert.equal(second.row.read_mode, 'full');
    assert.match(second.row.read_note ?? '', /snapshot .* is gone/);
    assert.equal(second.taken.bytesRead, 8 * MiB);
    // The catalogue records a failed verification of the newest backup: the next one does not build on it.
    await service.runtime.store.db.updateTable('backups').set({ verify_outcome: 'failed', verified_at: 1 }).where('id', '=', second.row.id).execute();
    const third = await runOnce(policy.id);
    assert.equal(third.row.read_mode, 'full');
    assert.match(third.row.read_note ?? '', /failed its last verification/);
    const fourth = await runOnce(policy.id);
    assert.equal(fourth.row.read_mode, 'incremental');
    assert.equal(fourth.taken.bytesRead, 0, 'nothing changed: nothing read');
    const target = join(service.dataDir, 'fallback.img');
    await engine().restoreToPath(fourth.row.id, target);
    assert.equal(sha256(target), await exportHash(image, fourth.row.source_snapshot!));
    rmSync(target);
  });

  test("a virtual machine's two disks are snapshotted at one instant (a group snapshot): restored, they are consistent with each other", async () => {
    const vm = await service.createVirtualMachine(org.id, 'lock-step');
    vmIds.push(vm.id);
    const pair = [uniqueImage('vm-a'), uniqueImage('vm-b')] as const;
    for (const [n, image] of pair.entries()) {
      images.push(image);
      await createImage(image, 64 * MiB);
      await writeImage(image, [{ offset: MiB, bytes: randomBytes(8 * MiB) }]);
      await service.services.inventory.createDisk({ organizationId: org.id, name: `disk-${n}`, sizeInGb: 1, virtualMachineId: vm.id, imagePath: rbdImagePath(image) });
    }
    const created = await service.call('POST', 'virtual_machines/virtual_machine/disk_backup_policies', {
      token: org.token,
      json: { virtual_machine: { id: vm.id }, properties: { retention: 5, schedule: { interval: 'daily' } } },
    });
    assert.equal(created.status, 200, created.text);
    const policyId = created.body.disk_backup_policy.id as string;
    const writer = startLockStepWriter(pair[0], pair[1]);
    const rounds: string[][] = [];
    try {
      for (let round = 0; round < 2; round++) {
        await sleep(300);
        const { result } = await engine().runPolicyNow(policyId);
        assert.equal(result.status, 'succeeded', result.error ?? '');
        rounds.push(result.backups.map((backup) => backup.id));
      }
    } finally {
      assert.ok((await writer.stop()) > 10, 'the writer kept writing');
    }
    const disks = await service.services.inventory.diskIdsOf(vm.id);
    for (const [round, ids] of rounds.entries()) {
      const rows = await Promise.all(ids.map((id) => engine().findBackup(id)));
      assert.equal(rows.length, 2);
      assert.ok(rows[0]!.snapshot_group, 'the run records the group snapshot its backups were read from');
      assert.equal(rows[0]!.snapshot_group, rows[1]!.snapshot_group);
      assert.deepEqual(rows.map((row) => row.read_mode), round === 0 ? ['full', 'full'] : ['incremental', 'incremental']);
      const counters = new Map<string, number>();
      for (const row of rows) {
        const target = join(service.dataDir, `vm-${row.id}.img`);
        await engine().restoreToPath(row.id, target);
        counters.set(row.disk_id, counterOf(readFileSync(target)));
        rmSync(target);
      }
      // Disks in creation order: the writer writes disk 0 first, then disk 1.
      const [first, second] = disks.map((id) => counters.get(id)!) as [number, number];
      assert.ok(first > 0 && (first === second || first === second + 1), `round ${round}: restored counters ${first} and ${second} are of one instant`);
    }
    assert.deepEqual(JSON.parse(await rbdCommand(['group', 'snap', 'ls', `rbd/dbp-${vm.id}`, '--format', 'json'])), [], 'the group snapshots are removed after each run');
    for (const image of pair) assert.equal((await ours(image)).length, 1, 'each disk keeps its newest backup\'s own snapshot');
  });

  test("the worker's start-up reconcile removes this service's snapshots nothing needs, and no other snapshot", async () => {
    const { image, policy } = await rbdDisk('stray', 4);
    const first = await runOnce(policy.id);
    const rbdSpec = `${image.pool}/${image.image}`;
    await rbdCommand(['snap', 'create', `${rbdSpec}@dbp.run_StrayStrayStray1.bkp_StrayStrayStray1`, '--no-progress']);
    await rbdCommand(['snap', 'create', `${rbdSpec}@operator-snapshot`, '--no-progress']);
    // A group snapshot of a run that is over, in a group of this service.
    const group = `rbd/dbp-vm_StrayGroupStray01`;
    await rbdCommand(['group', 'create', group]);
    try {
      await rbdCommand(['group', 'image', 'add', group, rbdSpec]);
      await rbdCommand(['group', 'snap', 'create', `${group}@dbp.run_StrayStrayStray2`]);
      await engine().reconcileSnapshots();
      assert.deepEqual((await snapshotNames(image)).sort(), [first.row.source_snapshot, 'operator-snapshot'].sort());
      assert.deepEqual(JSON.parse(await rbdCommand(['group', 'snap', 'ls', group, '--format', 'json'])), []);
    } finally {
      await rbdCommand(['group', 'rm', group]).catch(() => {});
    }
  });

  test('kill -9 during a backup: the next run removes the snapshot it left, succeeds, and keeps only its own', async () => {
    const { image, policy } = await rbdDisk('killed', 96);
    const env: NodeJS.ProcessEnv = { ...process.env, DBP_REPOSITORY_PASSWORD: TEST_REPOSITORY_PASSWORD, DBP_RUN_LEASE_SECONDS: "2" };
    delete env.DATABASE_URL;
    delete env.DBP_DATA_DIR;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'policy', 'run', policy.id, '--data-dir', service.dataDir, '--json'], { cwd: REPO_ROOT, env, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let leaked: string | undefined;
    for (let i = 0; i < 3000 && !leaked && child.exitCode === null; i++) {
      leaked = (await ours(image))[0];
      if (!leaked) await sleep(5);
    }
    assert.ok(leaked, 'the killed run had taken its snapshot');
    await sleep(Math.floor(Math.random() * 150));
    child.kill('SIGKILL');
    await exited;
    assert.equal((await engine().listBackups(policy.id)).length, 0, 'killed before it recorded its backup');
    assert.deepEqual(await ours(image), [leaked], 'the killed run left its snapshot');
    await sleep(2100); // the killed run's lease (2 s) expires
    const next = await dbp(['policy', 'run', policy.id, '--data-dir', service.dataDir, '--json'], { env: { DBP_REPOSITORY_PASSWORD: TEST_REPOSITORY_PASSWORD } });
    assert.equal(next.code, 0, next.stderr);
    const run = JSON.parse(next.stdout);
    assert.equal(run.status, 'succeeded');
    const [backup] = await engine().listBackups(policy.id);
    assert.equal(backup!.run_id, run.run_id);
    assert.deepEqual(await ours(image), [backup!.source_snapshot], 'no snapshot of the killed run is left');
    const target = join(service.dataDir, 'killed.img');
    await engine().restoreToPath(backup!.id, target);
    assert.equal(sha256(target), await exportHash(image, backup!.source_snapshot!));
    rmSync(target);
  });
});


async function removeSnapshot(image: { pool: string; image: string }, snapshot: string): Promise<void> {
  const { rbdCommand } = await import('../support/rbd.js');
  await rbdCommand(['snap', 'rm', `${image.pool}/${image.image}@${snapshot}`, '--no-progress']);
}
