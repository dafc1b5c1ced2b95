/**
 * Scheduled runs through an outage of the repository's store (issue 16, "Faults"): a policy backs up
 * into an S3 repository reached through the private radosgw of test/support/s3.ts (instance "fault",
 * so the tests sharing the main radosgw are not disturbed), and the test kills that radosgw.
 *
 * - Killed in the middle of a scheduled backup: the run is not recorded failed; its error says the
 *   store is unreachable and when it is tried next; it is not tried before then. radosgw started again:
 *   the retry succeeds, one backup for the instant, the repository verifies, the earlier backup
 *   restores and no lock object is left.
 * - Down for longer than the tries allowed: recorded failed with a one-line error. A manual run meanwhile
 *   fails at once (nobody retries it), saying the store is unreachable.
 *
 * The backoff is made small through the scheduler's settings, and the store's own retries few (through
 * its options), so that the test takes seconds, not minutes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { systemClock } from '../../src/domain/clock.js';
import { BackupEngine } from '../../src/engine/index.js';
import { openRepository } from '../../src/engine/repository/index.js';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { startServer } from '../../src/http/server.js';
import type { Runtime } from '../../src/runtime.js';
import { schedulerFor, type Scheduler } from '../../src/scheduler/index.js';
import { forEachEngine } from '../support/harness.js';
import { faultS3Settings, s3LockObjects, s3Settings, s3Skip, s3TestClient, startRadosgw, stopRadosgw, uniqueBucketName } from '../support/s3.js';
import { createDiskPolicy, createOrganizationWithDisk, TestDatabase } from './support.js';

const MiB = 1024 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const WAITING = /^repository store unreachable \(try (\d+) of (\d+) failed\); tried again at (\S+): .*(ECONNREFUSED|unavailable|refused)/;

/** A new bucket (made through the main radosgw) as a repository location reached through the private one. */
async function faultLocation(label: string): Promise<StoreLocation & { type: 's3' }> {
  const bucket = uniqueBucketName(label);
  const client = s3TestClient();
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return { type: 's3', endpoint: faultS3Settings(s3Settings!).endpoint, bucket, prefix: 'repo' };
}


/** Probes until it answers something; the timeout's message shows the run rows of the moment. */
async function waitFor<T>(runtime: Runtime, what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() >= deadline) {
      const rows = await runtime.store.db.selectFrom('backup_runs').select(['id', 'status', 'error', 'attempts', 'lease_expires_at', 'worker_id']).execute();
      assert.fail(`timed out waiting for ${what}; runs: ${JSON.stringify(rows)}`);
    }
    await sleep(20);
  }
}

