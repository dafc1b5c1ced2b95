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
 *   attempt more each; runs out of attempts are finished as failed.
 */
import { sql, type Kysely } from 'kysely';
import { newId } from '../domain/ids.js';
import { nextInvocationAfter, resolveTimeZone, type ScheduleFields } from '../domain/schedule.js';
import { reference } from '../services/reference-data.js';
import type { Engine } from '../store/database.js';
import type { BackupRun, Database, DiskBackupPolicy } from '../store/schema.js';
import { writeTransaction } from '../store/write-transaction.js';
import { duePolicies } from './due-policies.js';
import type { ClaimedRun } from './runner.js';
import { isOneOf } from './sql-lists.js';

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
    // One table only: joining organizations here costs PostgreSQL more to plan than to run the claim.
    const policies = await duePolicies(trx, now, until)
      .select([
        'p.id', 'p.organization_id', 'p.target_type', 'p.target_id', 'p.schedule_interval', 'p.schedule_frequency',
        'p.schedule_time', 'p.schedule_minute', 'p.schedule_anchor_at', 'p.next_invocation_at',
      ])
      .orderBy('p.next_invocation_at')
      .limit(limit)
      .$if(engine === 'postgres', (query) => query.forUpdate().skipLocked())
      .execute();
    if (policies.length === 0) return nothing;

    const timeZones = await timeZonesOf(trx, engine, policies.map((p) => p.organization_id));
    const machineDisks = await disksOfMachines(
      trx,
      engine,
      policies.filter((p) => p.target_type === 'VirtualMachine').map((p) => p.target_id),
    );
    const inserted = await insertRuns(
      trx,
      engine,
      policies.map((policy) => ({
        id: newId('backupRun'),
        policyId: policy.id,
        organizationId: policy.organization_id,
        targetDiskIds: JSON.stringify(policy.target_type === 'Disk' ? [policy.target_id] : machineDisks.get(policy.target_id) ?? []),
        scheduledAt: policy.next_invocation_at,
      })),
      { claimedAt: now, leaseExpiresAt: until + leaseSeconds, workerId },
    );

    const unschedulable: DueClaim['unschedulable'] = [];
    const nextInstant = memoizedNextInvocation();
    const advances = policies.map((policy) => {
      // Past the instant claimed, and past now (after downtime the series resumes in the future).
      const after = Math.max(now, policy.next_invocation_at);
      try {
        const timeZone = timeZones.get(policy.organization_id) ?? 'UTC';
        return { id: policy.id, nextAt: nextInstant(policy, timeZone, after) };
      } catch (error) {
        unschedulable.push({ policyId: policy.id, error: (error as Error).message });
        return { id: policy.id, nextAt: after + UNSCHEDULABLE_RETRY_SECONDS };
      }
    });
    await advancePolicies(trx, engine, advances);
    return {
      runs: inserted.map(claimedRunOf),
      policies: policies.length,
      unschedulable,
      followingUnfinished: new Set(inserted.filter((row) => isTrue(row.follows_unfinished)).map((row) => row.id)),
    };
  });
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
  readonly abandoned: BackupRun[];
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
      .select(['id', 'attempts'])
      .where('lease_expires_at', '<=', now)
      .orderBy('lease_expires_at')
      .limit(limit)
      .$if(engine === 'postgres', (query) => query.forUpdate().skipLocked())
      .execute();
    if (expired.length === 0) return { runs: [], abandoned: [], followingUnfinished: new Set() };

    const exhausted = expired.filter((run) => run.attempts >= maxAttempts).map((run) => run.id);
    const retried = expired.filter((run) => run.attempts < maxAttempts).map((run) => run.id);
    const abandoned =
      exhausted.length === 0
        ? []
        : await trx
            .updateTable('backup_runs')
            .set({ status: 'failed', finished_at: now, lease_expires_at: null, error: `${LEASE_EXPIRED_ERROR} (${maxAttempts} attempts)` })
            .where(isOneOf(engine, 'id', exhausted))
            .returningAll()
            .execute();
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

