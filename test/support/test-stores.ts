/**
 * The stores the engine suite runs on: a local directory and S3 (the project's Ceph radosgw; skipped
 * per test/support/s3.ts when no endpoint is set). Each gives new, empty repository locations: a
 * directory under one temporary root, or a prefix in one bucket per test process.
 *
 *   for (const store of TEST_STORES) describe(`… (${store.name})`, { skip: store.skip }, () => { … });
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { s3Settings, s3Skip, s3TestClient, uniqueBucketName } from './s3.js';

export interface TestStore {
  readonly name: 'local' | 's3';
  /** For node:test's `skip`: false when tests on this store run. */
  readonly skip: string | false;
  /** A new, empty location for a repository. */
  location(label: string): Promise<StoreLocation>;
}

let counter = 0;
const slug = (label: string) => `${label.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40)}-${counter++}`;

let localRoot: string | undefined;
export const LOCAL_STORE: TestStore = {
  name: 'local',
  skip: false,
  async location(label) {
    if (!localRoot) {
      const root = (localRoot = mkdtempSync(join(tmpdir(), 'dbp-test-store-')));
      process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    }
    return { type: 'local', path: join(localRoot, slug(label)) };
  },
};

let bucket: Promise<string> | undefined;
/** One bucket per test process, made at first use. */
function testBucket(): Promise<string> {
  bucket ??= (async () => {
    const name = uniqueBucketName('engine');
    const client = s3TestClient();
    try {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    } finally {
      client.destroy();
    }
    return name;
  })();
  return bucket;
}

export const S3_STORE: TestStore = {
  name: 's3',
  skip: s3Skip,
  async location(label) {
    if (!s3Settings) throw new Error(s3Skip || 'no S3 settings');
    return { type: 's3', endpoint: s3Settings.endpoint, bucket: await testBucket(), prefix: slug(label) };
  },
};

export const TEST_STORES: readonly TestStore[] = [LOCAL_STORE, S3_STORE];
