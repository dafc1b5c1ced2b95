/**
 * Long operations (`async=true`) are deleted by the worker's background sweep once they finished more
 * than `keepOperationsSeconds` ago, in bounded batches; running ones and recent ones stay.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { startSweeper } from '../../src/background/sweeper.js';
import { fixedClock } from '../../src/domain/clock.js';
import type { Runtime } from '../../src/runtime.js';
import { forEachEngine, TEST_NOW } from '../support/harness.js';
import { createOrganizationWithDisk, TestDatabase } from './support.js';

const DAY = 24 * 3600;

forEachEngine('sweeper: deleting old finished operations', (engine) => {
  let database: TestDatabase;
  let runtime: Runtime;
  const clock = fixedClock(TEST_NOW);

  beforeEach(async () => {
    clock.set(TEST_NOW);
    database = TestDatabase.create(engine);
    runtime = await database.open(clock);
  });
  afterEach(() => database.close());

  test('finished operations older than the keep time go, in batches; recent and running ones stay', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const { operations } = runtime.services;
    const start = async (work: () => Promise<unknown>) =>
      (await operations.start({ kind: 'verify', organizationId: organization.id, subjectId: disk.id, work: () => work() })).operation.id;
    const old: string[] = [];
    for (let i = 0; i < 5; i++) old.push(await start(async () => ({ ok: true })));
    old.push(await start(async () => Promise.reject(new Error('failed long ago'))));
    await operations.settled();
    clock.advance(8 * DAY);
    const recent = await start(async () => ({ ok: true }));
    let finish!: () => void;
    const running = await start(() => new Promise((resolve) => (finish = () => resolve({ ok: true }))));
    await new Promise((resolve) => setImmediate(resolve));

    const sweeper = startSweeper(runtime.services, false, { intervalMs: 0, keepOperationsSeconds: 7 * DAY, pruneBatchRuns: 4 });
    await sweeper.sweepOnce();
    sweeper.stop();

    for (const id of old) assert.equal(await operations.find(id), null, `${id} finished 8 days ago is gone`);
    assert.equal((await operations.find(recent))?.status, 'succeeded');
    assert.equal((await operations.find(running))?.status, 'running');
    finish();
    await operations.settled();
  });
});
