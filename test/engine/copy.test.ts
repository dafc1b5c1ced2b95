import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { openRepository, type Repository } from '../../src/engine/repository/index.js';
import { parseRepositoryLocation } from '../../src/engine/storage/location.js';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { corruptChunks } from '../support/repository-damage.js';
import { s3RepositoryUrl, s3SkipReason, s3TestClient, s3TestTarget, uniqueBucketName } from '../support/s3.js';

/** Copying backups between repositories (a second copy): through the Repository contract only. */
const root = mkdtempSync(join(tmpdir(), 'dbp-copy-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${name}-${counter++}`);
const local = (): StoreLocation => ({ type: 'local', path: fresh('repository') });

function open(location: StoreLocation, password: string, chunkSize: number): Promise<Repository> {
  return openRepository({ location, password, create: true, chunkSize, workers: 2 });
}

/** An image of random blocks and zero runs; `seed` blocks are reused so that two images share chunks. */
function image(blocks: readonly (Buffer | 'zero')[], blockSize: number): string {
  const path = fresh('image');
  writeFileSync(path, Buffer.concat(blocks.map((block) => (block === 'zero' ? Buffer.alloc(blockSize) : block))));
  return path;
}

async function assertRestoresTo(repository: Repository, backupId: string, expected: string): Promise<void> {
  const to = fresh('restored');
  await repository.restore(backupId, { toPath: to });
  assert.ok(readFileSync(to).equals(readFileSync(expected)), `backup ${backupId} restores byte-identical`);
}

async function copyRoundTrip(sourceLocation: StoreLocation, targetLocation: StoreLocation): Promise<void> {
  const block = 64 * 1024;
  const shared = Array.from({ length: 24 }, () => randomBytes(block));
  // Different chunk sizes on purpose: the target re-chunks the image.
  const source = await open(sourceLocation, 'source secret', 16 * 1024);
  const target = await open(targetLocation, 'target secret', 64 * 1024);
  try {
    const firstImage = image([...shared.slice(0, 12), 'zero', 'zero', ...shared.slice(12), Buffer.from('tail')], block);
    const first = await source.backup({ sourcePath: firstImage, tags: { policy_id: 'dbp_one', disk_id: 'disk_a' } });
    const report = await source.copyTo(target);
    assert.equal(report.copied.length, 1);
    assert.deepEqual(report.failed, []);
    assert.ok(report.chunksSent >= 24, `${report.chunksSent} chunks sent`);
    const copy = await target.getBackup(first.id);
    assert.deepEqual(copy.tags, first.tags);
    assert.equal(copy.diskSize, first.diskSize);
    assert.equal(copy.createdAt, first.createdAt);
    assert.equal(copy.startedAt, first.startedAt);
    await assertRestoresTo(target, first.id, firstImage);

    // A similar image: only its new block is sent; the first backup is not copied again.
    const secondImage = image([...shared, randomBytes(block)], block);
    const second = await source.backup({ sourcePath: secondImage, tags: { policy_id: 'dbp_one', disk_id: 'disk_a' } });
    const again = await source.copyTo(target);
    assert.equal(again.backupsAlreadyThere, 1);
    assert.deepEqual(again.copied.map((backup) => backup.backupId), [second.id]);
    assert.equal(again.chunksSent, 1);
    assert.equal(again.chunksSkipped, 24);
    assert.ok(again.bytesSent < block + 1024, `${again.bytesSent} bytes sent`);
    await assertRestoresTo(target, second.id, secondImage);
    const verified = await target.verify();
    assert.ok(verified.ok);
    assert.equal(verified.backupsChecked, 2);
  } finally {
    await source.close();
    await target.close();
  }
}

describe('copy', () => {
  test('local to local: the copy restores byte-identical; a second copy sends only new chunks', () => copyRoundTrip(local(), local()));

  const s3 = s3TestTarget();
  test('local to S3 (radosgw)', { skip: s3SkipReason(s3) }, async () => {
    const bucket = uniqueBucketName('copy');
    await s3TestClient().send(new CreateBucketCommand({ Bucket: bucket }));
    await copyRoundTrip(local(), parseRepositoryLocation(s3RepositoryUrl(bucket, 'second')));
  });

  test('a tag selection (a policy) copies only those backups', async () => {
    const source = await open(local(), 'a', 4096);
    const target = await open(local(), 'b', 4096);
    try {
      const one = await source.backup({ sourcePath: image([randomBytes(9000)], 9000), tags: { policy_id: 'dbp_one' } });
      await source.backup({ sourcePath: image([randomBytes(9000)], 9000), tags: { policy_id: 'dbp_two' } });
      const report = await source.copyTo(target, { tags: { policy_id: 'dbp_one' } });
      assert.equal(report.backupsSelected, 1);
      assert.deepEqual((await target.listBackups()).map((backup) => backup.id), [one.id]);
    } finally {
      await source.close();
      await target.close();
    }
  });

  test('a damaged source chunk is reported and no manifest is written for that backup', async () => {
    const source = await open(local(), 'a', 4096);
    const target = await open(local(), 'b', 4096);
    try {
      const damaged = await source.backup({ sourcePath: image([randomBytes(40_000)], 40_000) });
      assert.ok((await corruptChunks(source)) > 0);
      const sound = await source.backup({ sourcePath: image([randomBytes(20_000)], 20_000) });
      const report = await source.copyTo(target);
      assert.deepEqual(report.failed.map((failure) => [failure.backupId, failure.code]), [[damaged.id, 'corrupt_chunk']]);
      assert.match(report.failed[0]!.message, /cannot be copied/);
      assert.deepEqual((await target.listBackups()).map((backup) => backup.id), [sound.id]);
      const verified = await target.verify();
      assert.ok(verified.ok);
      // The failed backup's packs were discarded: the target holds only the sound backup's chunks.
      assert.equal((await target.packs()).flatMap((pack) => pack.blobs).length, report.copied[0]!.chunksSent);
    } finally {
      await source.close();
      await target.close();
    }
  });
});
