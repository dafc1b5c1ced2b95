/**
 * Every byte of a repository goes through an ObjectStore (src/engine/storage): no module of the
 * repository touches the file system, except those that read the image being backed up or write the
 * image being restored, which are not repository storage.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPOSITORY = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'src/engine/repository');
/** Source images (backup.ts) and restore targets (restore.ts, files.ts, restore-writes.ts). */
const IMAGE_IO = new Set(['backup.ts', 'restore.ts', 'files.ts', 'restore-writes.ts']);

test('only the image readers and writers of the repository import node:fs', () => {
  const offenders = readdirSync(REPOSITORY)
    .filter((name) => name.endsWith('.ts') && !IMAGE_IO.has(name))
    .filter((name) => /from\s+['"](node:)?fs(\/promises)?['"]/.test(readFileSync(join(REPOSITORY, name), 'utf8')));
  assert.deepEqual(offenders, [], 'these modules do file I/O of their own instead of going through the store');
});
