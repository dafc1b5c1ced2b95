/**
 * Writes to a claimed run by the worker that holds it. Every write is guarded by the run's owner
 * (`worker_id`) and, where it matters, its attempt, and only touches unfinished runs
 * (`lease_expires_at is not null`): a worker that lost its lease can no longer change the run, and a
 * finished run can never be started, renewed or finished again.
 */
import { sql, type Kysely } from 'kysely';
import type { Engine } from '../store/database.js';
import type { Database } from '../store/schema.js';
import { followsUnfinishedRun, isTrue } from './claims.js';
import type { ClaimedRun, RunResult } from './runner.js';
import { isOneOf, jsonRows } from './sql-lists.js';
import { writeTransaction } from '../store/write-transaction.js';
import { recordEvents, runFailedEvent, runSkippedEvent, type NewEvent, type RunFacts } from '../webhooks/events.js';

/** The error of a run skipped because the previous run of its policy had not finished by its instant. */
export const PREVIOUS_RUN_UNFINISHED = 'previous run still running';

/** Whether an earlier run of the run's policy is still unfinished (claimed or running). */
export async function followsUnfinished(db: Kysely<Database>, runId: string): Promise<boolean> {
  const row = await db
    .selectFrom('backup_runs as run')
    .select(followsUnfinishedRun('run').as('follows'))
    .where('run.id', '=', runId)
    .executeTakeFirst();
  return isTrue(row?.follows);
}

/**
 * Records that runs are running (their runners are already going), each with its own start;
 * answers the ids this worker still held (the others were lost). A finished run is left alone.
 */
