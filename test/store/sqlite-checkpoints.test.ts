import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { TestService } from '../support/harness.js';

/**
 * A serving process checkpoints SQLite's write-ahead log from a worker thread (writes themselves never
 * do). Each time a checkpoint has copied the whole log back, the next write starts the log afresh and
 * bumps the checkpoint sequence number in the log's header (bytes 12–15), which this test watches: a
 * handful of writes is far below the 1000 pages at which SQLite would checkpoint on its own.
 */
test('a serving process checkpoints the SQLite log in the background', async () => {
  const service = await TestService.start('sqlite');
  try {
    const org = await service.createOrganization('Checkpoints');
    const disk = await service.createDisk(org.id);
    const sequence = () => readFileSync(`${service.runtime.store.location}-wal`).readUInt32BE(12);
    await service.createPolicy(org.token, disk.id);
    const first = sequence();
    let latest = first;
    for (let attempt = 0; attempt < 40 && latest === first; attempt++) {
      await sleep(250);
      await service.createPolicy(org.token, disk.id);
      latest = sequence();
    }
    assert.ok(latest > first, `the log was never started afresh (checkpoint sequence stayed ${first})`);
  } finally {
    await service.stop();
  }
});
