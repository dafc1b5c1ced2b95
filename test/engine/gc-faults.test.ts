import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { ListMultipartUploadsCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { openRepository, type Repository } from '../../src/engine/repository/index.js';
import { OBJECT_KINDS, type StoreLocation } from '../../src/engine/storage/object-store.js';
import { formatRepositoryLocation } from '../../src/engine/storage/location.js';
import { deleteObjects, getObject, objectNames, putObject, withStore } from '../support/repository-damage.js';
import { s3TestClient } from '../support/s3.js';
import { TEST_STORES } from '../support/test-stores.js';
import { fillUp, freeBytes, mountSmallDisk, unmount } from './fixtures/small-disk.js';

/**
 * Issue 15, defects 7 and 13: a failed backup leaves nothing behind; gc runs on a full disk and frees
 * space; a gc killed with SIGKILL again and again does not make the repository grow. On each store,
 * but the full-disk cases: those fill a small tmpfs (mounting one needs root: skipped otherwise, saying
 * why), and an S3 bucket cannot fill up.
 */
const CHUNK = 4096;
const PASSWORD = 'gc faults';
const MB = 1024 * 1024;
const CHILD = fileURLToPath(new URL('./fixtures/repository-child.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'dbp-gc-faults-'));
const mounts: string[] = [];
after(() => {
  for (const mount of mounts) unmount(mount);
  rmSync(root, { recursive: true, force: true });
});
let counter = 0;
const fresh = (name: string) => join(root, `${name}-${counter++}`);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const local = (path: string): StoreLocation => ({ type: 'local', path });

function image(bytes: Buffer): string {
  const path = fresh('image');
  writeFileSync(path, bytes);
  return path;
}

function open(location: StoreLocation, create = false): Promise<Repository> {
  return openRepository({ location, password: PASSWORD, create, chunkSize: CHUNK, workers: 2 });
}

/** Every file under `directory`, relative to it, with its size (temporary files included). */
function filesUnder(directory: string, prefix = ''): Map<string, number> {
  const files = new Map<string, number>();
  for (const entry of readdirSync(join(directory, prefix), { withFileTypes: true })) {
    const name = join(prefix, entry.name);
    if (entry.isDirectory()) for (const [path, size] of filesUnder(directory, name)) files.set(path, size);
    else files.set(name, statSync(join(directory, name)).size);
  }
  return files;
}

/**
 * Everything the repository's store holds, by its path in the layout of docs/REPOSITORY.md, with its
 * size: in a directory every file (temporary ones included); in a bucket every key under the prefix,
 * and each incomplete multipart upload (as `upload:<path>`, size 0) — what an interrupted write leaves.
 */
async function storedObjects(location: StoreLocation): Promise<Map<string, number>> {
  if (location.type === 'local') return filesUnder(location.path);
  const objects = new Map<string, number>();
  const start = location.prefix ? `${location.prefix}/` : '';
  const client = s3TestClient();
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: location.bucket, Prefix: start })) {
      for (const entry of page.Contents ?? []) objects.set(entry.Key!.slice(start.length), entry.Size ?? 0);
    }
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: location.bucket, Prefix: start }));
    for (const upload of uploads.Uploads ?? []) objects.set(`upload:${upload.Key!.slice(start.length)}`, 0);
  } finally {
    client.destroy();
  }
  return objects;
}

const packFiles = async (location: StoreLocation) => [...(await storedObjects(location)).keys()].filter((path) => path.startsWith('packs/')).sort();
const repositoryBytes = async (location: StoreLocation) => [...(await storedObjects(location)).values()].reduce((sum, size) => sum + size, 0);

/** Copies every object of a repository to a new, empty location (a reference copy to run gc on). */
async function copyRepository(from: StoreLocation, to: StoreLocation): Promise<void> {
  await withStore(from, (source) =>
    withStore(to, async (target) => {
      // The config first: the local store makes the layout's directories when it is put.
      for (const kind of ['config', ...OBJECT_KINDS.filter((other) => other !== 'config' && other !== 'lock')] as const) {
        for await (const { name } of source.list(kind)) await target.put(kind, name, [await source.get(kind, name)]);
      }
    }),
  );
}

async function assertRestores(repository: Repository, backups: Iterable<[id: string, bytes: Buffer]>): Promise<void> {
  for (const [id, bytes] of backups) {
    const target = fresh('restored');
    await repository.restore(id, { toPath: target });
    assert.equal(sha256(readFileSync(target)), sha256(bytes), `backup ${id} restores byte-exact`);
    rmSync(target);
  }
}

