/** Time-ordered ids: the shape of every other id, and their text sorts as their times do. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newId, newTimeOrderedId } from '../../src/domain/ids.js';

const SHAPE = /^run_[0-9A-Za-z]{16}$/;

test('a time-ordered id has the shape of a random one', () => {
  assert.match(newId('backupRun'), SHAPE);
  assert.match(newTimeOrderedId('backupRun'), SHAPE);
});

test('time-ordered ids sort by the time they were made', () => {
  const until = 36 ** 9 - 1; // the last millisecond nine base-36 digits hold (in the year 5188)
  fc.assert(
    fc.property(fc.integer({ min: 0, max: until }), fc.integer({ min: 0, max: until }), (a, b) => {
      fc.pre(a !== b);
      const [earlier, later] = a < b ? [a, b] : [b, a];
      assert.ok(newTimeOrderedId('backupRun', earlier) < newTimeOrderedId('backupRun', later));
    }),
  );
});
