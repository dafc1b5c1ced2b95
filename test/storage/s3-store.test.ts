/**
 * What is particular to the S3 store (beyond the contract): the key layout in the bucket (that of the
 * local directory, so `aws s3 sync` moves repositories), the bound on requests in flight, no multipart
 * upload left behind by an aborted writer, the region default, and errors that say what is wrong.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { StoreError } from '../../src/engine/storage/object-store.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { s3Settings, s3Skip, uniqueBucketName } from '../support/s3.js';

describe('S3 store specifics', { skip: s3Skip }, () => {
  const endpoint = s3Settings?.endpoint ?? '';
  const bucket = uniqueBucketName('specifics');
  let store: S3ObjectStore;
  let direct: S3Client;

  before(async () => {
    store = await S3ObjectStore.open({ type: 's3', endpoint, bucket, prefix: 'team/repo' }, { partSize: 5 * 1024 * 1024 });
    await store.createBucket();
    direct = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  });

  after(async () => {
    await store.close();
    direct.destroy();
  });

  test('objects sit under the same paths as in a repository directory', async () => {
    await store.put('config', 'config', [Buffer.from('{}')]);
    await store.put('pack', '3fa9c2', [Buffer.from('p')]);
    await store.put('index', 'i1', [Buffer.from('i')]);
    await store.put('manifest', 'b1', [Buffer.from('m')]);
    await store.put('lock', 'shared-1-host', []);
    const listed = await direct.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'team/repo/' }));
    assert.deepEqual(
      (listed.Contents ?? []).map((entry) => entry.Key).sort(),
      ['team/repo/backups/b1', 'team/repo/config', 'team/repo/index/i1', 'team/repo/locks/shared-1-host', 'team/repo/packs/3f/3fa9c2'],
    );
  });

  test('no more requests in flight than the limit, yet several at once', async () => {
    const limited = await S3ObjectStore.open({ type: 's3', endpoint, bucket, prefix: 'limited' }, { maxInFlight: 3 });
    try {
      let highest = 0;
      const sampler = setInterval(() => (highest = Math.max(highest, limited.requestsInFlight)), 1);
      await Promise.all(Array.from({ length: 30 }, (_, i) => limited.put('pack', `aa${i}`, [randomBytes(256 * 1024)])));
      clearInterval(sampler);
      assert.ok(highest <= 3, `${highest} requests in flight`);
      assert.ok(highest >= 2, `never more than ${highest} request in flight`);
      assert.equal(limited.requestsInFlight, 0);
    } finally {
      await limited.close();
    }
  });

  test('an aborted multipart writer leaves no upload behind', async () => {
    const writer = await store.writer('manifest', 'big-aborted');
    for (let i = 0; i < 12; i += 1) await writer.write(randomBytes(1024 * 1024)); // two parts sent, one buffered
    await writer.abort();
    const uploads = await direct.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'team/repo/backups/' }));
    assert.deepEqual((uploads.Uploads ?? []).map((upload) => upload.Key), []);
    await assert.rejects(writer.write(Buffer.from('late')), /aborted/);
  });

  test('without any configured region, a bare endpoint works (us-east-1)', async () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION, AWS_CONFIG_FILE: process.env.AWS_CONFIG_FILE };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    process.env.AWS_CONFIG_FILE = '/nonexistent/dbp-test-aws-config';
    try {
      const bare = await S3ObjectStore.open({ type: 's3', endpoint, bucket, prefix: 'team/repo' });
      assert.equal((await bare.get('index', 'i1')).toString(), 'i');
      await bare.close();
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('wrong credentials and a missing bucket: denied, saying which and why, without a stack', async () => {
    const wrongSecret = await S3ObjectStore.open(
      { type: 's3', endpoint, bucket, prefix: 'team/repo' },
      { credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'x', secretAccessKey: 'not-the-secret' }, maxAttempts: 1 },
    );
    const missing = await S3ObjectStore.open({ type: 's3', endpoint, bucket: `${bucket}-absent`, prefix: '' }, { maxAttempts: 1 });
    try {
      const cases: [() => Promise<unknown>, RegExp][] = [
        [() => wrongSecret.get('index', 'i1'), /SignatureDoesNotMatch.*secret key/],
        [() => missing.put('index', 'i1', [Buffer.from('x')]), /NoSuchBucket.*bucket does not exist/],
      ];
      for (const [attempt, expected] of cases) {
        const error = await attempt().then(
          () => assert.fail('succeeded'),
          (caught: unknown) => caught,
        );
        assert.ok(error instanceof StoreError, String(error));
        assert.equal(error.code, 'denied', error.message);
        assert.match(error.message, expected);
        assert.match(error.message, new RegExp(bucket));
        assert.doesNotMatch(error.message, /\n/);
      }
    } finally {
      await wrongSecret.close();
      await missing.close();
    }
  });

  test('a part size below S3 minimum is refused with a clear message', async () => {
    await assert.rejects(S3ObjectStore.open({ type: 's3', endpoint, bucket, prefix: '' }, { partSize: 1024 }), /at least 5 MiB/);
  });
});