const runOf = (runtime: Runtime, id: string) => runtime.store.db.selectFrom('backup_runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

forEachEngine('scheduled runs through a store outage', (engineName) => {
  describe('S3 repository through the private radosgw', { skip: s3Skip }, () => {
    let db: TestDatabase;
    let runtime: Runtime;
    let engine: BackupEngine;
    let location: StoreLocation & { type: 's3' };
    let dataDir: string;
    let scheduler: Scheduler | undefined;

    before(async () => {
      await startRadosgw();
      db = TestDatabase.create(engineName);
      // Real time: the backoff is waited out, not simulated.
      runtime = await db.open(systemClock);
      dataDir = mkdtempSync(join(tmpdir(), 'dbp-store-outage-'));
      location = await faultLocation('store-outage');
      // Two attempts per request (the default eight take ~20 s to give up on a stopped radosgw).
      const store = await S3ObjectStore.open(location, { maxAttempts: 2 });
      const repository = await openRepository({ store, password: 'store outage', create: true, workers: 2 });
      engine = new BackupEngine({ db: runtime.store.db, engine: runtime.store.engine, repository, clock: systemClock, dataDir, logger: false });
    });

    after(async () => {
      try {
        await scheduler?.stop();
        await startRadosgw(); // never leave it down
        await engine?.close();
        await db?.close();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    async function policyOnNewDisk(bytes: Buffer) {
      const { organization, disk } = await createOrganizationWithDisk(runtime);
      const imagePath = join(dataDir, `${disk.id}.img`);
      writeFileSync(imagePath, bytes);
      await runtime.store.db.updateTable('disks').set({ image_path: imagePath }).where('id', '=', disk.id).execute();
      const policy = await createDiskPolicy(runtime, organization.id, disk, { interval: 'hourly' });
      return { policy, disk };
    }

    function startScheduler(settings: Parameters<typeof schedulerFor>[1]['settings']) {
      scheduler = schedulerFor(runtime, {
        runner: engine,
        logger: false,
        settings: { maxPollMs: 200, minPollMs: 50, leaseCheckIntervalMs: 100, lookAheadSeconds: 0, markRunningAfterMs: 50, ...settings },
      });
      scheduler.start();
    }

    /** Makes the policy due a moment from now (after the second of any manual run just made); answers that instant. */
    async function dueSoon(policyId: string): Promise<number> {
      const instant = Math.floor(Date.now() / 1000) + 2;
      await runtime.store.db.updateTable('disk_backup_policies').set({ next_invocation_at: instant }).where('id', '=', policyId).execute();
      return instant;
    }

    test('radosgw killed during a scheduled backup: the run waits and says so; radosgw back: the retry succeeds, once, and leaves no lock', async () => {
      const earlierBytes = randomBytes(2 * MiB);
      const { policy, disk } = await policyOnNewDisk(earlierBytes);
      const earlier = await engine.runPolicyNow(policy.id);
      assert.equal(earlier.result.status, 'succeeded', String(earlier.result.error));
      const earlierBackup = earlier.result.backups[0]!.id;
      // Now a larger image, so that the scheduled backup is still writing when radosgw is killed.
      const imagePath = join(dataDir, `${disk.id}.img`);
      writeFileSync(imagePath, randomBytes(96 * MiB));

      const instant = await dueSoon(policy.id);
      startScheduler({ storeRetryFirstSeconds: 1, storeRetryMaxSeconds: 2, storeRetryTries: 8 });
      const running = await waitFor(runtime, 'the scheduled run to be running', async () => {
        const row = await runtime.store.db.selectFrom('backup_runs').selectAll().where('policy_id', '=', policy.id).where('scheduled_at', '=', instant).executeTakeFirst();
        return row?.status === 'running' ? row : undefined;
      });
      let radosgwDown = true;
      try {
        await stopRadosgw({ kill: true });
        // Not failed: set aside, saying why and when it is tried next (through the run listing too).
        const waiting = await waitFor(runtime, 'the run to wait for the store', async () => {
          const row = await runOf(runtime, running.id);
          assert.notEqual(row.status, 'failed', `recorded failed at once: ${row.error}`);
          return WAITING.test(row.error ?? '') ? row : undefined;
        });
        assert.notEqual(waiting.lease_expires_at, null, 'still unfinished');
        assert.equal((waiting.error ?? '').split('\n').length, 1);
        const [listed] = await runtime.services.runs.list({ policyId: policy.id, limit: 1 });
        assert.equal(listed?.id, running.id);
        assert.match(String(listed?.error), WAITING);

        // radosgw stays down through a further try or two, then comes back.
        await sleep(1500);
        await startRadosgw();
        radosgwDown = false;
      } finally {
        if (radosgwDown) await startRadosgw();
      }
      // The last note seen before the try that succeeded: that try began no sooner than it said.
      let lastNote = '';
      const finished = await waitFor(runtime, 'the retried run to finish', async () => {
        const row = await runOf(runtime, running.id);
        if (row.lease_expires_at !== null) {
          if (WAITING.test(row.error ?? '')) lastNote = row.error!;
          return undefined;
        }
        return row;
      }, 120_000);
      assert.equal(finished.status, 'succeeded', String(finished.error));
      assert.equal(finished.error, null);
      const [, , , notBefore] = WAITING.exec(lastNote) ?? [];
      assert.ok(notBefore, `a waiting note was seen: ${lastNote}`);
      assert.ok(finished.started_at! >= Date.parse(notBefore) / 1000, `tried at ${finished.started_at}, before ${notBefore}`);

      const runs = await runtime.store.db.selectFrom('backup_runs').selectAll().where('policy_id', '=', policy.id).where('scheduled_at', '=', instant).execute();
      assert.equal(runs.length, 1, 'one run for the instant');
      const backups = await runtime.store.db.selectFrom('backups').selectAll().where('run_id', '=', running.id).execute();
      assert.equal(backups.length, 1, 'one backup for the instant');

      const report = await engine.verify();
      assert.equal(report.ok, true, JSON.stringify(report));
      const target = join(dataDir, 'restored');
      await engine.restoreToPath(earlierBackup, target);
      assert.equal(sha256(readFileSync(target)), sha256(earlierBytes));
      assert.deepEqual(await s3LockObjects(location), [], 'no lock object is left');
      await scheduler!.stop();
      scheduler = undefined;
    });

    test('radosgw down longer than the tries allowed: recorded failed with a one-line error; a manual run fails at once', async () => {
      const { policy } = await policyOnNewDisk(randomBytes(MiB));
      let radosgwDown = true;
      try {
        await stopRadosgw({ kill: true });
        const manual = await engine.runPolicyNow(policy.id);
        assert.equal(manual.result.status, 'failed');
        assert.match(String(manual.result.error), /^repository store unreachable: .*(ECONNREFUSED|refused)/);
        assert.equal(String(manual.result.error).split('\n').length, 1);
        assert.equal((await runOf(runtime, manual.runId)).status, 'failed', 'recorded failed at once');
        // Through the extension API: 503 repository_unavailable, naming the run recorded as failed.
        const server = await startServer(runtime, { host: '127.0.0.1', port: 0, logger: false, backups: engine });
        try {
          const { secret } = await runtime.services.tokens.create({ organizationId: policy.organization_id, name: 'outage' });
          const response = await fetch(`${server.url}/ext/v1/disk_backup_policies/${policy.id}/run`, { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
          const body = (await response.json()) as { error: { code: string; detail: { repository_error: string; details: string } } };
          assert.equal(response.status, 503, JSON.stringify(body));
          assert.equal(body.error.code, 'repository_unavailable');
          assert.equal(body.error.detail.repository_error, 'store_unavailable');
          assert.match(body.error.detail.details, /^repository store unreachable: .*; run run_\w+ is recorded as failed$/);
        } finally {
          await server.stop();
        }

        const instant = await dueSoon(policy.id);
        startScheduler({ storeRetryFirstSeconds: 1, storeRetryMaxSeconds: 1, storeRetryTries: 3 });
        const failed = await waitFor(runtime, 'the run to be failed', async () => {
          const row = await runtime.store.db.selectFrom('backup_runs').selectAll().where('policy_id', '=', policy.id).where('scheduled_at', '=', instant).executeTakeFirst();
          return row?.lease_expires_at === null ? row : undefined;
        });
        assert.equal(failed.status, 'failed');
        assert.match(String(failed.error), /^repository store unreachable \(3 tries, none left\): .*(ECONNREFUSED|refused)/);
        assert.equal(String(failed.error).split('\n').length, 1);
      } finally {
        if (radosgwDown) await startRadosgw();
        radosgwDown = false;
      }
    });
  });
});
