/**
 * radosgw stopped in the middle of a backup (the private radosgw of test/support/s3.ts, so that the
 * tests sharing the main one are not disturbed): the backup fails with an error that says the store is
 * unavailable, and once radosgw is back the repository verifies clean, the backups taken before restore
 * byte-exact and the failed backup's lock is gone.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { openRepository } from '../../src/engine/repository/index.js';
import { StoreError } from '../../src/engine/storage/object-store.js';
import { FAULT_RGW_PORT, s3LockObjects, startRadosgw, stopRadosgw } from '../support/s3.js';
import { S3_STORE } from '../support/test-stores.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const root = mkdtempSync(join(tmpdir(), 'dbp-s3-outage-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('radosgw stopped during a backup', { skip: S3_STORE.skip }, () => {
  test('the backup fails saying the store is unavailable; after radosgw is back the repository verifies and earlier backups restore', async () => {
    await startRadosgw();
    // A prefix in the test bucket, reached through the private radosgw.
    const shared = await S3_STORE.location('outage');
    assert.equal(shared.type, 's3');
    const endpoint = new URL(shared.endpoint);
    endpoint.port = String(FAULT_RGW_PORT);
    const location = { ...shared, endpoint: endpoint.origin };
    const earlierBytes = randomBytes(2 * 1024 * 1024);
    const earlierImage = join(root, 'earlier');
    writeFileSync(earlierImage, earlierBytes);
    const laterImage = join(root, 'later');
    writeFileSync(laterImage, randomBytes(32 * 1024 * 1024));

    const repository = await openRepository({ location, password: 'outage', create: true, workers: 2 });
    let earlierId: string;
    try {
      earlierId = (await repository.backup({ sourcePath: earlierImage })).id;
      const backup = repository.backup({ sourcePath: laterImage });
      backup.catch(() => {}); // awaited below
      try {
        await sleep(300);
        await stopRadosgw({ kill: true });
        await assert.rejects(backup, (error: Error) => {
          const store = [error, error.cause].find((e) => e instanceof StoreError) as StoreError | undefined;
          assert.ok(store?.code === 'unavailable' || /unavailable|refused|ECONNREFUSED/i.test(error.message), `${error.name}: ${error.message}`);
          assert.ok(error.message.split('\n').length === 1, error.message);
          return true;
        });
      } finally {
        await startRadosgw();
      }
    } finally {
      await repository.close();
    }

    const reopened = await openRepository({ location, password: 'outage' });
    try {
      const report = await reopened.verify();
      assert.equal(report.ok, true, JSON.stringify(report));
      const target = join(root, 'restored');
      await reopened.restore(earlierId, { toPath: target });
      assert.equal(sha256(readFileSync(target)), sha256(earlierBytes));
      // The failed backup's lock object could not be removed while radosgw was down; this process
      // removed it once it could (before the verification's lock), so gc is not kept waiting for it.
      assert.deepEqual(await s3LockObjects(location), []);
      await reopened.gc();
    } finally {
      await reopened.close();
    }
  });
});
