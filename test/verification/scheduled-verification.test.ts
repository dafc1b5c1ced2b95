/**
 * Scheduled verification (issue 19, part 3) on a real repository and a real catalogue (SQLite, and
 * PostgreSQL when TEST_DATABASE_URL is set): a backup whose pack is damaged on disk is found within
 * its period — failed in the catalogue, in /ext/v1 and in /metrics, with the verify-failed webhook
 * event — while a healthy one is verified
 * ok; a backup is not verified again before its period has passed (the clock is the test's, so no
 * long sleeps); verifications never run back to back beyond the share; two workers never verify one
 * backup at once, and a lease taken over stays the new holder's; stop() is prompt.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openBackupEngine, type BackupEngine } from '../../src/engine/index.js';
import type { Runtime } from '../../src/runtime.js';
import { claimNextVerification, releaseVerificationClaim, renewVerificationClaim } from '../../src/verification/claims.js';
import { verificationSchedulerFor, type ScheduledVerification, type VerificationScheduler, type VerificationSettings } from '../../src/verification/index.js';
import { forEachEngine, TEST_NOW, TEST_REPOSITORY_PASSWORD, TestService, type TestOrganization } from '../support/harness.js';
import { corruptChunks } from '../support/repository-damage.js';

const PERIOD_SECONDS = 3600;
const SHARE = 0.25;
/** Tiny polls: the test's clock decides what is due, the loop only needs to look often. */
const FAST: Partial<VerificationSettings> = { everySeconds: PERIOD_SECONDS, maxShare: SHARE, minPollMs: 5, maxPollMs: 30 };

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

