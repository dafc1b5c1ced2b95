import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openRepository, type Repository } from '../../src/engine/repository/index.js';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { deleteObjects, flipObjectByte, getObject, objectNames, putObject, truncateObject } from '../support/repository-damage.js';
import { TEST_STORES } from '../support/test-stores.js';

/**
 * Issue 15 defect 8: index files are derived data. A damaged (truncated, altered) or deleted index
 * file blocks nothing: backup, gc, verify and restore go on, the damage is reported naming the file,
 * the index is rebuilt from the packs' own tables, and `repairIndex` rebuilds it whole. On each store.
 */
const CHUNK = 4096;
const root = mkdtempSync(join(tmpdir(), 'dbp-index-damage-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Damage done to an index object through the store (the same on a directory and on S3). */
const damages: Record<string, (location: StoreLocation, name: string) => Promise<void>> = {
  truncated: async (location, name) => truncateObject(location, 'index', name, Math.floor((await getObject(location, 'index', name)).length / 2)),
  'bytes flipped': async (location, name) => flipObjectByte(location, 'index', name, Math.floor((await getObject(location, 'index', name)).length / 2)),
  deleted: (location, name) => deleteObjects(location, 'index', [name]),
  emptied: (location, name) => putObject(location, 'index', name, Buffer.alloc(0)),
};

const indexFiles = (location: StoreLocation) => objectNames(location, 'index');

for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => {
for (const [kind, damage] of Object.entries(damages)) {
  test(`an index file ${kind}: gc, backup, verify and restore still work, the damage is named, repairIndex rebuilds it`, async () => {
    const location = await store.location(`index-${kind}`);
    const warnings: string[] = [];
    const open = () => openRepository({ location, password: 'index', create: true, chunkSize: CHUNK, workers: 2, onWarning: (message) => warnings.push(message) });
    const shared = randomBytes(CHUNK * 20);
    const images = new Map<string, Buffer>();
    const backUp = async (repository: Repository, bytes: Buffer) => {
      const image = join(root, `image-${randomBytes(4).toString('hex')}`);
      writeFileSync(image, bytes);
      const { id } = await repository.backup({ sourcePath: image });
      images.set(id, bytes);
    };
    let repository = await open();
    try {
      await backUp(repository, Buffer.concat([shared, randomBytes(CHUNK * 30 + 17)]));
      const [firstIndex] = await indexFiles(location);
      await backUp(repository, Buffer.concat([randomBytes(CHUNK * 10), shared]));
      await repository.close();
      await damage(location, firstIndex!);

      repository = await open();
      // The collection first: it must not take the packs the damaged file named for unused ones.
      await repository.gc();
      await backUp(repository, Buffer.concat([shared, randomBytes(CHUNK * 5)]));
      if (kind !== 'deleted') assert.ok(warnings.some((warning) => warning.includes(`index/${firstIndex}`)), `a warning names index/${firstIndex}: ${warnings.join(' | ')}`);
      for (const [id, bytes] of images) {
        const to = join(root, `restored-${id}`);
        await repository.restore(id, { toPath: to });
        assert.ok(readFileSync(to).equals(bytes), `backup ${id} restores byte-exact`);
        rmSync(to);
      }
      const report = await repository.verify();
      assert.deepEqual(report.badChunks, []);
      assert.equal(report.backupsChecked, 3);

      const repaired = await repository.repairIndex();
      assert.ok(repaired.packsIndexed > 0 && repaired.chunksIndexed > 0);
      assert.deepEqual(await indexFiles(location), [repaired.indexFile!.slice('index/'.length)]);
      const clean = await repository.verify();
      assert.deepEqual(clean.indexProblems, []);
      assert.equal(clean.ok, true);
    } finally {
      await repository.close();
    }
  });
}

test('verify names a damaged index file found on the way and mends it; the next verify is clean', async () => {
  const location = await store.location('index-verify');
  const repository = await openRepository({ location, password: 'index', create: true, chunkSize: CHUNK, workers: 2, onWarning: () => {} });
  try {
    const image = join(root, 'verify-image');
    const bytes = randomBytes(CHUNK * 12);
    writeFileSync(image, bytes);
    const { id } = await repository.backup({ sourcePath: image });
    const [file] = await indexFiles(location);
    await damages['bytes flipped']!(location, file!);
    const report = await repository.verify();
    assert.equal(report.ok, false);
    assert.deepEqual(report.badChunks, []);
    assert.ok(report.indexProblems.some((problem) => problem.file === `index/${file}`), JSON.stringify(report.indexProblems));
    const again = await repository.verify();
    assert.equal(again.ok, true, JSON.stringify(again));
    await repository.restore(id, { toPath: join(root, `verify-restored-${store.name}`) });
    assert.ok(readFileSync(join(root, `verify-restored-${store.name}`)).equals(bytes));
  } finally {
    await repository.close();
  }
});
});
