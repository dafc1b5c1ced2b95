import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { openRepository } from '../../src/engine/repository/index.js';
import { formatRepositoryLocation } from '../../src/engine/storage/location.js';
import { s3TestClient } from '../support/s3.js';
import { TEST_STORES } from '../support/test-stores.js';

/**
 * Crash safety: a process backs up, forgets and collects garbage in a loop and is killed with SIGKILL
 * at a random moment, again and again (DBP_CRASH_KILLS times, default 12). After every kill the
 * repository must verify clean, and every backup in it must restore byte-exact. On each store: on S3
 * the kills land during uploads (packs, index, manifests), and a last gc removes what they left,
 * incomplete multipart uploads included. Fewer kills on S3 (DBP_CRASH_KILLS_S3, default 6), each later.
 */
const KILLS = Number(process.env.DBP_CRASH_KILLS ?? 12);
const KILLS_S3 = Number(process.env.DBP_CRASH_KILLS_S3 ?? 6);
const FIXTURE = fileURLToPath(new URL('./fixtures/crash-worker.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'dbp-crash-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function runAndKill(repositoryPath: string, imagesPath: string, afterMs: number): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, repositoryPath, imagesPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Killed only once it has begun working, so that each kill lands somewhere in backup, forget or gc.
  while (!output.includes('backup') && child.exitCode === null) await sleep(20);
  await sleep(afterMs);
  child.kill('SIGKILL');
  await exited;
  return output;
}

for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => {
  const kills = store.name === 's3' ? KILLS_S3 : KILLS;
  const reach = store.name === 's3' ? 2500 : 700;
test(`the repository stays whole through ${kills} kill -9 during backup, forget and garbage collection`, async () => {
  const location = await store.location('crash');
  const imagesPath = join(root, `images-${store.name}`);
  mkdirSync(imagesPath);
  let backupsSeen = 0;
  for (let kill = 0; kill < kills; kill++) {
    const output = await runAndKill(formatRepositoryLocation(location), imagesPath, Math.floor(Math.random() * reach));
    assert.doesNotMatch(output, /Error/, output);
    const repository = await openRepository({ location, password: 'crash test' });
    try {
      const report = await repository.verify();
      assert.equal(report.ok, true, `after kill ${kill + 1}: ${JSON.stringify(report)}`);
      const backups = await repository.listBackups();
      backupsSeen = Math.max(backupsSeen, backups.length);
      for (const backup of backups) {
        const target = join(root, `restored-${backup.id}`);
        await repository.restore(backup.id, { toPath: target });
        const sha256 = createHash('sha256').update(readFileSync(target)).digest('hex');
        assert.equal(sha256, backup.tags.sha256, `backup ${backup.tags.n} restores byte-exact`);
        rmSync(target);
      }
    } finally {
      await repository.close();
    }
  }
  assert.ok(backupsSeen > 0, 'some backups were completed between the kills');
  // A last gc removes what the kills left behind: on S3 no incomplete multipart upload remains.
  const repository = await openRepository({ location, password: 'crash test' });
  try {
    await repository.gc();
    assert.equal((await repository.verify()).ok, true);
  } finally {
    await repository.close();
  }
  if (location.type === 's3') {
    const client = s3TestClient();
    try {
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: location.bucket, Prefix: location.prefix }));
      assert.deepEqual(uploads.Uploads ?? [], []);
    } finally {
      client.destroy();
    }
  }
});
});