forEachEngine('scheduled verification', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let damagedId: string;
  let healthyId: string;
  let damagedPolicy: string;
  const running: VerificationScheduler[] = [];

  const startScheduler = (runtime: Runtime, verifier: BackupEngine, seen: ScheduledVerification[], settings = FAST) => {
    const scheduler = verificationSchedulerFor(runtime, verifier, { logger: false, settings, onVerified: (v) => seen.push(v) });
    running.push(scheduler);
    scheduler.start();
    return scheduler;
  };
  const backupRow = (id: string) => service.runtime.store.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const extBackups = async (policyId: string) => {
    const result = await service.call('GET', `/ext/v1/disk_backup_policies/${policyId}/backups`, { token: org.token });
    assert.equal(result.status, 200, result.text);
    return result.body.backups as { id: string; last_verification: null | { verified_at: number; outcome: string; detail: string; bytes_checked: number } }[];
  };
  const backUp = async (name: string) => {
    const imagePath = join(service.dataDir, `${name}.img`);
    writeFileSync(imagePath, randomBytes(1024 * 1024));
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name, sizeInGb: 1, imagePath });
    const policyId = (await service.createPolicy(org.token, disk.id)).id as string;
    const { result } = await service.backupEngine!.runPolicyNow(policyId);
    assert.equal(result.status, 'succeeded', result.error ?? '');
    return { policyId, backupId: result.backups[0]!.id };
  };

  before(async () => {
    service = await TestService.start(engine, { backupEngine: true });
    org = await service.createOrganization('Verify');
    // The first backup's packs are damaged before the second is taken: only the first is affected.
    ({ policyId: damagedPolicy, backupId: damagedId } = await backUp('damaged'));
    assert.ok((await corruptChunks(service.backupEngine!.repository)) > 0);
    ({ backupId: healthyId } = await backUp('healthy'));
    // A webhook (never delivered here: no dispatcher runs) so that verify.failed events are written to its outbox.
    await service.services.webhooks.create({ organizationId: org.id, url: 'http://127.0.0.1:9/hook', secret: 'a shared secret of the test' });
  });
  after(async () => {
    for (const scheduler of running) await scheduler.stop();
    await service.stop();
  });

  test('never-verified backups first: the damaged one is failed in the catalogue, /ext/v1 and /metrics; the healthy one ok', async () => {
    const before = await extBackups(damagedPolicy);
    assert.equal(before[0]!.last_verification, null, 'never verified yet');
    const metricsBefore = (await service.call('GET', '/metrics')).text;
    assert.equal(sample(metricsBefore, 'dbp_backups_verify_failed'), 0);
    assert.equal(sample(metricsBefore, 'dbp_backup_last_verification_timestamp_seconds'), 0, '0 while nothing was verified');

    const seen: ScheduledVerification[] = [];
    const scheduler = startScheduler(service.runtime, service.backupEngine!, seen);
    await waitFor('both backups verified', () => seen.length >= 2);
    assert.deepEqual(seen.map((v) => [v.backupId, v.outcome]), [[damagedId, 'failed'], [healthyId, 'ok']], 'oldest row first, each once');

    const damaged = await backupRow(damagedId);
    assert.equal(damaged.verify_outcome, 'failed');
    assert.equal(damaged.verified_at, TEST_NOW);
    assert.match(damaged.verify_detail ?? '', /bad chunk/);
    assert.equal(damaged.verify_claimed_until, null, 'the claim is let go');
    const healthy = await backupRow(healthyId);
    assert.equal(healthy.verify_outcome, 'ok');
    assert.equal(healthy.verify_bytes, 1024 * 1024, 'every byte of the image read');

    const [listed] = await extBackups(damagedPolicy);
    assert.equal(listed!.last_verification?.outcome, 'failed');
    assert.equal(listed!.last_verification?.verified_at, TEST_NOW);
    assert.match(listed!.last_verification?.detail ?? '', /bad chunk/);

    // The scheduled verification raised the verify-failed notification (the engine's, as for dbp verify), naming the damaged backup only.
    const events = await service.runtime.store.db.selectFrom('webhook_deliveries').select(['event_type', 'body']).execute();
    assert.deepEqual(events.map((e) => e.event_type), ['verify.failed']);
    assert.deepEqual(JSON.parse(events[0]!.body).data.backups.map((b: { id: string }) => b.id), [damagedId]);

    const metrics = (await service.call('GET', '/metrics')).text;
    assert.equal(sample(metrics, 'dbp_backups_verify_failed'), 1);
    assert.equal(sample(metrics, 'dbp_backup_last_verification_timestamp_seconds'), TEST_NOW);
    assert.ok((sample(metrics, 'dbp_backup_verifications_total{outcome="failed"}') ?? 0) >= 1);

    // Within the period nothing is verified again, however often the loop looks.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(seen.length, 2, 'not again before the period has passed');

    // Once the period has passed, each is verified again: the damage is still reported.
    service.clock.advance(PERIOD_SECONDS);
    await waitFor('the second round', () => seen.length >= 4);
    assert.deepEqual(seen.slice(2).map((v) => [v.backupId, v.outcome]), [[damagedId, 'failed'], [healthyId, 'ok']]);
    assert.equal((await backupRow(damagedId)).verified_at, TEST_NOW + PERIOD_SECONDS);

    // The share: after t seconds of verification, at least t·(1−share)/share of rest (1 ms: timer granularity).
    for (let i = 1; i < seen.length; i += 1) {
      const previous = seen[i - 1]!;
      const rest = seen[i]!.startedMs - previous.endedMs;
      const owed = ((previous.endedMs - previous.startedMs) * (1 - SHARE)) / SHARE;
      assert.ok(rest >= owed - 1, `verification ${i} started ${rest.toFixed(1)} ms after the previous ended; ${owed.toFixed(1)} ms were owed`);
    }
    await scheduler.stop();
  });

  test('two workers on one catalogue never verify the same backup at once, and share the work', async () => {
    service.clock.advance(PERIOD_SECONDS);
    const other = await service.openAnotherConnection();
    const otherEngine = await openBackupEngine(other, { dataDir: service.dataDir, password: TEST_REPOSITORY_PASSWORD, workers: 1 });
    try {
      // A held claim keeps the backup from the other worker; the next claim takes the other backup.
      const first = await claimNextVerification(service.runtime.store.db, engine, { now: service.clock.now(), everySeconds: PERIOD_SECONDS, leaseSeconds: 60 });
      const second = await claimNextVerification(other.store.db, engine, { now: service.clock.now(), everySeconds: PERIOD_SECONDS, leaseSeconds: 60 });
      const third = await claimNextVerification(other.store.db, engine, { now: service.clock.now(), everySeconds: PERIOD_SECONDS, leaseSeconds: 60 });
      assert.deepEqual([first?.backupId, second?.backupId, third], [damagedId, healthyId, null]);
      // A lease that ran out is taken over; the old holder can then neither extend nor give back the new one's.
      service.clock.advance(61);
      const takeover = await claimNextVerification(other.store.db, engine, { now: service.clock.now(), everySeconds: PERIOD_SECONDS, leaseSeconds: 60 });
      assert.equal(takeover?.backupId, damagedId);
      assert.equal(await renewVerificationClaim(service.runtime.store.db, first!, service.clock.now() + 60), false);
      await releaseVerificationClaim(service.runtime.store.db, first!);
      assert.equal((await backupRow(damagedId)).verify_claimed_until, takeover!.claimedUntil, "the new holder's claim stands");
      await service.runtime.store.db.updateTable('backups').set({ verify_claimed_until: null }).execute();

      // Both workers loop at once, each verifying slowly enough to overlap the other.
      const seen: ScheduledVerification[] = [];
      const active = new Set<string>();
      let overlaps = 0;
      const slow = (verifier: BackupEngine) =>
        ({
          async verify(id: string, progress: undefined, signal?: AbortSignal) {
            if (active.has(id)) overlaps += 1;
            active.add(id);
            try {
              await new Promise((resolve) => setTimeout(resolve, 100));
              return await verifier.verify(id, progress, signal);
            } finally {
              active.delete(id);
            }
          },
        }) as unknown as BackupEngine;
      const a = startScheduler(service.runtime, slow(service.backupEngine!), seen, { ...FAST, maxShare: 1 });
      const b = startScheduler(other, slow(otherEngine), seen, { ...FAST, maxShare: 1 });
      await waitFor('both backups verified once more', () => seen.length >= 2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await Promise.all([a.stop(), b.stop()]);
      assert.equal(overlaps, 0, 'no backup verified by two workers at once');
      assert.deepEqual(seen.map((v) => v.backupId).sort(), [damagedId, healthyId].sort(), 'each backup exactly once in the period');
    } finally {
      await otherEngine.close();
      await other.close();
    }
  });

  test('stop() is prompt: a verification in progress is abandoned and its claim given back', async () => {
    service.clock.advance(PERIOD_SECONDS);
    let started = false;
    const stuck = {
      verify: (_id: string, _progress: undefined, signal?: AbortSignal) =>
        new Promise<never>((_resolve, reject) => {
          started = true;
          signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        }),
    } as unknown as BackupEngine;
    const scheduler = startScheduler(service.runtime, stuck, []);
    await waitFor('a verification to start', () => started);
    const t0 = performance.now();
    await scheduler.stop();
    assert.ok(performance.now() - t0 < 1000, 'stopped within a second');
    const rows = await service.runtime.store.db.selectFrom('backups').select(['id', 'verify_claimed_until']).execute();
    assert.deepEqual(rows.map((row) => row.verify_claimed_until), [null, null], 'no claim left behind');
  });
});