export async function markRunning(
  db: Kysely<Database>,
  engine: Engine,
  starts: readonly { id: string; startedAt: number }[],
  workerId: string,
): Promise<Set<string>> {
  if (starts.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    update backup_runs set status = 'running', started_at = cast(s.value ->> 1 as bigint)
    from ${jsonRows(engine, starts.map((s) => [s.id, s.startedAt]), 's')}
    where backup_runs.id = s.value ->> 0 and backup_runs.worker_id = ${workerId}
      and backup_runs.status = 'claimed' and backup_runs.lease_expires_at is not null
    returning backup_runs.id`.execute(db);
  return new Set(rows.map((row) => row.id));
}

export interface RunEnding {
  readonly run: ClaimedRun;
  readonly result: RunResult;
  readonly startedAt: number;
  readonly finishedAt: number;
}

/**
 * Records how runs ended, in one statement; answers the ids recorded. A run this worker no longer
 * held (in that attempt) is left as it is. A batch with a failed or skipped run writes it in one
 * transaction with the webhook events of the runs recorded (run failed, run missed), so an ending is
 * recorded exactly when its events are; a batch of successes stays one statement.
 */
export async function finishRuns(db: Kysely<Database>, engine: Engine, endings: readonly RunEnding[], workerId: string): Promise<Set<string>> {
  if (endings.length === 0) return new Set();
  if (endings.every((ending) => ending.result.status === 'succeeded')) return writeEndings(db, engine, endings, workerId);
  return writeTransaction(db, engine, async (trx) => {
    const recorded = await writeEndings(trx, engine, endings, workerId);
    await recordEvents(trx, endings.filter((ending) => recorded.has(ending.run.id)).flatMap(endingEvents));
    return recorded;
  });
}

async function writeEndings(db: Kysely<Database>, engine: Engine, endings: readonly RunEnding[], workerId: string): Promise<Set<string>> {
  const { rows } = await sql<{ id: string }>`
    update backup_runs
    set status = f.value ->> 1, error = f.value ->> 2, started_at = coalesce(backup_runs.started_at, cast(f.value ->> 4 as bigint)),
        finished_at = cast(f.value ->> 5 as bigint), live_read = cast(f.value ->> 6 as integer), lease_expires_at = null
    from ${jsonRows(engine, endings.map((e) => [e.run.id, e.result.status, e.result.error ?? null, e.run.attempt, e.startedAt, e.finishedAt, e.result.liveRead ? 1 : 0]), 'f')}
    where backup_runs.id = f.value ->> 0 and backup_runs.attempts = cast(f.value ->> 3 as integer)
      and backup_runs.worker_id = ${workerId} and backup_runs.lease_expires_at is not null
    returning backup_runs.id`.execute(db);
  return new Set(rows.map((row) => row.id));
}

/** The webhook events of a scheduled run's ending: failed → run failed; skipped → run missed. */
function endingEvents({ run, result, startedAt, finishedAt }: RunEnding): NewEvent[] {
  const facts: RunFacts = {
    id: run.id,
    policyId: run.policyId,
    organizationId: run.organizationId,
    diskIds: run.targetDiskIds,
    scheduledAt: run.scheduledAt,
    startedAt: result.status === 'skipped' ? null : startedAt,
    finishedAt,
    attempts: run.attempt,
    manual: false,
    error: result.error ?? null,
  };
  if (result.status === 'failed') return [runFailedEvent(facts)];
  if (result.status === 'skipped') return [runSkippedEvent(facts)];
  return [];
}

/** Records how one run ended; answers false when this worker no longer held it (nothing written). */
export async function finishRun(db: Kysely<Database>, engine: Engine, ending: RunEnding, workerId: string): Promise<boolean> {
  return (await finishRuns(db, engine, [ending], workerId)).has(ending.run.id);
}

/** Extends the leases of the runs this worker holds; answers the ids it still held. */
export async function renewLeases(db: Kysely<Database>, engine: Engine, ids: readonly string[], workerId: string, until: number): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .updateTable('backup_runs')
    .set({ lease_expires_at: until })
    .where(isOneOf(engine, 'id', ids))
    .where('worker_id', '=', workerId)
    .where('lease_expires_at', 'is not', null)
    .returning('id')
    .execute();
  return new Set(rows.map((row) => row.id));
}

/**
 * Gives runs back for another worker to take at once (a stopping worker): their lease ends now.
 * A run that never started gives its attempt back too, so the next claim does not count it.
 */
export async function releaseRuns(
  db: Kysely<Database>,
  engine: Engine,
  runs: readonly { id: string; started: boolean }[],
  workerId: string,
  now: number,
): Promise<void> {
  if (runs.length === 0) return;
  const unstarted = runs.filter((run) => !run.started).map((run) => run.id);
  await db
    .updateTable('backup_runs')
    .set((eb) => ({
      lease_expires_at: now,
      attempts: eb.case().when(isOneOf(engine, 'id', unstarted)).then(eb('attempts', '-', 1)).else(eb.ref('attempts')).end(),
    }))
    .where(isOneOf(engine, 'id', runs.map((run) => run.id)))
    .where('worker_id', '=', workerId)
    .where('lease_expires_at', 'is not', null)
    .execute();
}

/**
 * Gives a run back to be tried again at once, after a transient database error cut it short (not
 * the run's fault): its lease ends now, the attempt is given back (a database outage never uses up
 * a run's attempts), and the error is noted so that the next attempt knows it resumes a run that
 * may already have taken some of its backups. Answers false when this worker no longer held it.
 */
export function releaseForRetry(
  db: Kysely<Database>,
  run: { id: string; attempt: number },
  workerId: string,
  now: number,
  error: string,
): Promise<boolean> {
  return giveBack(db, run, workerId, { lease_expires_at: now, error: `${RETRY_AFTER_TRANSIENT_ERROR}: ${error}` });
}

/** The start of the `error` of an unfinished run given back after a transient database error. */
export const RETRY_AFTER_TRANSIENT_ERROR = 'to be retried after a database error';

/**
 * Puts a run aside to be tried again not before `notBefore`, after the repository's store was
 * unreachable (store-outage.ts): its lease ends then (`lease_expires_at` is the "not before"; the
 * expired-lease claim takes it again, on any worker), it belongs to no worker meanwhile (so that no
 * worker takes it in hand before then), its attempt is given back (an outage does not use up the
 * attempts kept for workers that die) and `error` says what happened and when it is tried next.
 * Answers false when this worker no longer held it.
 */
export function setAsideUntil(
  db: Kysely<Database>,
  run: { id: string; attempt: number },
  workerId: string,
  notBefore: number,
  error: string,
): Promise<boolean> {
  return giveBack(db, run, workerId, { lease_expires_at: notBefore, worker_id: null, error });
}

/**
 * Ends this worker's hold on an unfinished run (in the attempt it holds) so that the expired-lease
 * claim takes it again from `lease_expires_at`, giving its attempt back and noting `error`. Answers
 * false when this worker no longer held it.
 */
async function giveBack(
  db: Kysely<Database>,
  run: { id: string; attempt: number },
  workerId: string,
  changes: { lease_expires_at: number; error: string; worker_id?: null },
): Promise<boolean> {
  const result = await db
    .updateTable('backup_runs')
    .set((eb) => ({ ...changes, attempts: eb('attempts', '-', 1), status: 'claimed' }))
    .where('id', '=', run.id)
    .where('attempts', '=', run.attempt)
    .where('worker_id', '=', workerId)
    .where('lease_expires_at', 'is not', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** The run's `error` so far and its policy's next instant (null when the policy is gone). */
export async function outageFacts(db: Kysely<Database>, runId: string): Promise<{ error: string | null; nextInvocationAt: number | null } | undefined> {
  const row = await db
    .selectFrom('backup_runs as run')
    .leftJoin('disk_backup_policies as policy', 'policy.id', 'run.policy_id')
    .select(['run.error as error', 'policy.next_invocation_at as next_invocation_at'])
    .where('run.id', '=', runId)
    .executeTakeFirst();
  return row && { error: row.error, nextInvocationAt: row.next_invocation_at === null ? null : Number(row.next_invocation_at) };
}
