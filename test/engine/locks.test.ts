import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock } from '../../src/engine/repository/locks.js';
import { openStore } from '../../src/engine/storage/open-store.js';
import { TEST_STORES } from '../support/test-stores.js';

/** Lock objects: named by what they say, refreshed by a new object (never a rename or a file time). On each store. */
const LOCK_NAME = /^(backup|read|gc)-(\d+)-([0-9a-f]*)-([0-9a-f]{16})-(\d+)-(\d+)$/;

for (const store of TEST_STORES) describe(`on ${store.name}`, { skip: store.skip }, () => {
test('a held lock is refreshed by a new object with a later time, the same holder and taken-at; released, none is left', async () => {
  const location = await store.location('locks');
  if (location.type === 'local') mkdirSync(location.path, { recursive: true }); // a repository's directory is there before any lock
  const objects = await openStore(location);
  const locks = async () => {
    const names: string[] = [];
    for await (const { name } of objects.list('lock')) names.push(name);
    return names;
  };
  const before = Date.now();
  const lock = await acquireLock(objects, 'backup', 40);
  const [first] = await locks();
  const parsed = LOCK_NAME.exec(first!);
  assert.ok(parsed, `a lock name: ${first}`);
  assert.equal(parsed[1], 'backup');
  assert.equal(Number(parsed[2]), process.pid);
  assert.equal(Buffer.from(parsed[3]!, 'hex').toString(), hostname());
  assert.ok(Number(parsed[5]) >= before && Number(parsed[6]) === Number(parsed[5]));
  await sleep(300);
  // A refresh puts the new object, then removes the old one: between the two there are two (a while, on S3).
  let now = await locks();
  for (const deadline = Date.now() + 5_000; now.length !== 1 && Date.now() < deadline; now = await locks()) await sleep(5);
  assert.equal(now.length, 1, `one object per holder once a refresh is done: ${now.join(', ')}`);
  const refreshed = LOCK_NAME.exec(now[0]!)!;
  assert.notEqual(now[0], first, 'refreshed under a new name');
  assert.equal(refreshed[4], parsed[4], 'the same holder');
  assert.equal(refreshed[5], parsed[5], 'the same taken-at');
  assert.ok(Number(refreshed[6]) > Number(parsed[6]), 'a later written-at');
  await lock.release();
  assert.deepEqual(await locks(), []);
  await objects.close();
});
});
