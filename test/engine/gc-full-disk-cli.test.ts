import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openRepository } from '../../src/engine/repository/index.js';
import { dbp, dbpJson } from '../support/dbp-cli.js';
import { fillUp, freeBytes, mountSmallDisk, unmount } from './fixtures/small-disk.js';

/**
 * Issue 15, defect 7, through the real CLI: the data directory (database, passphrase, repository, disk
 * images) on a small tmpfs filled to 100 % with forgotten backups; `dbp gc` needs no outside help, though
 * the database cannot be opened until it has freed some space.
 */
const root = mkdtempSync(join(tmpdir(), 'dbp-gc-full-disk-'));
const disk = join(root, 'disk');
let mounted = false;
after(() => {
  if (mounted) unmount(disk);
  rmSync(root, { recursive: true, force: true });
});
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const MB = 1024 * 1024;

test('dbp gc on a full disk (database and repository on it) frees the space of forgotten backups; then a policy run succeeds and every kept backup restores', async (t) => {
  const problem = mountSmallDisk(disk, 48);
  if (problem) return t.skip(problem.skip);
  mounted = true;
  const demo = await dbpJson(['demo', '--data-dir', disk]);
  const policy: string = demo.disk_backup_policy.id;
  // The demo disk's image, made small and given content of its own.
  const imagePath = join(disk, 'disks', `${demo.disk.id}.img`);
  const contents = new Map<string, Buffer>();
  const runPolicy = async () => {
    const content = randomBytes(4 * MB);
    writeFileSync(imagePath, content);
    const run = await dbpJson(['policy', 'run', policy, '--data-dir', disk]);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    contents.set(run.backups[0].id, content);
  };
  await runPolicy();

  // Backups until the disk is full, then forgotten (as retention forgets a policy's oldest backups).
  const password = readFileSync(join(disk, 'repository.key'), 'utf8').trim();
  const repository = await openRepository({ location: { type: 'local', path: join(disk, 'repository') }, password, workers: 2 });
  const strays: string[] = [];
  try {
    for (;;) {
      const image = join(root, `stray-${strays.length}`);
      writeFileSync(image, randomBytes(2 * MB));
      try {
        strays.push((await repository.backup({ sourcePath: image })).id);
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
        break;
      } finally {
        rmSync(image);
      }
    }
    await repository.forget(strays);
  } finally {
    await repository.close();
  }
  assert.ok(strays.length >= 10, `${strays.length} backups filled the disk`);
  fillUp(disk);

  const gc = await dbp(['gc', '--json', '--data-dir', disk]);
  assert.equal(gc.code, 0, `dbp gc failed on a full disk: ${gc.stderr}`);
  const report = JSON.parse(gc.stdout);
  assert.ok(report.bytes_removed >= strays.length * 2 * MB, `gc removed ${report.bytes_removed} bytes`);
  assert.ok(freeBytes(disk) >= 20 * MB, `gc freed the disk (${freeBytes(disk)} bytes free)`);

  await runPolicy();
  const listed = await dbpJson(['backups', 'list', '--policy', policy, '--data-dir', disk]);
  assert.deepEqual(new Set(listed.map((backup: { id: string }) => backup.id)), new Set(contents.keys()));
  for (const [id, content] of contents) {
    const target = join(root, `restored-${id}`);
    await dbpJson(['restore', '--backup', id, '--to', target, '--data-dir', disk]);
    assert.equal(sha256(readFileSync(target)), sha256(content), `backup ${id} restores byte-exact`);
    rmSync(target);
  }
  const verify = await dbpJson(['verify', '--data-dir', disk]);
  assert.equal(verify.ok, true);
});