/** A tmpfs of `megabytes` MB, or the reason there cannot be one here. */
function smallDisk(megabytes: number): string | { skip: string } {
  const directory = fresh('tmpfs');
  const problem = mountSmallDisk(directory, megabytes);
  if (problem) return problem;
  mounts.push(directory);
  return directory;
}

/** Runs one gc (or a backup of `image`) in a child process: its output so far, and its exit code once it exits. */
function inChild(location: StoreLocation, image?: string): { child: ReturnType<typeof spawn>; output: () => string; exited: Promise<number | null> } {
  const operation = image === undefined ? ['gc'] : ['backup', image];
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, formatRepositoryLocation(location), PASSWORD, ...operation], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits until what the store holds has not changed for two seconds (at most 60 s). */
async function settled(location: StoreLocation): Promise<void> {
  const snapshot = async () => JSON.stringify([...(await storedObjects(location))].sort());
  let last = await snapshot();
  let since = Date.now();
  for (const deadline = Date.now() + 60_000; Date.now() - since < 2_000 && Date.now() < deadline; ) {
    await sleep(250);
    const now = await snapshot();
    if (now !== last) [last, since] = [now, Date.now()];
  }
}

for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => {
describe('a failed backup removes what only it wrote', () => {
  test('a backup stopped half-way leaves no pack and no temporary file; the earlier backup restores', async () => {
    const location = await store.location('gc-stopped-backup');
    const repository = await open(location, true);
    try {
      const keptBytes = randomBytes(MB);
      const kept = await repository.backup({ sourcePath: image(keptBytes) });
      const contents = async () => [...(await storedObjects(location)).keys()].filter((name) => !name.startsWith('locks/')).sort();
      const before = await contents();
      const controller = new AbortController();
      // 24 MB of new chunks: stopped after 12 MB are read, when at least one pack has been written.
      const stopped = repository.backup({
        sourcePath: image(randomBytes(24 * MB)),
        signal: controller.signal,
        onProgress: ({ bytesDone }) => bytesDone >= 12 * MB && controller.abort(),
      });
      await assert.rejects(stopped, /stopped/);
      assert.deepEqual(await contents(), before, 'the repository is as it was');
      await assertRestores(repository, [[kept.id, keptBytes]]);
    } finally {
      await repository.close();
    }
  });

  test('a backup killed with SIGKILL leaves its packs; the next gc removes them, and the earlier backup restores', async () => {
    const location = await store.location('gc-killed-backup');
    let repository = await open(location, true);
    const keptBytes = randomBytes(MB);
    const kept = await repository.backup({ sourcePath: image(keptBytes) });
    await repository.close();
    const packsBefore = await packFiles(location);
    const bytesBefore = await repositoryBytes(location);
    const backup = inChild(location, image(randomBytes(32 * MB)));
    const deadline = Date.now() + 60_000;
    while (backup.child.exitCode === null && Date.now() < deadline && (await packFiles(location)).filter((name) => !name.includes('.tmp-')).length <= packsBefore.length) await sleep(2);
    assert.equal(backup.child.exitCode, null, `the backup was still running when killed: ${backup.output()}`);
    backup.child.kill('SIGKILL');
    await backup.exited;
    // A store may still complete a write whose bytes all arrived before the kill (radosgw under load
    // does, seconds later): gc cannot see a pack that is not there yet, so wait for the store to settle.
    await settled(location);
    assert.ok((await packFiles(location)).length > packsBefore.length, 'the killed backup left packs');
    const gc = inChild(location);
    assert.equal(await gc.exited, 0, gc.output());
    assert.deepEqual(await packFiles(location), packsBefore, 'gc removed every pack of the killed backup');
    assert.ok(Math.abs((await repositoryBytes(location)) - bytesBefore) <= 64 * 1024, 'the repository is back to its size');
    repository = await open(location);
    try {
      await assertRestores(repository, [[kept.id, keptBytes]]);
    } finally {
      await repository.close();
    }
  });
});

describe('a killed gc leaves nothing that accumulates', () => {
  test('gc killed after deleting unused packs, before rewriting the index that names them: a new backup of their data stores it again and restores', async () => {
    const location = await store.location('gc-killed-before-index');
    const repository = await open(location, true);
    try {
      const aBytes = randomBytes(2 * MB);
      const bBytes = randomBytes(2 * MB);
      const a = await repository.backup({ sourcePath: image(aBytes) });
      const b = await repository.backup({ sourcePath: image(bBytes) });
      await repository.gc(); // one index file now names the packs of both
      await repository.forget([a.id]);
      // The state such a kill leaves: A's packs deleted, the index file naming them still there.
      const indexFiles = await Promise.all((await objectNames(location, 'index')).map(async (name) => [name, await getObject(location, 'index', name)] as const));
      await repository.gc();
      await deleteObjects(location, 'index', await objectNames(location, 'index'));
      for (const [name, bytes] of indexFiles) await putObject(location, 'index', name, bytes);

      const again = await repository.backup({ sourcePath: image(aBytes) });
      assert.ok(again.newChunks > 0, 'the chunks of the deleted packs are stored again, not taken as stored');
      assert.equal((await repository.verify()).ok, true);
      await assertRestores(repository, [[again.id, aBytes], [b.id, bBytes]]);
      await repository.gc();
      assert.equal((await repository.verify()).ok, true);
      await assertRestores(repository, [[again.id, aBytes], [b.id, bBytes]]);
    } finally {
      await repository.close();
    }
  });

  test('gc killed with SIGKILL while it rewrites, five times: the repository does not grow; a completed gc reaches the expected size; the kept backup restores', async () => {
    const location = await store.location('gc-killed-rewrite');
    let repository = await open(location, true);
    // Sizes in steps of an eighth of the store's pack (8 MiB packs in a directory, 24 MiB on S3), so that
    // gc's rewrite fills two packs or more and a kill can land between them.
    const step = store.name === 's3' ? 3 * MB : MB;
    // A: 32 steps of new chunks; B shares every other step of it, so each of A's packs is half in use once A is forgotten.
    const aBytes = randomBytes(32 * step);
    const bBytes = Buffer.from(aBytes);
    for (let offset = 0; offset < bBytes.length; offset += 2 * step) randomBytes(step).copy(bBytes, offset);
    const a = await repository.backup({ sourcePath: image(aBytes) });
    const b = await repository.backup({ sourcePath: image(bBytes) });
    await repository.forget([a.id]);
    await repository.close();
    const initialBytes = await repositoryBytes(location);
    // What one gc may write: a copy of every chunk in use in packs partly in use (16 steps), and an index.
    const oneGcWrites = 16 * step + MB;

    // The size a gc reaches when nothing stops it.
    const reference = await store.location('gc-killed-rewrite-reference');
    await copyRepository(location, reference);
    const referenceGc = inChild(reference);
    assert.equal(await referenceGc.exited, 0, referenceGc.output());
    const expectedBytes = await repositoryBytes(reference);
    assert.ok(expectedBytes < initialBytes - 12 * step, `gc frees A's chunks (${initialBytes} → ${expectedBytes})`);

    const sizes: number[] = [];
    let killedMidRewrite = 0;
    for (let kill = 0; kill < 5; kill++) {
      const packsBefore = new Set(await packFiles(location));
      const gc = inChild(location);
      // Kills 1–4 once a new pack exists (its final name: 1–3; a temporary file: 4, on a directory — a
      // bucket shows a pack only complete), kill 5 at a random moment.
      const waitFor = kill < 3 || store.name === 's3' ? (name: string) => !packsBefore.has(name) && !name.includes('.tmp-') : (name: string) => !packsBefore.has(name);
      const deadline = Date.now() + 60_000;
      if (kill < 4) {
        while (gc.child.exitCode === null && Date.now() < deadline && !(await packFiles(location)).some(waitFor)) await sleep(2);
      } else {
        while (!gc.output().includes('ready') && gc.child.exitCode === null) await sleep(5);
        await sleep(Math.random() * 300);
      }
      const wasRunning = gc.child.exitCode === null;
      gc.child.kill('SIGKILL');
      await gc.exited;
      if (wasRunning && kill < 4) killedMidRewrite += 1;
      sizes.push(await repositoryBytes(location));
      assert.ok(sizes.at(-1)! <= initialBytes + oneGcWrites, `the size grows with each kill: ${sizes.join(', ')} bytes (at first ${initialBytes})`);
    }
    assert.ok(killedMidRewrite >= 3, `${killedMidRewrite} kills landed while gc rewrote packs`);

    const last = inChild(location);
    assert.equal(await last.exited, 0, last.output());
    const finalBytes = await repositoryBytes(location);
    assert.ok(Math.abs(finalBytes - expectedBytes) <= 64 * 1024, `a completed gc reaches ${finalBytes} bytes, expected ${expectedBytes}`);
    assert.deepEqual(await objectNames(location, 'lock'), [], 'no lock is left');
    repository = await open(location);
    try {
      assert.deepEqual((await repository.listBackups()).map((backup) => backup.id), [b.id]);
      assert.equal((await repository.verify()).ok, true);
      await assertRestores(repository, [[b.id, bBytes]]);
    } finally {
      await repository.close();
    }
  });
});
});

