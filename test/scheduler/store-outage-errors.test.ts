/**
 * How the scheduler tells an unreachable repository store (store-outage.ts) from a database error
 * (transient-errors.ts), and the notes a waiting run carries: the store's refused connection has the
 * same socket code as a database's, and must not be taken for one (it would be retried at once, again
 * and again, instead of after a backoff).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreError } from '../../src/engine/storage/object-store.js';
import {
  gaveUpOnStoreError,
  isStoreUnavailable,
  storeRetryDelaySeconds,
  storeTriesOf,
  storeUnreachableError,
  waitingForStoreError,
} from '../../src/scheduler/store-outage.js';
import { isTransientDatabaseError } from '../../src/scheduler/transient-errors.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7481'), { code: 'ECONNREFUSED' });
const outage = new StoreError('unavailable', 'PutObject s3:http://127.0.0.1:7481/b/k failed (ECONNREFUSED): the store refused the connection', { cause: refused });

test('a StoreError unavailable is a store outage, found through the cause chain, and never a transient database error', () => {
  assert.equal(isStoreUnavailable(outage), true);
  assert.equal(isStoreUnavailable(new Error('backup failed', { cause: outage })), true);
  assert.equal(isTransientDatabaseError(outage), false);
  assert.equal(isTransientDatabaseError(new Error('backup failed', { cause: outage })), false);
  // A database's refused connection stays a database error, and is no store outage.
  assert.equal(isTransientDatabaseError(refused), true);
  assert.equal(isStoreUnavailable(refused), false);
  assert.equal(isStoreUnavailable(new StoreError('denied', 'AccessDenied')), false);
  assert.equal(isStoreUnavailable(new StoreError('not_found', 'gone')), false);
});

test('the backoff doubles from the first wait up to the cap', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((tries) => storeRetryDelaySeconds(tries, 30, 900)), [30, 60, 120, 240, 480, 900, 900, 900]);
});

test('a waiting run says which try failed, when the next one is, and why; the count is read back from it', () => {
  const note = waitingForStoreError(2, 8, 1_796_616_000, outage);
  assert.equal(note, 'repository store unreachable (try 2 of 8 failed); tried again at 2026-12-07T04:00:00Z: PutObject s3:http://127.0.0.1:7481/b/k failed (ECONNREFUSED): the store refused the connection');
  assert.equal(storeTriesOf(note), 2);
  assert.equal(storeTriesOf(null), 0);
  assert.equal(storeTriesOf('to be retried after a database error: …'), 0);
  assert.match(gaveUpOnStoreError(8, 'tries', outage), /^repository store unreachable \(8 tries, none left\): PutObject /);
  assert.match(gaveUpOnStoreError(3, { nextInstant: 1_796_619_600 }, outage), /^repository store unreachable \(3 tries; not tried again: the policy's next run is due at 2026-12-07T05:00:00Z\): PutObject /);
  assert.match(storeUnreachableError(outage), /^repository store unreachable: PutObject /);
});
