/**
 * Immutable objects on radosgw: written with Object Lock retention (compliance mode), they cannot be
 * deleted or replaced before the period ends, neither through the store nor with the same credentials
 * directly; after it ends they can be removed. A bucket without Object Lock is recognised as such.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { StoreError } from '../../src/engine/storage/object-store.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { openLockAndPlainBuckets, s3Settings, s3Skip, uniqueBucketName, type LockAndPlainBuckets } from '../support/s3.js';

async function rejectsWith(promise: Promise<unknown>, code: StoreError['code']): Promise<StoreError> {
  const error = await promise.then(
    () => assert.fail(`expected StoreError('${code}'), but it succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof StoreError, String(error));
  assert.equal(error.code, code, error.message);
  return error;
}

describe('S3 Object Lock', { skip: s3Skip }, () => {
  const endpoint = s3Settings?.endpoint ?? '';
  const lockedBucket = uniqueBucketName('locked');
  const plainBucket = uniqueBucketName('plain');
  let locked: S3ObjectStore;
  let plain: S3ObjectStore;
  /** Someone holding the service's own credentials, talking to S3 directly. */
  let direct: S3Client;
  const inADay = () => new Date(Date.now() + 24 * 3600_000);

  let buckets: LockAndPlainBuckets | undefined;
  before(async () => {
    buckets = await openLockAndPlainBuckets(lockedBucket, plainBucket);
    ({ locked, plain, direct } = buckets);
  });

  after(() => buckets?.close());

  test('checkObjectLock tells a bucket with Object Lock from one without', async () => {
    assert.equal(await locked.checkObjectLock(), true);
    assert.equal(await plain.checkObjectLock(), false);
  });

  test('a retained object cannot be removed or replaced through the store', async () => {
    const bytes = randomBytes(10_000);
    await locked.put('pack', 'ab01', [bytes], { retainUntil: inADay() });
    const error = await rejectsWith(locked.remove('pack', ['ab01']), 'locked');
    assert.match(error.message, /packs\/ab\/ab01/);
    await rejectsWith(locked.put('pack', 'ab01', [randomBytes(100)], { retainUntil: inADay() }), 'locked');
    await locked.put('pack', 'ab01', [bytes], { retainUntil: inADay() }); // the same bytes again: a retried put, fine
    assert.ok((await locked.get('pack', 'ab01')).equals(bytes));
    const names: string[] = [];
    for await (const info of locked.list('pack')) names.push(info.name);
    assert.deepEqual(names, ['ab01']);
  });

  test('with the same credentials directly: the retained version can be neither deleted nor changed', async () => {
    const bytes = randomBytes(5_000);
    await locked.put('manifest', 'backup-1', [bytes], { retainUntil: inADay() });
    const key = 'repo/backups/backup-1';
    const original = await direct.send(new GetObjectCommand({ Bucket: lockedBucket, Key: key }));
    await original.Body?.transformToByteArray();
    const versionId = original.VersionId;
    assert.ok(versionId, 'a bucket with Object Lock is versioned');
    // Deleting that version is refused by radosgw itself.
    await assert.rejects(direct.send(new DeleteObjectCommand({ Bucket: lockedBucket, Key: key, VersionId: versionId })), (error: Error) => error.name === 'AccessDenied');
    // A PUT over the key is accepted by S3 as a new version (S3 cannot refuse it); the retained version
    // stays as it was, and the store's removal takes the intruder away but not the retained version.
    await direct.send(new PutObjectCommand({ Bucket: lockedBucket, Key: key, Body: Buffer.from('overwritten') }));
    const kept = await direct.send(new GetObjectCommand({ Bucket: lockedBucket, Key: key, VersionId: versionId }));
    assert.ok(Buffer.from(await kept.Body!.transformToByteArray()).equals(bytes));
    await rejectsWith(locked.remove('manifest', ['backup-1']), 'locked');
    assert.ok((await locked.get('manifest', 'backup-1')).equals(bytes), 'the retained version is the object again');
  });

  test('an object written in parts is retained as a whole', async () => {
    const inParts = await S3ObjectStore.open({ type: 's3', endpoint, bucket: lockedBucket, prefix: 'repo' }, { partSize: 5 * 1024 * 1024 });
    try {
      const writer = await inParts.writer('manifest', 'large', { retainUntil: inADay() });
      const pieces = Array.from({ length: 11 }, () => randomBytes(1024 * 1024));
      for (const piece of pieces) await writer.write(piece);
      await writer.commit();
      assert.ok((await inParts.get('manifest', 'large')).equals(Buffer.concat(pieces)));
      await rejectsWith(inParts.remove('manifest', ['large']), 'locked');
      const again = await inParts.writer('manifest', 'large', { retainUntil: inADay() });
      const refused = await (async () => {
        for (const piece of pieces) await again.write(piece);
        await again.commit();
      })().then(
        () => assert.fail('a retained object was replaced by a writer'),
        (error: unknown) => error,
      );
      await again.abort();
      assert.ok(refused instanceof StoreError && refused.code === 'locked', String(refused));
    } finally {
      await inParts.close();
    }
  });

  test('once the retention has passed, the object can be removed', async () => {
    await locked.put('index', 'short', [Buffer.from('short-lived')], { retainUntil: new Date(Date.now() + 2_000) });
    await rejectsWith(locked.remove('index', ['short']), 'locked');
    await sleep(3_000);
    await locked.remove('index', ['short']);
    assert.equal(await locked.stat('index', 'short'), undefined);
    const names: string[] = [];
    for await (const info of locked.list('index')) names.push(info.name);
    assert.deepEqual(names, []);
  });

  test('retention asked of a bucket without Object Lock is refused, not silently dropped', async () => {
    const error = await rejectsWith(plain.put('pack', 'cd01', [Buffer.from('x')], { retainUntil: inADay() }), 'unsupported');
    assert.match(error.message, new RegExp(plainBucket));
    assert.equal(await plain.stat('pack', 'cd01'), undefined);
  });
});
