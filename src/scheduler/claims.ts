/**
 * Claiming work, each batch in one write transaction:
 *
 * - `claimDueRuns`: selects policies due by `until` (now, or a few seconds later when the worker
 *   claims ahead; PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers take disjoint batches;
 *   SQLite: `BEGIN IMMEDIATE` makes the transaction the only writer), inserts one run per policy for
 *   its `next_invocation_at` (`ON CONFLICT (policy_id, scheduled_at) DO NOTHING`), and advances each
 *   policy's `next_invocation_at` to the first instant of its series after both now and the instant
 *   claimed — all or nothing, so an instant is claimed exactly when its policy moves past it. Each
 *   run learns whether an earlier run of its policy was still unfinished (see `followingUnfinished`).
 * - `reclaimExpiredRuns`: takes over unfinished runs whose lease expired (their worker died), one
 *   attempt more each; runs out of attempts are finished as failed, and so are manual runs (see
 *   manual-runs.ts: they are never retried).
 */
import { sql, type Kysely } from 'kysely';
import { newTimeOrderedId } from '../domain/ids.js';
import { nextInvocationAfter, resolveTimeZone, type ScheduleFields } from '../domain/schedule.js';
import { reference } from '../services/reference-data.js';
import type { Engine } from '../store/database.js';
import type { BackupRunRow, Database, DiskBackupPolicy } from '../store/schema.js';
import { writeTransaction } from '../store/write-transaction.js';
import { duePolicies } from './due-policies.js';
import type { ClaimedRun } from './runner.js';
import { isManualWorker, MANUAL_RUN_ABANDONED } from './manual-runs.js';
import { isOneOf, jsonRows } from './sql-lists.js';
import { instantsMissedEvent, MAX_MISSED_LISTED, recordEvents, runFactsOf, runFailedEvent, type NewEvent } from '../webhooks/events.js';

export interface ClaimOptions {
  readonly now: number;
  /**
   * Claim instants up to this one (≥ now; default now): a worker claims a few seconds ahead so that
   * its runs start on their instant. The lease covers the wait (it ends `leaseSeconds` after `until`).
   */
  readonly until?: number;
  /** At most this many policies (or runs) in the batch. */
  readonly limit: number;
  readonly workerId: string;
  readonly leaseSeconds: number;
}

export interface DueClaim {
  /** The runs inserted (a policy whose instant already had a run gets none, but still advances). */
  readonly runs: ClaimedRun[];
  /** How many policies the batch took; equal to the limit means more may be due. */
  readonly policies: number;
  /** Policies whose next instant could not be computed; they were moved an hour on instead. */
  readonly unschedulable: { policyId: string; error: string }[];
  /**
   * Ids of the runs whose policy had an earlier run still unfinished at the claim. Such a run must
   * look again at its instant: while that earlier run is unfinished it is skipped, not started.
   */
  readonly followingUnfinished: ReadonlySet<string>;
}

/** When a policy's next instant cannot be computed (never expected), it is tried again this much later. */
const UNSCHEDULABLE_RETRY_SECONDS = 3600;

