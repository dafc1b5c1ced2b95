/**
 * Where `npm run bench:backup` puts the two tools' repositories: directories under the work directory
 * (`--repository local`, the default) or buckets of an S3 endpoint (`--repository s3`, the endpoint
 * and credentials from DBP_TEST_S3_ENDPOINT and the AWS variables: `source /tmp/dbp-ceph/env`).
 * On S3 both tools talk to the store directly when timed; a place made `counted` is reached through
 * a request-counting proxy instead (the proxy, a Node process passing every byte, would slow the timed
 * runs, and most the tool that makes more requests).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { S3RequestCounter } from './s3-request-counter.js';

export interface BenchPlace {
  /** This engine's `--repository` location. */
  readonly ours: string;
  /** restic's `-r`. */
  readonly restic: string;
  bytes(): Promise<number>;
  remove(): Promise<void>;
}

export interface BenchPlaces {
  readonly kind: 'local' | 's3';
  /** A new place for a repository, named after `label`; `counted`: its S3 requests are counted (takeRequests). */
  create(label: string, options?: { counted?: boolean }): Promise<BenchPlace>;
  /** S3 requests made to counted places since the last call (0 on a local directory). */
  takeRequests(): number;
  close(): Promise<void>;
}

export function localPlaces(dir: string): BenchPlaces {
  return {
    kind: 'local',
    async create(label) {
      const path = join(dir, label);
      return {
        ours: path,
        restic: path,
        bytes: async () => Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]),
        remove: async () => rmSync(path, { recursive: true, force: true }),
      };
    },
    takeRequests: () => 0,
    close: async () => {},
  };
}

export async function s3Places(): Promise<BenchPlaces> {
  const endpoint = process.env.DBP_TEST_S3_ENDPOINT?.replace(/\/+$/, '');
  if (!endpoint || !process.env.AWS_ACCESS_KEY_ID || !process.env.AWS_SECRET_ACCESS_KEY) {
    throw new Error('--repository s3 needs DBP_TEST_S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (source /tmp/dbp-ceph/env)');
  }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client({ endpoint, region: process.env.AWS_REGION || 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const counter = await S3RequestCounter.start(endpoint);
  const run = randomBytes(3).toString('hex');
  const keys = async (bucket: string) => {
    const found: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const object of page.Contents ?? []) found.push({ key: object.Key!, size: object.Size ?? 0 });
      token = page.NextContinuationToken;
    } while (token);
    return found;
  };
  return {
    kind: 's3',
    async create(label, options = {}) {
      const bucket = `dbp-bench-${run}-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`.slice(0, 63);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const url = `s3:${options.counted ? counter.endpoint : endpoint}/${bucket}`;
      return {
        ours: url,
        restic: url,
        bytes: async () => (await keys(bucket)).reduce((sum, object) => sum + object.size, 0),
        async remove() {
          for (let objects = await keys(bucket); objects.length > 0; objects = await keys(bucket)) {
            for (let i = 0; i < objects.length; i += 1000) {
              await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects.slice(i, i + 1000).map((o) => ({ Key: o.key })) } }));
            }
          }
          await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        },
      };
    },
    takeRequests: () => counter.take(),
    async close() {
      await counter.stop();
      client.destroy();
    },
  };
}
