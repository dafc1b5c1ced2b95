import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { openRepository, type Repository } from '../../src/engine/repository/index.js';

/**
 * Issue 15, where defects 7/13 (gc deletes the packs nothing needs, those no index names included)
 * and 8 (a damaged or lost index file: its packs are indexed again from their own tables) meet: a
 * pack no index file names. gc keeps every one holding a chunk a manifest names and deletes the
 * others; an index recovery leaves alone the packs a running backup may still be writing.
 * The leftovers of a backup killed before its index are made here by deleting a finished backup's
 * manifest and index file: that is exactly what such a backup leaves (packs, no index, no manifest).
 */
const CHUNK = 4096;
const root = mkdtempSync(join(tmpdir(), 'dbp-unindexed-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${name}-${counter++}`);

function filesIn(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => join(entry.parentPath, entry.name));
}
const packIds = (repository: string) => filesIn(join(repository, 'packs')).map((path) => basename(path)).sort();
const indexIds = (repository: string) => filesIn(join(repository, 'index')).map((path) => basename(path)).sort();

function open(path: string, warnings: string[] = []): Promise<Repository> {
  return openRepository({ location: { type: 'local', path }, password: 'unindexed', create: true, chunkSize: CHUNK, workers: 2, onWarning: (message) => warnings.push(message) });
}

async function backUp(repository: Repository, bytes: Buffer): Promise<string> {
  const image = fresh('image');
  writeFileSync(image, bytes);
  return (await repository.backup({ sourcePath: image })).id;
}

async function assertRestores(repository: Repository, id: string, bytes: Buffer): Promise<void> {
  const target = fresh('restored');
  await repository.restore(id, { toPath: target });
  assert.ok(readFileSync(target).equals(bytes), `backup ${id} restores byte-exact`);
}

/** Backs up new data, then removes its manifest and index file: its packs are as a killed backup leaves them. */
async function leaveUnindexedPacks(path: string, repository: Repository): Promise<string[]> {
  const packsBefore = new Set(packIds(path));
  const indexesBefore = new Set(indexIds(path));
  const id = await backUp(repository, randomBytes(CHUNK * 40));
  for (const index of indexIds(path)) if (!indexesBefore.has(index)) rmSync(join(path, 'index', index));
  rmSync(join(path, 'backups', id));
  return packIds(path).filter((pack) => !packsBefore.has(pack));
}

const damages = {
  deleted: (file: string) => rmSync(file),
  'bytes flipped': (file: string) => {
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(file, bytes);
  },
};

for (const [kind, damage] of Object.entries(damages)) {
  test(`index file ${kind} beside a killed backup's packs: gc keeps every pack a backup needs and deletes the leftovers`, async () => {
    const path = fresh('repository');
    let repository = await open(path);
    const bytes = randomBytes(CHUNK * 50 + 9);
    const kept = await backUp(repository, bytes);
    const keptPacks = packIds(path);
    const [keptIndex] = indexIds(path);
    const leftovers = await leaveUnindexedPacks(path, repository);
    assert.ok(leftovers.length > 0);
    await repository.close();
    damage(join(path, 'index', keptIndex!));

    repository = await open(path);
    try {
      const report = await repository.gc();
      assert.deepEqual(packIds(path), keptPacks, 'the needed packs stay, the leftovers are gone');
      assert.ok(report.chunksRemoved >= 40, `the leftovers' chunks are counted removed: ${JSON.stringify(report)}`);
      await assertRestores(repository, kept, bytes);
      const verified = await repository.verify();
      assert.equal(verified.ok, true, JSON.stringify(verified));
      assert.equal((await repository.gc()).chunksRemoved, 0, 'a second gc finds nothing more');
      assert.deepEqual(packIds(path), keptPacks);
    } finally {
      await repository.close();
    }
  });
}

test('an index recovery during a running backup leaves the packs written since it began; gc deletes them once it is gone', async () => {
  const path = fresh('repository');
  const warnings: string[] = [];
  const repository = await open(path, warnings);
  try {
    const bytes = randomBytes(CHUNK * 30);
    const kept = await backUp(repository, bytes);
    const keptPacks = packIds(path);
    const [keptIndex] = indexIds(path);
    // A backup that is running: its lock (held by this live process), then its packs, not yet indexed.
    const since = Date.now() - 1;
    const lock = join(path, 'locks', `backup-${process.pid}-${Buffer.from(hostname()).toString('hex')}-${since}-${randomBytes(8).toString('hex')}`);
    writeFileSync(lock, '');
    const running = await leaveUnindexedPacks(path, repository);
    assert.ok(running.length > 0);
    damages['bytes flipped'](join(path, 'index', keptIndex!));

    await assertRestores(repository, kept, bytes);
    const recovery = warnings.find((warning) => warning.includes('indexed again'));
    assert.ok(recovery !== undefined, `the recovery is reported: ${warnings.join(' | ')}`);
    for (const pack of keptPacks) assert.ok(recovery.includes(pack), `the needed pack ${pack} is indexed again: ${recovery}`);
    for (const pack of running) assert.ok(!recovery.includes(pack), `the running backup's pack ${pack} is left alone: ${recovery}`);
    assert.deepEqual(packIds(path), [...keptPacks, ...running].sort(), 'no pack was deleted');

    rmSync(lock);
    await repository.gc();
    assert.deepEqual(packIds(path), keptPacks, 'with the backup gone, gc deletes the packs nothing needs');
    await assertRestores(repository, kept, bytes);
  } finally {
    await repository.close();
  }
});