export async function claimDueRuns(db: Kysely<Database>, engine: Engine, options: ClaimOptions): Promise<DueClaim> {
  const { now, limit, workerId, leaseSeconds } = options;
  const until = Math.max(now, options.until ?? now);
  const nothing: DueClaim = { runs: [], policies: 0, unschedulable: [], followingUnfinished: new Set() };
  if (limit <= 0) return nothing;
  return writeTransaction(db, engine, async (trx) => {
    // The organization's country as a subquery per row, not a join: a join costs PostgreSQL more to
    // plan than the claim costs to run.
    const policies = await duePolicies(trx, now, until)
      .select((eb) => [
        'p.id', 'p.organization_id', 'p.target_type', 'p.target_id', 'p.schedule_interval', 'p.schedule_frequency',
        'p.schedule_time', 'p.schedule_minute', 'p.schedule_anchor_at', 'p.next_invocation_at',
        eb.selectFrom('organizations as o').select('o.country_id').whereRef('o.id', '=', 'p.organization_id').as('country_id'),
      ])
      .orderBy('p.next_invocation_at')
      .limit(limit)
      .$if(engine === 'postgres', (query) => query.forUpdate().skipLocked())
      .execute();
    if (policies.length === 0) return nothing;

    const machineDisks = await disksOfMachines(
      trx,
      engine,
      policies.filter((p) => p.target_type === 'VirtualMachine').map((p) => p.target_id),
    );
    const runs = policies.map((policy) => ({
      id: newTimeOrderedId('backupRun'),
      policyId: policy.id,
      organizationId: policy.organization_id,
      targetDiskIds: JSON.stringify(policy.target_type === 'Disk' ? [policy.target_id] : machineDisks.get(policy.target_id) ?? []),
      scheduledAt: policy.next_invocation_at,
    }));

    const unschedulable: DueClaim['unschedulable'] = [];
    const nextInstant = memoizedNextInvocation();
    const advances = policies.map((policy) => {
      // Past the instant claimed, and past now (after downtime the series resumes in the future).
      const after = Math.max(now, policy.next_invocation_at);
      try {
        return { id: policy.id, nextAt: nextInstant(policy, timeZoneOf(policy.country_id), after) };
      } catch (error) {
        unschedulable.push({ policyId: policy.id, error: (error as Error).message });
        return { id: policy.id, nextAt: after + UNSCHEDULABLE_RETRY_SECONDS };
      }
    });
    const inserted = await writeClaim(trx, engine, runs, advances, { claimedAt: now, leaseExpiresAt: until + leaseSeconds, workerId });
    await recordEvents(trx, missedInstantEvents(policies, runs, inserted, now, nextInstant));
    return {
      runs: inserted.map(claimedRunOf),
      policies: policies.length,
      unschedulable,
      followingUnfinished: new Set(inserted.filter((row) => isTrue(row.follows_unfinished)).map((row) => row.id)),
    };
  });
}

/**
 * `backup_run.missed` events of the policies a claim finds overdue: after an outage (or a backlog)
 * the oldest overdue instant is run late, the series resumes after now, and the instants between
 * are never run. One event per such policy, listing them. A policy merely a little late (its next
 * instant after the overdue one is still ahead) has none; only overdue policies cost a look.
 */
function missedInstantEvents(
  policies: readonly (SchedulePolicyRow & { id: string; organization_id: string; next_invocation_at: number; country_id: string | null })[],
  runs: readonly NewRun[],
  inserted: readonly { id: string }[],
  now: number,
  nextInstant: (policy: SchedulePolicyRow, timeZone: string, after: number) => number,
): NewEvent[] {
  const events: NewEvent[] = [];
  const insertedIds = new Set(inserted.map((row) => row.id));
  policies.forEach((policy, index) => {
    if (policy.next_invocation_at >= now) return;
    const missed: number[] = [];
    let more = false;
    try {
      for (let at = nextInstant(policy, timeZoneOf(policy.country_id), policy.next_invocation_at); at <= now; at = nextInstant(policy, timeZoneOf(policy.country_id), at)) {
        if (missed.length === MAX_MISSED_LISTED) {
          more = true;
          break;
        }
        missed.push(at);
      }
    } catch {
      return; // unschedulable: reported by the claim itself
    }
    if (missed.length === 0) return;
    const runId = runs[index]!.id;
    events.push(instantsMissedEvent({ id: policy.id, organizationId: policy.organization_id }, missed, more, now, insertedIds.has(runId) ? runId : null));
  });
  return events;
}

type SchedulePolicyRow = Pick<
  DiskBackupPolicy,
  'schedule_interval' | 'schedule_frequency' | 'schedule_time' | 'schedule_minute' | 'schedule_anchor_at'
>;

/**
 * `nextInvocationAfter`, remembering its answers for one claim: a burst of due policies is mostly
 * a few schedules in a few time zones anchored at the same instant, and the time zone maths
 * (Intl formatting) is the dearest part of a claim's own work.
 */
function memoizedNextInvocation(): (policy: SchedulePolicyRow, timeZone: string, after: number) => number {
  const answers = new Map<string, number>();
  return (policy, timeZone, after) => {
    const key = `${policy.schedule_interval} ${policy.schedule_frequency} ${policy.schedule_time} ${policy.schedule_minute} ${timeZone} ${policy.schedule_anchor_at} ${after}`;
    let answer = answers.get(key);
    if (answer === undefined) {
      const schedule: ScheduleFields = {
        interval: policy.schedule_interval,
        frequency: policy.schedule_frequency,
        time: policy.schedule_time,
        minute: policy.schedule_minute,
      };
      answer = nextInvocationAfter(schedule, timeZone, policy.schedule_anchor_at, after);
      answers.set(key, answer);
    }
    return answer;
  };
}

