import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dbp, dbpJson } from '../support/dbp-cli.js';
import { corruptChunksAt } from '../support/repository-damage.js';

/** The backup commands through the real CLI, on the demo's data: run, list, restore, verify, gc, and bad input. */
/** The image's size and the hash of its first 16 MiB (the demo's content; the rest of a demo image is a hole). */
async function fingerprint(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { end: 16 * 1024 * 1024 - 1 })) hash.update(chunk as Buffer);
  return `${statSync(path).size}:${hash.digest('hex')}`;
}
let dataDir: string;
let demo: any;
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-backups-cli-'));
  demo = await dbpJson(['demo', '--data-dir', dataDir]);
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('demo gives its disks images with content and the repository a passphrase file', () => {
  assert.ok(existsSync(join(dataDir, 'repository.key')));
  const image = join(dataDir, 'disks', `${demo.disk.id}.img`);
  assert.ok(statSync(image).size >= 10_000_000_000, 'a 10 GB sparse image');
});

test('policy run backs up now; backups list shows it; restore --to is byte-exact; --new-disk adds a disk; verify is clean', async () => {
  const run = await dbpJson(['policy', 'run', demo.disk_backup_policy.id, '--data-dir', dataDir]);
  assert.equal(run.status, 'succeeded');
  assert.deepEqual(Object.keys(run), ['run_id', 'status', 'error', 'backups']);
  assert.match(run.run_id, /^run_[A-Za-z0-9]{16}$/);
  const backups = await dbpJson(['backups', 'list', '--policy', demo.disk_backup_policy.id, '--data-dir', dataDir]);
  assert.equal(backups.length, 1);
  assert.equal(backups[0].disk_id, demo.disk.id);
  // Each backup the run took, as the engine reports it.
  assert.equal(run.backups.length, 1);
  assert.equal(run.error, null);
  for (const backup of run.backups) {
    assert.deepEqual(Object.keys(backup), ['id', 'disk_id', 'bytes_read', 'bytes_stored', 'duration_ms', 'live_read']);
    assert.equal(backup.id, backups[0].id);
    assert.ok(backup.bytes_read > 0 && backup.bytes_stored > 0 && backup.duration_ms >= 0);
  }
  const runs = await dbpJson(['runs', 'list', '--policy', demo.disk_backup_policy.id, '--data-dir', dataDir]);
  assert.equal(runs[0].id, run.run_id);
  const target = join(dataDir, 'restored.img');
  await dbpJson(['restore', '--backup', backups[0].id, '--to', target, '--data-dir', dataDir]);
  assert.equal(await fingerprint(target), await fingerprint(join(dataDir, 'disks', `${demo.disk.id}.img`)));
  assert.ok(statSync(target).blocks * 512 < 64 * 1024 * 1024, 'the restored image is sparse');
  const again = await dbp(['restore', '--backup', backups[0].id, '--to', target, '--data-dir', dataDir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists/);
  const restored = await dbpJson(['restore', '--backup', backups[0].id, '--new-disk', 'restored archive', '--data-dir', dataDir]);
  assert.match(restored.disk, /^disk_/);
  const verify = await dbpJson(['verify', '--data-dir', dataDir]);
  assert.deepEqual(verify, {
    backups_checked: 1, chunks_checked: verify.chunks_checked, bytes_checked: verify.bytes_checked, bad_chunks: [], bad_manifests: [], index_problems: [], ok: true, affected_backups: [],
  });
  assert.ok(verify.chunks_checked > 0 && verify.bytes_checked > 0);
  // The verification is the backup's last one, in the listing.
  const [verified] = await dbpJson(['backups', 'list', '--data-dir', dataDir]);
  assert.equal(verified.verify_outcome, 'ok');
  assert.equal(verified.verify_bytes, verify.bytes_checked);
  assert.equal(typeof verified.verified_at, 'number');
  assert.ok(!('verify_claimed_until' in verified), 'the scheduler lease is not shown');
  const gc = await dbpJson(['gc', '--data-dir', dataDir]);
  assert.deepEqual(Object.keys(gc), ['chunks_removed', 'bytes_removed', 'chunks_kept']);
  assert.equal(gc.chunks_removed, 0);
});

test('verify names the backup a damaged chunk affects and exits 1', async () => {
  const backups = await dbpJson(['backups', 'list', '--data-dir', dataDir]);
  const password = readFileSync(join(dataDir, 'repository.key'), 'utf8').trim();
  assert.ok((await corruptChunksAt(join(dataDir, 'repository'), password)) > 0);
  const verify = await dbp(['verify', '--data-dir', dataDir]);
  assert.equal(verify.code, 1);
  assert.match(verify.stdout, /PROBLEMS FOUND/);
  assert.match(verify.stdout, new RegExp(backups[0].id));
  const json = await dbp(['verify', '--json', '--data-dir', dataDir]);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(report.affected_backups, [backups[0].id]);
  assert.ok(report.bad_chunks.length > 0);
  assert.deepEqual(Object.keys(report.bad_chunks[0]), ['chunk_id', 'problem', 'detail', 'backup_ids']);
  const listed = await dbp(['backups', 'list', '--data-dir', dataDir]);
  assert.match(listed.stdout, /last_verified/);
  assert.match(listed.stdout, new RegExp(`${backups[0].id}.*FAILED \\d{4}-`));
});

test('disk create --image records the image and takes its size; a missing image is refused', async () => {
  const image = join(dataDir, 'given.img');
  writeFileSync(image, Buffer.alloc(4096));
  const disk = await dbpJson(['disk', 'create', '--org', demo.organization.id, '--name', 'given', '--image', image, '--data-dir', dataDir]);
  assert.equal(disk.image, image);
  assert.equal(disk.size_in_gb, 1);
  const missing = await dbp(['disk', 'create', '--org', demo.organization.id, '--name', 'gone', '--image', join(dataDir, 'nope.img'), '--data-dir', dataDir]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--image .*nope\.img: ENOENT/);
});

test('bad input: clear errors and exit codes', async () => {
  const neither = await dbp(['restore', '--backup', 'bkp_x', '--data-dir', dataDir]);
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /exactly one of --to PATH, --to-rbd POOL\/IMAGE and --new-disk NAME/);
  const unknown = await dbp(['restore', '--backup', 'bkp_nope', '--to', join(dataDir, 'x.img'), '--data-dir', dataDir]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /No backup bkp_nope/);
  const wrong = await dbp(['backups', 'list', '--data-dir', dataDir], { env: { DBP_REPOSITORY_PASSWORD: 'not the passphrase' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /Wrong passphrase/);
  const fresh = mkdtempSync(join(tmpdir(), 'dbp-backups-cli-fresh-'));
  try {
    const unconfigured = await dbp(['backups', 'list', '--data-dir', fresh]);
    assert.equal(unconfigured.code, 1);
    assert.match(unconfigured.stderr, /DBP_REPOSITORY_PASSWORD/);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});
