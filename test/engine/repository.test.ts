import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { openRepository, RepositoryError, type Repository } from '../../src/engine/repository/index.js';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { deleteObjects, flipObjectByte, getObject, objectNames, putObject, truncateObject } from '../support/repository-damage.js';
import { TEST_STORES, type TestStore } from '../support/test-stores.js';
import { SEGMENT_CHUNKS } from '../../src/engine/repository/manifest.js';

/** The repository through its public contract, on each store: round trips, deduplication, keys, damage, locks, gc. */
const CHUNK = 4096;
const root = mkdtempSync(join(tmpdir(), 'dbp-repository-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${name}-${counter++}`);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function image(bytes: Buffer): string {
  const path = fresh('image');
  writeFileSync(path, bytes);
  return path;
}

/** Every stored chunk, as the packs' own tables list it. */
async function storedChunks(repository: Repository) {
  return (await repository.packs()).flatMap((pack) => pack.blobs.map((blob) => ({ ...blob, packId: pack.id })));
}

async function assertCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof RepositoryError && error.code === code);
}

for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => suite(store));

function suite(store: TestStore): void {
async function withRepository<T>(options: { password?: string | null; location?: StoreLocation }, use: (repository: Repository, location: StoreLocation) => Promise<T>): Promise<T> {
  const location = options.location ?? (await store.location('repository'));
  const repository = await openRepository({ location, password: options.password === undefined ? 'secret' : options.password, create: true, chunkSize: CHUNK, workers: 2 });
  try {
    return await use(repository, location);
  } finally {
    await repository.close();
  }
}

describe('round trips', () => {
  // Images made of runs: random bytes, zeros, and repeats of one block, of any length (not only whole chunks).
  const run = fc.oneof(
    fc.integer({ min: 0, max: 3 * CHUNK }).map((n) => ({ kind: 'random' as const, n })),
    fc.integer({ min: 0, max: 3 * CHUNK }).map((n) => ({ kind: 'zero' as const, n })),
    fc.integer({ min: 1, max: 3 }).map((n) => ({ kind: 'repeat' as const, n })),
  );
  for (const [password, directWrites] of [['secret', true], [null, true], ['secret', false]] as const) {
    const writes = directWrites ? 'direct writes where allowed' : 'through the page cache';
    test(`any image restores byte-exact (${password ? 'encrypted' : 'unencrypted'}, ${writes})`, async () => {
      await withRepository({ password }, async (repository) => {
        const block = randomBytes(CHUNK);
        await fc.assert(
          fc.asyncProperty(fc.array(run, { maxLength: 6 }), async (runs) => {
            const bytes = Buffer.concat(runs.map((r) => (r.kind === 'random' ? randomBytes(r.n) : r.kind === 'zero' ? Buffer.alloc(r.n) : Buffer.concat(Array(r.n).fill(block)))));
            const backup = await repository.backup({ sourcePath: image(bytes) });
            assert.equal(backup.diskSize, bytes.length);
            const target = fresh('restored');
            await repository.restore(backup.id, { toPath: target, directWrites });
            assert.equal(sha256(readFileSync(target)), sha256(bytes));
          }),
          // Fewer on S3, where each backup is a few dozen requests.
          { numRuns: store.name === 's3' ? 8 : 25 },
        );
        assert.equal(repository.encrypted, password !== null);
      });
    });
  }

  test('a chunk that recurs in an image is decrypted once per restore; the next restore reads it afresh and sees damage', async () => {
    await withRepository({}, async (repository) => {
      // One block over three 1 MiB units: both workers get a unit, so both keep the chunk.
      const bytes = Buffer.concat(Array<Buffer>(3 * 256).fill(randomBytes(CHUNK)));
      const backup = await repository.backup({ sourcePath: image(bytes) });
      const first = fresh('restored');
      await repository.restore(backup.id, { toPath: first });
      assert.equal(sha256(readFileSync(first)), sha256(bytes));
      const chunks = await storedChunks(repository);
      assert.equal(chunks.length, 1);
      await flipObjectByte(repository.location, 'pack', chunks[0]!.packId, chunks[0]!.offset + chunks[0]!.length - 5);
      await assertCode(repository.restore(backup.id, { toPath: fresh('restored') }), 'corrupt_chunk');
    });
  });

  test('a second backup of the same image stores nothing new; zero chunks are never stored and restore as holes', async () => {
    await withRepository({}, async (repository) => {
      const source = image(Buffer.concat([randomBytes(3 * CHUNK), Buffer.alloc(256 * CHUNK), randomBytes(100)]));
      const first = await repository.backup({ sourcePath: source, tags: { n: '1' } });
      assert.equal(first.newChunks, 4);
      const second = await repository.backup({ sourcePath: source });
      assert.equal(second.newChunks, 0);
      assert.equal((await storedChunks(repository)).length, 4);
      assert.equal(await repository.storedBytes([first.id, second.id]), await repository.storedBytes([first.id]));
      const target = fresh('holes');
      await repository.restore(first.id, { toPath: target });
      assert.ok(statSync(target).blocks * 512 < 64 * CHUNK, 'the zero chunks are holes');
      assert.deepEqual((await repository.getBackup(first.id)).tags, { n: '1' });
    });
  });
});

describe('long images', () => {
  test('an image longer than one segment of the chunk list (16 384 chunks) restores byte-exact; a damaged segment is named', async () => {
    await withRepository({}, async (repository, location) => {
      // Sparse: zeros but for random chunks at the start, on both sides of the segment boundary and at the end.
      const chunks = SEGMENT_CHUNKS + 10;
      const source = fresh('long');
      const fd = openSync(source, 'w');
      const marks = new Map<number, Buffer>([0, SEGMENT_CHUNKS - 1, SEGMENT_CHUNKS, chunks - 1].map((at) => [at, randomBytes(CHUNK)]));
      for (const [at, bytes] of marks) writeSync(fd, bytes, 0, CHUNK, at * CHUNK);
      ftruncateSync(fd, chunks * CHUNK - 100);
      closeSync(fd);
      const backup = await repository.backup({ sourcePath: source });
      assert.equal(backup.chunkCount, chunks);
      assert.equal(backup.newChunks, marks.size);
      const target = fresh('long-restored');
      await repository.restore(backup.id, { toPath: target });
      assert.equal(sha256(readFileSync(target)), sha256(readFileSync(source)));

      await flipObjectByte(location, 'manifest', backup.id, 40);
      const report = await repository.verify();
      assert.deepEqual(report.badManifests.map((bad) => bad.backupId), [backup.id]);
      await assertCode(repository.restore(backup.id, { toPath: fresh('long-damaged') }), 'corrupt_manifest');
    });
  });
});

describe('keys', () => {
  test('a wrong passphrase is refused; an encrypted repository needs one; nothing is changed', async () => {
    const location = await store.location('keys');
    await withRepository({ location }, async () => {});
    const config = await getObject(location, 'config', 'config');
    await assertCode(openRepository({ location, password: 'wrong' }), 'wrong_password');
    await assertCode(openRepository({ location, password: null }), 'password_required');
    assert.deepEqual(await getObject(location, 'config', 'config'), config);
  });

  test('a location that holds no repository is refused without create', async () => {
    await assertCode(openRepository({ location: await store.location('not-a-repository'), password: 'x' }), 'not_a_repository');
  });

  test('a directory that is not a repository is refused, and a non-empty one is never made one (local directory only)', { skip: store.name !== 'local' && 'a directory store only' }, async () => {
    const path = fresh('not-a-repository');
    await assertCode(openRepository({ location: { type: 'local', path }, password: 'x' }), 'not_a_repository');
    writeFileSync(join(root, 'some-file'), 'x');
    await assertCode(openRepository({ location: { type: 'local', path: root }, password: 'x', create: true }), 'not_a_repository');
  });
});

describe('damage', () => {
  let repository: Repository;
  let location: StoreLocation;
  let backupIds: string[];
  before(async () => {
    location = await store.location('damaged');
    repository = await openRepository({ location, password: 'secret', create: true, chunkSize: CHUNK, workers: 2 });
    const shared = randomBytes(CHUNK);
    backupIds = [];
    for (let i = 0; i < 3; i++) backupIds.push((await repository.backup({ sourcePath: image(Buffer.concat([shared, randomBytes(CHUNK)])) })).id);
  });
  after(() => repository.close());

  test('verify is clean before any damage', async () => {
    const report = await repository.verify();
    assert.deepEqual({ ok: report.ok, backups: report.backupsChecked, chunks: report.chunksChecked }, { ok: true, backups: 3, chunks: 4 });
  });

  test('a flipped byte: verify names the chunk and the backups using it; restore fails and leaves nothing', async () => {
    const [damaged] = await storedChunks(repository);
    await flipObjectByte(location, 'pack', damaged!.packId, damaged!.offset + damaged!.length - 5);
    const report = await repository.verify();
    assert.equal(report.ok, false);
    assert.equal(report.badChunks.length, 1);
    assert.equal(report.badChunks[0]!.problem, 'corrupt');
    assert.equal(report.badChunks[0]!.chunkId, damaged!.chunkId);
    // The shared chunk is named by all three backups, any other by one.
    const affected = report.badChunks[0]!.backupIds;
    assert.ok(affected.length === 1 || affected.length === 3, JSON.stringify(affected));
    assert.ok(affected.every((id) => backupIds.includes(id)));
    const target = fresh('target');
    await assertCode(repository.restore(affected[0]!, { toPath: target }), 'corrupt_chunk');
    assert.equal(existsSync(target), false);
    assert.deepEqual(readdirSync(root).filter((name) => name.startsWith('.tmp-')), []);
  });

  test('a truncated pack and a missing pack are reported as such, chunk by chunk', async () => {
    const packs = await repository.packs();
    assert.equal(packs.length, 3, 'one pack per backup');
    await truncateObject(location, 'pack', packs[0]!.id, 10);
    await deleteObjects(location, 'pack', [packs[1]!.id]);
    const bad = (await repository.verify()).badChunks;
    const problemOf = (chunkId: string) => bad.find((chunk) => chunk.chunkId === chunkId)?.problem;
    for (const blob of packs[0]!.blobs) assert.equal(problemOf(blob.chunkId), 'corrupt', JSON.stringify(bad));
    for (const blob of packs[1]!.blobs) assert.equal(problemOf(blob.chunkId), 'missing', JSON.stringify(bad));
  });

  test('a missing manifest: backup_not_found for it; verify reports it', async () => {
    await deleteObjects(location, 'manifest', [backupIds[2]!]);
    await assertCode(repository.getBackup(backupIds[2]!), 'backup_not_found');
    await assertCode(repository.restore(backupIds[2]!, { toPath: fresh('target') }), 'backup_not_found');
    const report = await repository.verify({ backupIds: [backupIds[2]!] });
    assert.equal(report.badManifests.length, 1);
  });

  test('restore never overwrites an existing file', async () => {
    const target = fresh('existing');
    writeFileSync(target, 'keep me');
    await assertCode(repository.restore(backupIds[0]!, { toPath: target }), 'target_exists');
    assert.equal(readFileSync(target, 'utf8'), 'keep me');
  });
});

describe('forget and garbage collection', () => {
  test('gc removes exactly the chunks no manifest names', async () => {
    await withRepository({}, async (repository) => {
      const shared = randomBytes(CHUNK);
      const a = await repository.backup({ sourcePath: image(Buffer.concat([shared, randomBytes(CHUNK)])) });
      const bBytes = Buffer.concat([shared, randomBytes(CHUNK)]);
      const b = await repository.backup({ sourcePath: image(bBytes) });
      await repository.forget([a.id]);
      const report = await repository.gc();
      assert.deepEqual({ removed: report.chunksRemoved, kept: report.chunksKept }, { removed: 1, kept: 2 });
      const chunks = await storedChunks(repository);
      assert.equal(chunks.length, 2);
      assert.equal((await repository.verify()).ok, true);
      assert.equal(await repository.storedBytes([b.id]), chunks.reduce((sum, chunk) => sum + chunk.length, 0));
      const target = fresh('after-gc');
      await repository.restore(b.id, { toPath: target });
      assert.equal(sha256(readFileSync(target)), sha256(bBytes), 'the rewritten pack restores the backup byte-exact');
    });
  });

  test('two backups at once may store a chunk twice; gc keeps one copy and both backups restore', async () => {
    const location = await store.location('concurrent');
    const bytes = randomBytes(8 * CHUNK);
    const source = image(bytes);
    await withRepository({ location }, async (first) => {
      const second = await openRepository({ location, password: 'secret', workers: 1 });
      try {
        const [a, b] = await Promise.all([first.backup({ sourcePath: source }), second.backup({ sourcePath: source })]);
        assert.ok((await storedChunks(first)).length >= 8);
        const report = await first.gc();
        assert.equal(report.chunksKept, 8);
        assert.equal((await storedChunks(first)).length, 8, 'one copy of each chunk is left');
        for (const backup of [a, b]) {
          const target = fresh('concurrent-restored');
          await second.restore(backup.id, { toPath: target });
          assert.equal(sha256(readFileSync(target)), sha256(bytes));
        }
      } finally {
        await second.close();
      }
    });
  });

  test('gc removes a pack no index names (a backup that died before writing its index)', async () => {
    await withRepository({}, async (repository, location) => {
      const kept = await repository.backup({ sourcePath: image(randomBytes(2 * CHUNK)) });
      const indexesBefore = await objectNames(location, 'index');
      await repository.backup({ sourcePath: image(randomBytes(3 * CHUNK)) });
      // Undo the second backup's index and manifest: its pack is left as a crash would leave it.
      await deleteObjects(location, 'index', (await objectNames(location, 'index')).filter((name) => !indexesBefore.includes(name)));
      await deleteObjects(location, 'manifest', (await objectNames(location, 'manifest')).filter((name) => name !== kept.id));
      assert.equal((await repository.packs()).length, 2);
      const report = await repository.gc();
      assert.equal(report.chunksKept, 2);
      assert.equal((await repository.packs()).length, 1);
      assert.equal((await repository.verify()).ok, true);
    });
  });

  test('gc refuses while a live process holds a backup lock, and ignores the lock of a dead one', async () => {
    await withRepository({}, async (repository, location) => {
      const host = Buffer.from((await import('node:os')).hostname()).toString('hex');
      // A lock object's name: kind, pid, host, holder, taken at, written at (docs/REPOSITORY.md, "Locks").
      const lock = (pid: number, writtenAt = Date.now()) => `backup-${pid}-${host}-${'ab'.repeat(8)}-${writtenAt}-${writtenAt}`;
      const live = lock(process.pid);
      await putObject(location, 'lock', live, Buffer.alloc(0));
      await assertCode(repository.gc(), 'repository_locked');
      await deleteObjects(location, 'lock', [live]);
      const dead = lock(2 ** 22 + 12345); // above Linux's default pid_max: no such process
      await putObject(location, 'lock', dead, Buffer.alloc(0));
      await repository.gc();
      assert.equal((await objectNames(location, 'lock')).includes(dead), false, 'the stale lock was removed');
    });
  });

  test('a lock not refreshed for ten minutes is stale even when its process lives (no file time counts)', async () => {
    await withRepository({}, async (repository, location) => {
      const host = Buffer.from('another-host').toString('hex');
      const old = Date.now() - 10 * 60_000 - 1000;
      const stale = `backup-1-${host}-${'cd'.repeat(8)}-${old}-${old}`;
      await putObject(location, 'lock', stale, Buffer.alloc(0)); // stored just now: only the time in its name counts
      await repository.gc();
      assert.equal((await objectNames(location, 'lock')).includes(stale), false, 'the stale lock was removed');
      const fresh = `backup-1-${host}-${'cd'.repeat(8)}-${old}-${Date.now()}`;
      await putObject(location, 'lock', fresh, Buffer.alloc(0));
      await assertCode(repository.gc(), 'repository_locked');
    });
  });
});
}