/**
 * True for a run (alias `run`) whose policy has an earlier run not yet finished. One probe of the
 * `(policy_id, scheduled_at)` index per run.
 */
export function followsUnfinishedRun(run: string) {
  return sql<boolean | number>`exists (
    select 1 from backup_runs as earlier
    where earlier.policy_id = ${sql.ref(`${run}.policy_id`)} and earlier.scheduled_at < ${sql.ref(`${run}.scheduled_at`)}
      and earlier.lease_expires_at is not null)`;
}

/** PostgreSQL answers booleans, SQLite 1 or 0. */
export function isTrue(value: boolean | number | null | undefined): boolean {
  return value === true || value === 1;
}

export interface ExpiredClaim {
  /** Runs taken over by this worker, one attempt more. */
  readonly runs: ClaimedRun[];
  /** As in `DueClaim`: those of `runs` whose policy has an earlier run still unfinished. */
  readonly followingUnfinished: ReadonlySet<string>;
  /** Runs whose lease expired with no attempt left: now finished as failed. */
  readonly abandoned: BackupRunRow[];
}

export const LEASE_EXPIRED_ERROR = 'the workers that claimed it stopped before finishing it';

export async function reclaimExpiredRuns(
  db: Kysely<Database>,
  engine: Engine,
  options: ClaimOptions & { readonly maxAttempts: number },
): Promise<ExpiredClaim> {
  const { now, limit, workerId, leaseSeconds, maxAttempts } = options;
  if (limit <= 0) return { runs: [], abandoned: [], followingUnfinished: new Set() };
  return writeTransaction(db, engine, async (trx) => {
    const expired = await trx
      .selectFrom('backup_runs')
      .select(['id', 'attempts', 'worker_id'])
      .where('lease_expires_at', '<=', now)
      .orderBy('lease_expires_at')
      .limit(limit)
      .$if(engine === 'postgres', (query) => query.forUpdate().skipLocked())
      .execute();
    if (expired.length === 0) return { runs: [], abandoned: [], followingUnfinished: new Set() };

    const manual = expired.filter((run) => isManualWorker(run.worker_id)).map((run) => run.id);
    const scheduled = expired.filter((run) => !isManualWorker(run.worker_id));
    const exhausted = scheduled.filter((run) => run.attempts >= maxAttempts).map((run) => run.id);
    const retried = scheduled.filter((run) => run.attempts < maxAttempts).map((run) => run.id);
    const fail = async (ids: string[], error: string) =>
      ids.length === 0
        ? []
        : trx
            .updateTable('backup_runs')
            .set({ status: 'failed', finished_at: now, lease_expires_at: null, error })
            .where(isOneOf(engine, 'id', ids))
            .returningAll()
            .execute();
    const abandoned = [...(await fail(exhausted, `${LEASE_EXPIRED_ERROR} (${maxAttempts} attempts)`)), ...(await fail(manual, MANUAL_RUN_ABANDONED))];
    // Failed here, so announced here: in the transaction that fails them.
    await recordEvents(trx, abandoned.map((row) => runFailedEvent(runFactsOf(row, isManualWorker(row.worker_id)))));
    const runs =
      retried.length === 0
        ? []
        : await trx
            .updateTable('backup_runs')
            .set((eb) => ({
              attempts: eb('attempts', '+', 1),
              worker_id: workerId,
              claimed_at: now,
              lease_expires_at: now + leaseSeconds,
              status: 'claimed',
              started_at: null,
            }))
            .where(isOneOf(engine, 'id', retried))
            .returningAll()
            .returning(followsUnfinishedRun('backup_runs').as('follows_unfinished'))
            .execute();
    return {
      runs: runs.map(claimedRunOf),
      abandoned,
      followingUnfinished: new Set(runs.filter((run) => isTrue(run.follows_unfinished)).map((run) => run.id)),
    };
  });
}

type ClaimedRunRow = Pick<BackupRunRow, 'id' | 'policy_id' | 'organization_id' | 'target_disk_ids' | 'scheduled_at' | 'attempts'> & {
  readonly error?: string | null;
};

export function claimedRunOf(row: ClaimedRunRow): ClaimedRun {
  return {
    id: row.id,
    policyId: row.policy_id,
    organizationId: row.organization_id,
    targetDiskIds: JSON.parse(row.target_disk_ids) as string[],
    scheduledAt: row.scheduled_at,
    attempt: row.attempts,
    // An earlier attempt may have taken some of its backups: the runner looks for them first.
    resumed: row.attempts > 1 || (row.error ?? null) !== null,
  };
}