type ClaimedRunRow = Pick<BackupRun, 'id' | 'policy_id' | 'organization_id' | 'target_disk_ids' | 'scheduled_at' | 'attempts'>;

export function claimedRunOf(row: ClaimedRunRow): ClaimedRun {
  return {
    id: row.id,
    policyId: row.policy_id,
    organizationId: row.organization_id,
    targetDiskIds: JSON.parse(row.target_disk_ids) as string[],
    scheduledAt: row.scheduled_at,
    attempt: row.attempts,
  };
}

/** Each organization's time zone: its country's (as everywhere else in the product), UTC when it has none. */
async function timeZonesOf(db: Kysely<Database>, engine: Engine, organizationIds: string[]): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('organizations')
    .select(['id', 'country_id'])
    .where(isOneOf(engine, 'id', [...new Set(organizationIds)]))
    .execute();
  return new Map(rows.map((row) => [row.id, resolveTimeZone(reference.country(row.country_id)?.time_zone)]));
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
 * Inserts claimed runs in one statement, skipping instants that already have a run; answers those
 * inserted. The rows travel as arrays (PostgreSQL) or one JSON document (SQLite): one parameter per
 * column or per batch rather than one per value, so a 500-row batch is parsed and bound quickly.
 */
async function insertRuns(
  db: Kysely<Database>,
  engine: Engine,
  runs: readonly NewRun[],
  claim: { claimedAt: number; leaseExpiresAt: number; workerId: string },
): Promise<(ClaimedRunRow & { follows_unfinished: boolean | number })[]> {
  const returned = sql`returning id, policy_id, organization_id, target_disk_ids, scheduled_at, attempts,
    ${followsUnfinishedRun('backup_runs')} as follows_unfinished`;
  const columns = sql`(id, policy_id, organization_id, target_disk_ids, scheduled_at, claimed_at, lease_expires_at, worker_id, status, attempts)`;
  const { rows } =
    engine === 'postgres'
      ? await sql<ClaimedRunRow & { follows_unfinished: boolean }>`
          insert into backup_runs ${columns}
          select r.id, r.policy_id, r.organization_id, r.target_disk_ids, r.scheduled_at,
                 ${claim.claimedAt}::bigint, ${claim.leaseExpiresAt}::bigint, ${claim.workerId}::text, 'claimed', 1
          from unnest(
            ${runs.map((r) => r.id)}::text[], ${runs.map((r) => r.policyId)}::text[], ${runs.map((r) => r.organizationId)}::text[],
            ${runs.map((r) => r.targetDiskIds)}::text[], ${runs.map((r) => r.scheduledAt)}::bigint[]
          ) as r(id, policy_id, organization_id, target_disk_ids, scheduled_at)
          on conflict (policy_id, scheduled_at) do nothing
          ${returned}`.execute(db)
      : await sql<ClaimedRunRow & { follows_unfinished: number }>`
          insert into backup_runs ${columns}
          select r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,
                 ${claim.claimedAt}, ${claim.leaseExpiresAt}, ${claim.workerId}, 'claimed', 1
          from json_each(${JSON.stringify(runs.map((r) => [r.id, r.policyId, r.organizationId, r.targetDiskIds, r.scheduledAt]))}) as r
          where true -- SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
          on conflict (policy_id, scheduled_at) do nothing
          ${returned}`.execute(db);
  return rows;
}

/** Sets each policy's `next_invocation_at` in one statement. */
async function advancePolicies(db: Kysely<Database>, engine: Engine, advances: { id: string; nextAt: number }[]): Promise<void> {
  if (engine === 'postgres') {
    await sql`
      update disk_backup_policies as p set next_invocation_at = a.next_at
      from unnest(${advances.map((a) => a.id)}::text[], ${advances.map((a) => a.nextAt)}::bigint[]) as a(id, next_at)
      where p.id = a.id`.execute(db);
  } else {
    await sql`
      update disk_backup_policies set next_invocation_at = a.value ->> 1
      from json_each(${JSON.stringify(advances.map((a) => [a.id, a.nextAt]))}) as a
      where disk_backup_policies.id = a.value ->> 0`.execute(db);
  }
}
