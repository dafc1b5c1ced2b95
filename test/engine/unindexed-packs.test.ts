import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openRepository, type Repository } from '../../src/engine/repository/index.js';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { deleteObjects, flipObjectByte, getObject, objectNames, putObject } from '../support/repository-damage.js';
import { TEST_STORES } from '../support/test-stores.js';

/**
 * Issue 15, where defects 7/13 (gc deletes the packs nothing needs, those no index names included)
 * and 8 (a damaged or lost index file: its packs are indexed again from their own tables) meet: a
 * pack no index file names. gc keeps every one holding a chunk a manifest names and deletes the
 * others; an index recovery leaves alone the packs a running backup may still be writing.
 * The leftovers of a backup killed before its index are made here by deleting a finished backup's
 * manifest and index file: that is exactly what such a backup leaves (packs, no index, no manifest).
 * On each store; the damage is done through the store.
 */
const CHUNK = 4096;
const root = mkdtempSync(join(tmpdir(), 'dbp-unindexed-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${name}-${counter++}`);

const packIds = (location: StoreLocation) => objectNames(location, 'pack');
const indexIds = (location: StoreLocation) => objectNames(location, 'index');

function open(location: StoreLocation, warnings: string[] = []): Promise<Repository> {
  return openRepository({ location, password: 'unindexed', create: true, chunkSize: CHUNK, workers: 2, onWarning: (message) => warnings.push(message) });
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
async function leaveUnindexedPacks(location: StoreLocation, repository: Repository): Promise<string[]> {
  const packsBefore = new Set(await packIds(location));
  const indexesBefore = new Set(await indexIds(location));
  const id = await backUp(repository, randomBytes(CHUNK * 40));
  await deleteObjects(location, 'index', (await indexIds(location)).filter((index) => !indexesBefore.has(index)));
  await deleteObjects(location, 'manifest', [id]);
  return (await packIds(location)).filter((pack) => !packsBefore.has(pack));
}

const damages: Record<string, (location: StoreLocation, name: string) => Promise<void>> = {
  deleted: (location, name) => deleteObjects(location, 'index', [name]),
  'bytes flipped': async (location, name) => flipObjectByte(location, 'index', name, Math.floor((await getObject(location, 'index', name)).length / 2)),
};

for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => {
for (const [kind, damage] of Object.entries(damages)) {
  test(`index file ${kind} beside a killed backup's packs: gc keeps every pack a backup needs and deletes the leftovers`, async () => {
    const location = await store.location(`unindexed-${kind}`);
    let repository = await open(location);
    const bytes = randomBytes(CHUNK * 50 + 9);
    const kept = await backUp(repository, bytes);
    const keptPacks = await packIds(location);
    const [keptIndex] = await indexIds(location);
    const leftovers = await leaveUnindexedPacks(location, repository);
    assert.ok(leftovers.length > 0);
    await repository.close();
    await damage!(location, keptIndex!);

    repository = await open(location);
    try {
      const report = await repository.gc();
      assert.deepEqual(await packIds(location), keptPacks, 'the needed packs stay, the leftovers are gone');
      assert.ok(report.chunksRemoved >= 40, `the leftovers' chunks are counted removed: ${JSON.stringify(report)}`);
      await assertRestores(repository, kept, bytes);
      const verified = await repository.verify();
      assert.equal(verified.ok, true, JSON.stringify(verified));
      assert.equal((await repository.gc()).chunksRemoved, 0, 'a second gc finds nothing more');
      assert.deepEqual(await packIds(location), keptPacks);
    } finally {
      await repository.close();
    }
  });
}

test('an index recovery during a running backup leaves the packs written since it began; gc deletes them once it is gone', async () => {
  const location = await store.location('unindexed-running');
  const warnings: string[] = [];
  const repository = await open(location, warnings);
  try {
    const bytes = randomBytes(CHUNK * 30);
    const kept = await backUp(repository, bytes);
    const keptPacks = await packIds(location);
    const [keptIndex] = await indexIds(location);
    // A backup that is running: its lock (held by this live process, named as locks.ts names it), then
    // its packs, not yet indexed.
    const since = Date.now();
    const lock = `backup-${process.pid}-${Buffer.from(hostname()).toString('hex')}-${randomBytes(8).toString('hex')}-${since}-${since}`;
    await putObject(location, 'lock', lock, Buffer.alloc(0));
    const running = await leaveUnindexedPacks(location, repository);
    assert.ok(running.length > 0);
    await damages['bytes flipped']!(location, keptIndex!);

    await assertRestores(repository, kept, bytes);
    const recovery = warnings.find((warning) => warning.includes('indexed again'));
    assert.ok(recovery !== undefined, `the recovery is reported: ${warnings.join(' | ')}`);
    for (const pack of keptPacks) assert.ok(recovery.includes(pack), `the needed pack ${pack} is indexed again: ${recovery}`);
    for (const pack of running) assert.ok(!recovery.includes(pack), `the running backup's pack ${pack} is left alone: ${recovery}`);
    assert.deepEqual(await packIds(location), [...keptPacks, ...running].sort(), 'no pack was deleted');

    await deleteObjects(location, 'lock', [lock]);
    await repository.gc();
    assert.deepEqual(await packIds(location), keptPacks, 'with the backup gone, gc deletes the packs nothing needs');
    await assertRestores(repository, kept, bytes);
  } finally {
    await repository.close();
  }
});
});
