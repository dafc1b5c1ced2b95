/**
 * Run records are pruned by the worker's background sweep: each policy keeps its newest
 * `keepRunsPerPolicy` finished runs, and every unfinished run; the sweep deletes in bounded batches
 * and carries on where it stopped at the next sweep.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { startSweeper } from '../../src/background/sweeper.js';
import { fixedClock } from '../../src/domain/clock.js';
import type { Runtime } from '../../src/runtime.js';
import { claimDueRuns } from '../../src/scheduler/claims.js';
import { schedulerFor } from '../../src/scheduler/index.js';
import { forEachEngine, TEST_NOW } from '../support/harness.js';
import { allRuns, createOrganizationWithDisk, RecordingRunner, seedHourlyPolicies, TestDatabase } from './support.js';

const HOUR = 3600;
const INSTANTS = 6;

forEachEngine('scheduler: pruning run records', (engine) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let dueAt: number;
  let policies: string[];

  beforeEach(async () => {
    database = TestDatabase.create(engine);
    dueAt = TEST_NOW + HOUR;
    const clock = fixedClock(dueAt);
    runtime = await database.open(clock);
    const { organization } = await createOrganizationWithDisk(runtime);
    policies = await seedHourlyPolicies(runtime, organization.id, 3, dueAt);
    // The first instant of the first policy is claimed by a worker that never finishes it (its lease
    // outlasts the test), so that policy keeps one unfinished run, older than all the others.
    await claimDueRuns(runtime.store.db, runtime.store.engine, { now: dueAt, limit: 1, workerId: 'stuck', leaseSeconds: 100 * HOUR });
    const worker = schedulerFor(runtime, { logger: false, runner: new RecordingRunner() });
    for (let instant = 0; instant < INSTANTS; instant++) {
      clock.set(dueAt + instant * HOUR);
      await worker.runDue();
    }
  });
  afterEach(() => database.close());

  const runsByPolicy = async () => {
    const byPolicy = new Map<string, [number, string][]>(policies.map((id) => [id, []]));
    for (const run of await allRuns(runtime)) byPolicy.get(run.policy_id)!.push([run.scheduled_at - dueAt, run.status]);
    for (const runs of byPolicy.values()) runs.sort((a, b) => a[0] - b[0]);
    return byPolicy;
  };

  test("keeps each policy's newest finished runs and every unfinished one", async () => {
    const before = await runsByPolicy();
    const stuck = [...before.values()].find((runs) => runs[0]![1] === 'claimed');
    assert.ok(stuck, 'one policy has an unfinished first run');
    assert.ok([...before.values()].every((runs) => runs.length === INSTANTS));

    const sweeper = startSweeper(runtime.services, false, { intervalMs: 0, keepRunsPerPolicy: 2, pruneBatchRuns: 4 });
    await sweeper.sweepOnce();
    sweeper.stop();

    const kept: [number, string][] = [[4 * HOUR, ''], [5 * HOUR, '']];
    for (const [policyId, runs] of await runsByPolicy()) {
      const expected: [number, string][] = before.get(policyId) === stuck ? [[0, 'claimed'], ...kept] : kept;
      assert.deepEqual(runs.map(([at, status]) => [at, status === 'claimed' ? 'claimed' : '']), expected, policyId);
    }
  });

  test('deletes in bounded batches, carrying on at the next sweep', async () => {
    const total = (await allRuns(runtime)).length;
    const sweeper = startSweeper(runtime.services, false, { intervalMs: 0, keepRunsPerPolicy: 1, pruneBatchRuns: 2, pruneBatchesPerSweep: 1 });
    await sweeper.sweepOnce(); // the first sweep (at start) and this one: two statements, each of at most 2 deletions
    const afterTwo = (await allRuns(runtime)).length;
    assert.ok(total - afterTwo <= 4 && total - afterTwo > 0, `deleted ${total - afterTwo}`);

    const finalCount = policies.length + 1; // one finished run per policy, and the unfinished one
    for (let sweep = 0; sweep < 20 && (await allRuns(runtime)).length > finalCount; sweep++) await sweeper.sweepOnce();
    sweeper.stop();
    assert.equal((await allRuns(runtime)).length, finalCount);
  });
});
