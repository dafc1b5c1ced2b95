import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openRepository, RepositoryError, type Repository } from '../../src/engine/repository/index.js';
import { flipObjectByte } from '../support/repository-damage.js';
import { TEST_STORES, type TestStore } from '../support/test-stores.js';

/**
 * Issue 15 defect 5: a restore that fails (a damaged chunk, a full disk) has finished every write into
 * its target before closing it — nothing lands in a file the same process opens next — and leaves no
 * partial file behind. Through the engine API, as a long-running server uses it. On each store (the
 * repository's: the restore target is always a local file; the full disk is the target's).
 */
const CHUNK = 4096;
const root = mkdtempSync(join(tmpdir(), 'dbp-restore-faults-'));
after(() => rmSync(root, { recursive: true, force: true }));

const VICTIM_BYTES = 2 * 1024 * 1024;
const PATTERN = 0xa5;

/**
 * Files opened right after a failed restore (they take the descriptor numbers it just gave up),
 * filled with a known byte and kept open, as a server keeps its files, until `closeVictims`.
 */
function openVictims(directory: string): { path: string; fd: number }[] {
  return [0, 1, 2].map((k) => {
    const path = join(directory, `victim-${k}-${randomBytes(4).toString('hex')}`);
    const fd = openSync(path, 'w+');
    writeSync(fd, Buffer.alloc(VICTIM_BYTES, PATTERN), 0, VICTIM_BYTES, 0);
    return { path, fd };
  });
}

function assertUntouched(victims: readonly { path: string; fd: number }[]): void {
  for (const { fd } of victims) closeSync(fd);
  for (const { path } of victims) {
    assert.equal(statSync(path).size, VICTIM_BYTES, `${path} was not extended by a stray write`);
    const bytes = readFileSync(path);
    assert.ok(bytes.every((byte) => byte === PATTERN), `${path} holds bytes a stray restore write put there`);
  }
}

/** A repository holding one backup of a random image of `bytes`; answers it open, with the backup's id. */
async function repositoryWithBackup(store: TestStore, bytes: number): Promise<{ repository: Repository; id: string }> {
  const location = await store.location('restore-faults');
  const image = join(root, `image-${randomBytes(4).toString('hex')}`);
  writeFileSync(image, randomBytes(bytes));
  const repository = await openRepository({ location, password: 'faults', create: true, chunkSize: CHUNK, workers: 2 });
  const { id } = await repository.backup({ sourcePath: image });
  rmSync(image);
  return { repository, id };
}

for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => {

test('a restore failing on a damaged chunk finishes its writes before closing the target: files opened next are not written into; no partial file', async () => {
  const { repository, id } = await repositoryWithBackup(store, 40 * 1024 * 1024);
  try {
    // One chunk damaged in the middle of the image: units before and after it are being written when it fails.
    const packs = await repository.packs();
    const pack = packs[Math.floor(packs.length / 2)]!;
    const blob = pack.blobs[Math.floor(pack.blobs.length / 2)]!;
    await flipObjectByte(repository.location, 'pack', pack.id, blob.offset + Math.floor(blob.length / 2));
    for (let attempt = 0; attempt < 6; attempt++) {
      const target = join(root, `target-${store.name}-${attempt}`);
      mkdirSync(target);
      let victims: { path: string; fd: number }[] = [];
      await assert.rejects(
        repository.restore(id, { toPath: join(target, 'restored.img') }).catch((error: unknown) => {
          victims = openVictims(root);
          throw error;
        }),
        (error: unknown) => error instanceof RepositoryError && error.code === 'corrupt_chunk' && error.message.includes(blob.chunkId),
      );
      // Any write still under way would land now: let the pool finish everything it holds.
      await repository.verify();
      assertUntouched(victims);
      assert.deepEqual(readdirSync(target), [], 'no partial or temporary file left');
    }
  } finally {
    await repository.close();
  }
});

test('a restore onto a full file system fails with ENOSPC, leaves nothing behind and writes nowhere else', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a small tmpfs needs root');
  const small = join(root, `small-${store.name}`);
  mkdirSync(small);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
  } catch (error) {
    return t.skip(`cannot mount a tmpfs here: ${(error as Error).message}`);
  }
  const { repository, id } = await repositoryWithBackup(store, 24 * 1024 * 1024);
  try {
    let victims: { path: string; fd: number }[] = [];
    await assert.rejects(
      repository.restore(id, { toPath: join(small, 'restored.img') }).catch((error: unknown) => {
        victims = openVictims(root);
        throw error;
      }),
      (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOSPC',
    );
    await repository.verify();
    assertUntouched(victims);
    assert.deepEqual(readdirSync(small), [], 'no partial or temporary file left');
  } finally {
    await repository.close();
    execFileSync('umount', [small]);
  }
});

test('a blank restore target is refused before anything is written', async () => {
  const { repository, id } = await repositoryWithBackup(store, 64 * 1024);
  const before = readdirSync(process.cwd());
  try {
    for (const toPath of ['', '   ']) await assert.rejects(repository.restore(id, { toPath }), /empty/);
  } finally {
    await repository.close();
  }
  assert.deepEqual(readdirSync(process.cwd()), before);
});

test('a restore stopped half-way (its signal, as dbp restore on SIGINT/SIGTERM) finishes its writes and leaves nothing behind', async () => {
  const { repository, id } = await repositoryWithBackup(store, 24 * 1024 * 1024);
  try {
    const target = join(root, `stopped-${store.name}`);
    mkdirSync(target);
    const stop = new AbortController();
    let victims: { path: string; fd: number }[] = [];
    await assert.rejects(
      repository
        .restore(id, { toPath: join(target, 'restored.img'), signal: stop.signal, onProgress: ({ bytesDone }) => bytesDone >= 4 * 1024 * 1024 && stop.abort() })
        .catch((error: unknown) => {
          victims = openVictims(root);
          throw error;
        }),
      (error: unknown) => error instanceof RepositoryError && error.code === 'aborted',
    );
    await repository.verify();
    assertUntouched(victims);
    assert.deepEqual(readdirSync(target), []);
  } finally {
    await repository.close();
  }
});
});
