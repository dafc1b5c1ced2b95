import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { openRepository, type BackupResult } from '../../src/engine/repository/index.js';
import { parseRepositoryLocation } from '../../src/engine/storage/location.js';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { dbp, spawnDbp } from '../support/dbp-cli.js';
import { s3RepositoryUrl, s3SkipReason, s3TestClient, s3TestTarget, uniqueBucketName } from '../support/s3.js';

/** `dbp copy` as a user runs it: exit codes, --policy, passphrase files, and kill -9 in the middle. */
const root = mkdtempSync(join(tmpdir(), 'dbp-copy-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));
const source = join(root, 'source');
const fromKey = join(root, 'from.key');
const toKey = join(root, 'to.key');
const backups: BackupResult[] = [];
const images: string[] = [];

before(async () => {
  writeFileSync(fromKey, 'source secret\n');
  writeFileSync(toKey, 'target secret\n');
  const repository = await openRepository({ location: { type: 'local', path: source }, password: 'source secret', create: true, workers: 2 });
  try {
    for (const [policy, size] of [['dbp_one', 300_000], ['dbp_two', 128 * 1024 * 1024]] as const) {
      const image = join(root, `${policy}.img`);
      writeFileSync(image, randomBytes(size));
      images.push(image);
      backups.push(await repository.backup({ sourcePath: image, tags: { policy_id: policy } }));
    }
  } finally {
    await repository.close();
  }
});

const keys = ['--from-password-file', fromKey, '--to-password-file', toKey];

async function targetState(path: string | StoreLocation) {
  const location: StoreLocation = typeof path === 'string' ? { type: 'local', path } : path;
  const repository = await openRepository({ location, password: 'target secret', workers: 1 });
  try {
    return { ids: (await repository.listBackups()).map((backup) => backup.id), verify: await repository.verify() };
  } finally {
    await repository.close();
  }
}

describe('dbp copy', () => {
  test('--policy copies only that policy; a second run copies the rest; the copy restores', async () => {
    const target = join(root, 'target-policy');
    const first = await dbp(['copy', '--from', source, '--to', target, '--policy', 'dbp_one', ...keys, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout);
    assert.equal(report.backups_selected, 1);
    assert.equal(report.copied[0].backup_id, backups[0]!.id);
    assert.ok(report.chunks_sent > 0);
    const second = await dbp(['copy', '--from', source, '--to', target, ...keys, '--json']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).backups_already_there, 1);
    const state = await targetState(target);
    assert.deepEqual(state.ids.sort(), backups.map((backup) => backup.id).sort());
    assert.ok(state.verify.ok);
    const restored = join(root, 'restored.img');
    const repository = await openRepository({ location: { type: 'local', path: target }, password: 'target secret', workers: 1 });
    try {
      await repository.restore(backups[0]!.id, { toPath: restored });
    } finally {
      await repository.close();
    }
    assert.ok(readFileSync(restored).equals(readFileSync(images[0]!)));
  });

  test('bad input: exit 2 with one line', async () => {
    const noKey = await dbp(['copy', '--from', source, '--to', join(root, 'nowhere')]);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /passphrase is needed/);
    const badUrl = await dbp(['copy', '--from', source, '--to', 's3:ftp://x/y', ...keys]);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /--to: /);
    const wrongKey = await dbp(['copy', '--from', source, '--to', join(root, 'nowhere'), '--from-password-file', toKey, '--to-password-file', toKey]);
    assert.equal(wrongKey.code, 1);
    assert.doesNotMatch(wrongKey.stderr, /\n\s+at /);
  });

  test('kill -9 during a copy leaves the target consistent, and a re-run completes', async () => {
    const target = join(root, 'target-killed');
    await killedMidCopy(target, async () => hasPacks(target), target);
  });
});

async function killedMidCopy(to: string, wrotePacks: () => Promise<boolean>, state: string | StoreLocation): Promise<void> {
  // dbp_two's image is large enough (128 MiB of random bytes: five or more packs even at S3's 24 MiB)
  // that the copy is still under way when its first pack shows.
  const child = spawnDbp(['copy', '--from', source, '--to', to, '--policy', 'dbp_two', ...keys]);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Killed once the first pack of the big backup is in the target (the copy is under way).
  const deadline = Date.now() + 60_000;
  while (!(await wrotePacks()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(await wrotePacks(), 'the copy wrote packs');
  child.kill('SIGKILL');
  await exited;
  const killed = await targetState(state);
  assert.deepEqual(killed.ids, [], 'no manifest of a half-copied backup');
  assert.ok(killed.verify.ok);
  const rerun = await dbp(['copy', '--from', source, '--to', to, '--policy', 'dbp_two', ...keys, '--json']);
  assert.equal(rerun.code, 0, rerun.stderr);
  const done = await targetState(state);
  assert.deepEqual(done.ids, [backups[1]!.id]);
  assert.ok(done.verify.ok);
}

const s3 = s3TestTarget();
test('kill -9 during a copy to S3 (radosgw) leaves the target consistent, and a re-run completes', { skip: s3SkipReason(s3) }, async () => {
  const bucket = uniqueBucketName('copy-kill');
  const client = s3TestClient();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const url = s3RepositoryUrl(bucket, 'second');
  const packs = async () => ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'second/packs/' }))).KeyCount ?? 0) > 0;
  await killedMidCopy(url, packs, parseRepositoryLocation(url));
});

function hasPacks(repository: string): boolean {
  const packs = join(repository, 'packs');
  return existsSync(packs) && readdirSync(packs).some((folder) => readdirSync(join(packs, folder)).length > 0);
}