/** An organization's time zone: its country's (as everywhere else in the product), UTC when it has none. */
function timeZoneOf(countryId: string | null): string {
  return resolveTimeZone(reference.country(countryId)?.time_zone);
}

async function disksOfMachines(db: Kysely<Database>, engine: Engine, machineIds: string[]): Promise<Map<string, string[]>> {
  const disks = new Map<string, string[]>();
  if (machineIds.length === 0) return disks;
  const rows = await db
    .selectFrom('virtual_machine_disks')
    .select(['virtual_machine_id', 'disk_id'])
    .where(isOneOf(engine, 'virtual_machine_id', [...new Set(machineIds)]))
    .orderBy('disk_id')
    .execute();
  for (const row of rows) disks.set(row.virtual_machine_id, [...(disks.get(row.virtual_machine_id) ?? []), row.disk_id]);
  return disks;
}

interface NewRun {
  readonly id: string;
  readonly policyId: string;
  readonly organizationId: string;
  /** JSON text. */
  readonly targetDiskIds: string;
  readonly scheduledAt: number;
}

/**
 * Writes a claim: inserts the runs, skipping instants that already have a run (answering those
 * inserted), and sets each policy's `next_invocation_at`. The rows travel as one JSON document per
 * statement (one parameter, not one per value: quick to bind, and the statement's text is always
 * the same). On PostgreSQL both writes are one statement (a data-modifying WITH), one round trip.
 */
async function writeClaim(
  db: Kysely<Database>,
  engine: Engine,
  runs: readonly NewRun[],
  advances: readonly { id: string; nextAt: number }[],
  claim: { claimedAt: number; leaseExpiresAt: number; workerId: string },
): Promise<(ClaimedRunRow & { follows_unfinished: boolean | number })[]> {
  const advance = sql`
    update disk_backup_policies set next_invocation_at = cast(a.value ->> 1 as bigint)
    from ${jsonRows(engine, advances.map((a) => [a.id, a.nextAt]), 'a')}
    where disk_backup_policies.id = a.value ->> 0`;
  type Inserted = ClaimedRunRow & { follows_unfinished: boolean | number };
  const insert = sql<Inserted>`
    insert into backup_runs (id, policy_id, organization_id, target_disk_ids, scheduled_at, claimed_at, lease_expires_at, worker_id, status, attempts)
    select r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, cast(r.value ->> 4 as bigint),
           cast(${claim.claimedAt} as bigint), cast(${claim.leaseExpiresAt} as bigint), cast(${claim.workerId} as text), 'claimed', 1
    from ${jsonRows(engine, runs.map((r) => [r.id, r.policyId, r.organizationId, r.targetDiskIds, r.scheduledAt]), 'r')}
    where true -- SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
    on conflict (policy_id, scheduled_at) do nothing
    returning id, policy_id, organization_id, target_disk_ids, scheduled_at, attempts,
      ${followsUnfinishedRun('backup_runs')} as follows_unfinished`;
  if (engine === 'postgres') return (await sql<Inserted>`with advanced as (${advance}) ${insert}`.execute(db)).rows;
  await advance.execute(db);
  return (await insert.execute(db)).rows;
}

/**
 * Runs the database says this worker holds but the worker does not know of: a claim whose commit
 * reached the database while its answer was lost with the connection (the worker saw an error). The
 * worker takes them in hand again (renewing their leases), rather than leaving them to expire.
 */
export async function adoptLostClaims(
  db: Kysely<Database>,
  engine: Engine,
  options: { workerId: string; known: ReadonlySet<string>; now: number; leaseSeconds: number },
): Promise<ExpiredClaim['runs']> {
  const { workerId, known, now, leaseSeconds } = options;
  const mine = await db.selectFrom('backup_runs').select('id').where('worker_id', '=', workerId).where('lease_expires_at', 'is not', null).execute();
  const lost = mine.map((row) => row.id).filter((id) => !known.has(id));
  if (lost.length === 0) return [];
  const rows = await db
    .updateTable('backup_runs')
    .set({ lease_expires_at: now + leaseSeconds })
    .where(isOneOf(engine, 'id', lost))
    .where('worker_id', '=', workerId)
    .where('lease_expires_at', 'is not', null)
    .returningAll()
    .execute();
  return rows.map(claimedRunOf);
}
