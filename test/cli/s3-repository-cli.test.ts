/**
 * The backup commands through the real CLI on an S3 repository (the project's radosgw): `policy run`,
 * `backups list`, `restore`, `verify` and `gc` with `--repository s3:…`, the cache in the data
 * directory; and a wrong bucket, an unreachable endpoint and refused credentials as one line each.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { dbp, dbpJson } from '../support/dbp-cli.js';
import { s3RepositoryUrl, s3Skip, s3TestClient, uniqueBucketName } from '../support/s3.js';

async function fingerprint(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { end: 16 * 1024 * 1024 - 1 })) hash.update(chunk as Buffer);
  return `${statSync(path).size}:${hash.digest('hex')}`;
}

/** One line on stderr, naming what went wrong, and no stack trace. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m);
}

describe('the CLI on an S3 repository', { skip: s3Skip }, () => {
  let dataDir: string;
  let demo: any;
  let repository: string;
  before(async () => {
    const bucket = uniqueBucketName('cli');
    const client = s3TestClient();
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
    repository = s3RepositoryUrl(bucket, 'repo');
    dataDir = mkdtempSync(join(tmpdir(), 'dbp-s3-cli-'));
    demo = await dbpJson(['demo', '--data-dir', dataDir]);
    // The demo's content is its image's first 16 MiB; the 10 GB beyond, a hole, would only make the test slow.
    truncateSync(join(dataDir, 'disks', `${demo.disk.id}.img`), 16 * 1024 * 1024);
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('policy run, backups list, restore, verify and gc work end to end; the index and manifests are cached under the data directory', async () => {
    const at = ['--data-dir', dataDir, '--repository', repository];
    const run = await dbpJson(['policy', 'run', demo.disk_backup_policy.id, ...at]);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const backups = await dbpJson(['backups', 'list', '--policy', demo.disk_backup_policy.id, ...at]);
    assert.equal(backups.length, 1);
    const target = join(dataDir, 'restored.img');
    await dbpJson(['restore', '--backup', backups[0].id, '--to', target, ...at]);
    assert.equal(await fingerprint(target), await fingerprint(join(dataDir, 'disks', `${demo.disk.id}.img`)));
    const verify = await dbpJson(['verify', ...at]);
    assert.equal(verify.ok, true, JSON.stringify(verify));
    assert.equal(verify.backups_checked, 1);
    const gc = await dbpJson(['gc', ...at]);
    assert.ok(gc.chunks_kept > 0, JSON.stringify(gc));
    // <data-dir>/cache/<hash of the location>/{config,index,manifest}
    const caches = readdirSync(join(dataDir, 'cache'));
    assert.equal(caches.length, 1);
    assert.ok(readdirSync(join(dataDir, 'cache', caches[0]!, 'manifest')).length >= 1, 'the manifests are cached');
    assert.ok(readdirSync(join(dataDir, 'cache', caches[0]!, 'index')).length >= 1, 'the index is cached');
  });

  test('--cache-dir puts the cache elsewhere', async () => {
    const cacheDir = join(dataDir, 'elsewhere');
    await dbpJson(['verify', '--data-dir', dataDir, '--repository', repository, '--cache-dir', cacheDir]);
    assert.ok(readdirSync(join(cacheDir, 'manifest')).length >= 1);
  });

  test('a wrong bucket, an unreachable endpoint and refused credentials: one clear line, exit 1', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'dbp-s3-cli-bad-'));
    try {
      const env = { DBP_REPOSITORY_PASSWORD: 'x' };
      const missing = await dbp(['verify', '--data-dir', fresh, '--repository', s3RepositoryUrl(uniqueBucketName('absent'))], { env });
      assert.equal(missing.code, 1);
      assertOneLine(missing.stderr, /^dbp verify: .*the bucket does not exist/);
      // One attempt: a refused connection is reported at once, not after the default 8 attempts' backoff
      // (that these are retried is test/storage/s3-faults.test.ts's to prove).
      const unreachable = await dbp(['verify', '--data-dir', fresh, '--repository', 's3:http://127.0.0.1:1/bucket'], { env: { ...env, DBP_S3_MAX_ATTEMPTS: '1' } });
      assert.equal(unreachable.code, 1);
      assertOneLine(unreachable.stderr, /^dbp verify: .*refused the connection/);
      const refused = await dbp(['verify', '--data-dir', fresh, '--repository', repository], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' } });
      assert.equal(refused.code, 1);
      assertOneLine(refused.stderr, /^dbp verify: .*(secret key|SignatureDoesNotMatch)/);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});