// Local only: these fill a small file system to its last byte (ENOSPC); an S3 bucket does not fill up.
describe('on local: a full disk', () => {
  test('ENOSPC: the failed backup leaves no pack behind; then, the disk full of forgotten backups, gc frees space and a new backup succeeds', async (t) => {
    const disk = smallDisk(40);
    if (typeof disk !== 'string') return t.skip(disk.skip);
    const path = join(disk, 'repository');
    let repository = await open(local(path), true);
    try {
      const kept = new Map<string, Buffer>();
      const keptBytes = randomBytes(3 * MB);
      kept.set((await repository.backup({ sourcePath: image(keptBytes) })).id, keptBytes);
      const packsBefore = await packFiles(local(path));
      const freeBefore = freeBytes(disk);

      // Larger than the disk: fails with ENOSPC after writing several packs.
      await assert.rejects(repository.backup({ sourcePath: image(randomBytes(60 * MB)) }), (error: NodeJS.ErrnoException) => error.code === 'ENOSPC');
      assert.deepEqual(await packFiles(local(path)), packsBefore, 'no pack of the failed backup is left');
      assert.ok(freeBytes(disk) >= freeBefore - 64 * 1024, `its space is free again (${freeBytes(disk)} of ${freeBefore} bytes)`);
      await assertRestores(repository, kept);

      // Fill the disk with backups until one fails, forget them all, then fill the last bytes.
      const forgotten: string[] = [];
      for (;;) {
        try {
          forgotten.push((await repository.backup({ sourcePath: image(randomBytes(2 * MB)) })).id);
        } catch (error) {
          assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
          break;
        }
      }
      assert.ok(forgotten.length >= 10, `${forgotten.length} backups filled the disk`);
      await repository.forget(forgotten);
      await repository.close();
      fillUp(disk);

      const gc = inChild(local(path));
      assert.equal(await gc.exited, 0, gc.output());
      const report = JSON.parse(gc.output().split('\n')[1]!);
      assert.ok(report.bytesRemoved >= 20 * MB, `gc removed ${report.bytesRemoved} bytes`);
      assert.ok(freeBytes(disk) >= 20 * MB, `gc freed the disk (${freeBytes(disk)} bytes free)`);

      repository = await open(local(path));
      const newBytes = randomBytes(2 * MB);
      kept.set((await repository.backup({ sourcePath: image(newBytes) })).id, newBytes);
      assert.deepEqual(new Set((await repository.listBackups()).map((backup) => backup.id)), new Set(kept.keys()));
      assert.equal((await repository.verify()).ok, true);
      await assertRestores(repository, kept);
    } finally {
      await repository.close();
    }
  });

  test('a full disk whose only garbage is in packs partly in use: gc succeeds, says it skipped the rewrite, changes nothing; with room it rewrites', async (t) => {
    const disk = smallDisk(24);
    if (typeof disk !== 'string') return t.skip(disk.skip);
    const path = join(disk, 'repository');
    let repository = await open(local(path), true);
    try {
      // B shares every other 256 KiB of A: A's packs are half in use once A is forgotten.
      const aBytes = randomBytes(6 * MB);
      const bBytes = Buffer.from(aBytes);
      for (let offset = 0; offset < bBytes.length; offset += 512 * 1024) randomBytes(256 * 1024).copy(bBytes, offset);
      const a = await repository.backup({ sourcePath: image(aBytes) });
      const b = await repository.backup({ sourcePath: image(bBytes) });
      await repository.forget([a.id]);
      await repository.close();
      fillUp(disk);
      const before = filesUnder(path);

      const full = inChild(local(path));
      assert.equal(await full.exited, 0, full.output());
      const report = JSON.parse(full.output().split('\n')[1]!);
      assert.equal(report.chunksRemoved, 0);
      assert.match(report.notes.join('\n'), /partly in use were not rewritten/);
      assert.deepEqual(filesUnder(path), before, 'the repository is as it was');

      rmSync(join(disk, 'filler'));
      const roomy = inChild(local(path));
      assert.equal(await roomy.exited, 0, roomy.output());
      const rewrite = JSON.parse(roomy.output().split('\n')[1]!);
      assert.equal(rewrite.notes, undefined);
      assert.ok(rewrite.bytesRemoved >= 2 * MB, `the rewrite removed ${rewrite.bytesRemoved} bytes`);
      repository = await open(local(path));
      assert.equal((await repository.verify()).ok, true);
      await assertRestores(repository, [[b.id, bBytes]]);
    } finally {
      await repository.close();
    }
  });
});
