import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock } from '../../src/engine/repository/locks.js';
import { LocalDirectoryStore } from '../../src/engine/storage/local-store.js';

/** Lock objects: named by what they say, refreshed by a new object (never a rename or a file time). */
const root = mkdtempSync(join(tmpdir(), 'dbp-locks-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
const LOCK_NAME = /^(backup|read|gc)-(\d+)-([0-9a-f]*)-([0-9a-f]{16})-(\d+)-(\d+)$/;

test('a held lock is refreshed by a new object with a later time, the same holder and taken-at; released, none is left', async () => {
  mkdirSync(join(root, 'repository'));
  const store = new LocalDirectoryStore(join(root, 'repository'));
  const locks = () => readdirSync(join(store.root, 'locks')).filter((name) => !name.startsWith('.tmp-'));
  const before = Date.now();
  const lock = await acquireLock(store, 'backup', 40);
  const [first] = locks();
  const parsed = LOCK_NAME.exec(first!);
  assert.ok(parsed, `a lock name: ${first}`);
  assert.equal(parsed[1], 'backup');
  assert.equal(Number(parsed[2]), process.pid);
  assert.equal(Buffer.from(parsed[3]!, 'hex').toString(), hostname());
  assert.ok(Number(parsed[5]) >= before && Number(parsed[6]) === Number(parsed[5]));
  await sleep(300);
  const now = locks();
  assert.equal(now.length, 1, `one object per holder once a refresh is done: ${now.join(', ')}`);
  const refreshed = LOCK_NAME.exec(now[0]!)!;
  assert.notEqual(now[0], first, 'refreshed under a new name');
  assert.equal(refreshed[4], parsed[4], 'the same holder');
  assert.equal(refreshed[5], parsed[5], 'the same taken-at');
  assert.ok(Number(refreshed[6]) > Number(parsed[6]), 'a later written-at');
  await lock.release();
  assert.deepEqual(locks(), []);
  await store.close();
});
