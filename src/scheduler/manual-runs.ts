/**
 * Manual runs (`dbp policy run P`, the engine's `runPolicyNow`), kept by the same rules as the
 * scheduler's:
 * - one run of a policy at a time: a manual run is refused while the policy has an unfinished run
 *   (claimed, waiting or running, scheduled or manual), checked and inserted in one write
 *   transaction that locks the policy's row (the scheduler's claims lock it too);
 * - a short lease (`DEFAULT_MANUAL_LEASE_SECONDS`), renewed while the run works: when its process
 *   dies (kill -9) the lease expires within a minute and the run is finished as failed — by the
 *   scheduler's next look at expired leases, or by the next manual run of the policy — which frees
 *   the policy for its next instant. A manual run is never retried: it stood for "now", which is gone.
 */
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { newId, randomToken } from '../domain/ids.js';
import type { Engine } from '../store/database.js';
import type { Database } from '../store/schema.js';
import { writeTransaction } from '../store/write-transaction.js';
import { recordEvents, runFactsOf, runFailedEvent } from '../webhooks/events.js';

/** Every manual run's `worker_id` is this, or starts with it and a slash. */
export const MANUAL_WORKER = 'run-now';
export const DEFAULT_MANUAL_LEASE_SECONDS = 60;
/** The error of a manual run whose process stopped without finishing it. */
export const MANUAL_RUN_ABANDONED = 'the process running it stopped before finishing it (its lease expired)';

export function isManualWorker(workerId: string | null): boolean {
  return workerId === MANUAL_WORKER || (workerId?.startsWith(`${MANUAL_WORKER}/`) ?? false);
}

export class RunInProgress extends Error {
  constructor(
    readonly policyId: string,
    readonly runId: string,
  ) {
    super(`policy ${policyId} already has a run in progress: ${runId}`);
  }
}

export interface ManualRun {
  readonly id: string;
  readonly workerId: string;
  readonly scheduledAt: number;
}

/**
 * Inserts a running manual run of the policy, or throws `RunInProgress` naming the unfinished run
 * the policy already has. A manual run of the policy whose lease expired is finished as failed first.
 */
export async function startManualRun(
  db: Kysely<Database>,
  engine: Engine,
  policy: { id: string; organizationId: string; targetDiskIds: readonly string[] },
  now: number,
  leaseSeconds: number,
): Promise<ManualRun> {
  const workerId = `${MANUAL_WORKER}/${hostname()}/${process.pid}/${randomToken(6)}`;
  return writeTransaction(db, engine, async (trx) => {
    // PostgreSQL: the policy's row lock orders this against other manual runs and against claims.
    if (engine === 'postgres') await trx.selectFrom('disk_backup_policies').select('id').where('id', '=', policy.id).forUpdate().execute();
    const unfinished = await trx
      .selectFrom('backup_runs')
      .select(['id', 'worker_id', 'lease_expires_at'])
      .where('policy_id', '=', policy.id)
      .where('lease_expires_at', 'is not', null)
      .orderBy('scheduled_at')
      .execute();
    for (const run of unfinished) {
      if (isManualWorker(run.worker_id) && Number(run.lease_expires_at) <= now) {
        const failed = await trx
          .updateTable('backup_runs')
          .set({ status: 'failed', error: MANUAL_RUN_ABANDONED, finished_at: now, lease_expires_at: null })
          .where('id', '=', run.id)
          .where('lease_expires_at', 'is not', null)
          .returningAll()
          .execute();
        await recordEvents(trx, failed.map((row) => runFailedEvent(runFactsOf(row, true))));
        continue;
      }
      throw new RunInProgress(policy.id, run.id);
    }
    const id = newId('backupRun');
    // One run per policy and instant: a manual run in a second that already has one takes the next free second.
    let scheduledAt = now;
    for (;;) {
      const inserted = await trx
        .insertInto('backup_runs')
        .values({
          id,
          policy_id: policy.id,
          organization_id: policy.organizationId,
          target_disk_ids: JSON.stringify(policy.targetDiskIds),
          scheduled_at: scheduledAt,
          claimed_at: now,
          lease_expires_at: now + leaseSeconds,
          worker_id: workerId,
          started_at: now,
          status: 'running',
          attempts: 1,
        })
        .onConflict((oc) => oc.columns(['policy_id', 'scheduled_at']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) break;
      scheduledAt += 1;
    }
    return { id, workerId, scheduledAt };
  });
}

/** Extends the manual run's lease; answers false when it is no longer this process's (finished by another). */
export async function renewManualRun(db: Kysely<Database>, run: ManualRun, until: number): Promise<boolean> {
  const result = await db
    .updateTable('backup_runs')
    .set({ lease_expires_at: until })
    .where('id', '=', run.id)
    .where('worker_id', '=', run.workerId)
    .where('lease_expires_at', 'is not', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Records how the manual run ended (once; a run finished meanwhile by another process is left
 * alone). A failed run is recorded in one transaction with its run-failed webhook events.
 */
export async function finishManualRun(
  db: Kysely<Database>,
  engine: Engine,
  run: ManualRun,
  ending: { status: 'succeeded' | 'failed' | 'skipped'; error: string | null; liveRead: boolean; finishedAt: number },
): Promise<boolean> {
  const write = async (trx: Kysely<Database>) =>
    trx
      .updateTable('backup_runs')
      .set({ status: ending.status, error: ending.error, live_read: ending.liveRead ? 1 : 0, finished_at: ending.finishedAt, lease_expires_at: null })
      .where('id', '=', run.id)
      .where('worker_id', '=', run.workerId)
      .where('lease_expires_at', 'is not', null)
      .returningAll()
      .execute();
  if (ending.status !== 'failed') return (await write(db)).length > 0;
  return writeTransaction(db, engine, async (trx) => {
    const finished = await write(trx);
    await recordEvents(trx, finished.map((row) => runFailedEvent(runFactsOf(row, true))));
    return finished.length > 0;
  });
}
