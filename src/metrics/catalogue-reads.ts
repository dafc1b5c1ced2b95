/**
 * What /metrics reads from the catalogue at scrape time, so that every process (API or worker, any
 * number of them) reports the same values. Each read is one SQL statement; the per-policy read is
 * bounded by a limit, the totals (which scan whole tables) are read at most once a minute by the caller.
 */
import type { Kysely } from 'kysely';
import { schedulablePolicies, duePolicies } from '../scheduler/due-policies.js';
import type { Database, DiskBackupPolicy } from '../store/schema.js';

/** The scheduler's backlog at `now`. */
export interface QueueReading {
  /** Policies due and not yet claimed. */
  readonly due: number;
  /** Seconds since the earliest of those became due (0 when none is due). */
  readonly oldestDueSeconds: number;
  /** Runs a worker claimed that have not started yet (claimed ahead, or waiting for a runner slot). */
  readonly claimed: number;
}

export async function readQueue(db: Kysely<Database>, now: number): Promise<QueueReading> {
  const row = await db
    .selectNoFrom((eb) => [
      duePolicies(db, now).select((q) => q.fn.countAll<number | string>().as('n')).as('due'),
      duePolicies(db, now).select((q) => q.fn.min('p.next_invocation_at').as('t')).as('oldest'),
      // The lease-expiry index holds the unfinished runs only (finished ones have no lease).
      eb
        .selectFrom('backup_runs')
        .where('lease_expires_at', 'is not', null)
        .where('status', '=', 'claimed')
        .select((q) => q.fn.countAll<number | string>().as('n'))
        .as('claimed'),
    ])
    .executeTakeFirstOrThrow();
  const oldest = row.oldest === null ? null : Number(row.oldest);
  return {
    due: Number(row.due ?? 0),
    oldestDueSeconds: oldest === null ? 0 : Math.max(0, now - oldest),
    claimed: Number(row.claimed ?? 0),
  };
}

/** One policy as /metrics shows it. */
export interface PolicyReading {
  readonly id: string;
  /** Unix seconds the policy was made (an alert on a policy that never succeeded counts from here). */
  readonly createdAt: number;
  /** Unix seconds the newest succeeded run finished; null when none is on record. */
  readonly lastSuccessAt: number | null;
  /** Unix seconds the newest run started (whatever its outcome, finished or not); null when none. */
  readonly lastAttemptAt: number | null;
  readonly storedBytes: number;
  readonly intervalSeconds: number;
}

/**
 * The first `limit` live policies (oldest first, so a policy keeps its series as others come and
 * go) with their last success and attempt. Answers `limit + 1` rows at most: one more than the limit
 * tells the caller that some were left out, without counting the whole table.
 */
export async function readPolicies(db: Kysely<Database>, now: number, limit: number): Promise<PolicyReading[]> {
  const rows = await schedulablePolicies(db, now)
    .select(['p.id', 'p.created_at', 'p.total_size_bytes', 'p.schedule_interval', 'p.schedule_frequency'])
    // Both use the (policy_id, scheduled_at) unique index; runs are pruned to a few per policy.
    .select((eb) =>
      eb
        .selectFrom('backup_runs as r')
        .whereRef('r.policy_id', '=', 'p.id')
        .where('r.status', '=', 'succeeded')
        .select((q) => q.fn.max('r.finished_at').as('t'))
        .as('last_success'),
    )
    .select((eb) =>
      eb.selectFrom('backup_runs as r').whereRef('r.policy_id', '=', 'p.id').select((q) => q.fn.max('r.started_at').as('t')).as('last_attempt'),
    )
    .orderBy('p.pk')
    .limit(limit + 1)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    createdAt: Number(row.created_at),
    lastSuccessAt: row.last_success === null ? null : Number(row.last_success),
    lastAttemptAt: row.last_attempt === null ? null : Number(row.last_attempt),
    storedBytes: Number(row.total_size_bytes),
    intervalSeconds: intervalSeconds(row.schedule_interval, Number(row.schedule_frequency)),
  }));
}

const DAY = 86_400;
/** The longest each interval can last (a month of 31 days, a day of 25 hours at a DST change is covered by the alert's 2×). */
const LONGEST: Record<DiskBackupPolicy['schedule_interval'], number> = { hourly: 3600, daily: DAY, weekly: 7 * DAY, monthly: 31 * DAY };

/** Seconds between two runs of the schedule, at most: what "2 × the policy's interval" is measured against. */
export function intervalSeconds(interval: DiskBackupPolicy['schedule_interval'], frequency: number): number {
  return LONGEST[interval] * frequency;
}

/** Whole-catalogue totals (each a full scan: read them seldom). */
export interface TotalsReading {
  /** Live policies (not in the trash, not past their scheduled deletion). */
  readonly policies: number;
  /** Backups recorded in the catalogue. */
  readonly backups: number;
  /** Bytes of the disks those backups hold (what restoring them all would write). */
  readonly sourceBytes: number;
  /** Sum of the policies' stored sizes (a chunk two policies share is counted twice). */
  readonly storedBytes: number;
}

export async function readTotals(db: Kysely<Database>, now: number): Promise<TotalsReading> {
  const row = await db
    .selectNoFrom((eb) => [
      schedulablePolicies(db, now).select((q) => q.fn.countAll<number | string>().as('n')).as('policies'),
      eb.selectFrom('backups').select((q) => q.fn.countAll<number | string>().as('n')).as('backups'),
      eb.selectFrom('backups').select((q) => q.fn.sum<number | string | null>('disk_size_bytes').as('s')).as('source_bytes'),
      eb.selectFrom('disk_backup_policies').select((q) => q.fn.sum<number | string | null>('total_size_bytes').as('s')).as('stored_bytes'),
    ])
    .executeTakeFirstOrThrow();
  return {
    policies: Number(row.policies ?? 0),
    backups: Number(row.backups ?? 0),
    sourceBytes: Number(row.source_bytes ?? 0),
    storedBytes: Number(row.stored_bytes ?? 0),
  };
}

/** The backups' last verifications (migration 0013): read at every scrape, both through an index. */
export interface VerificationReading {
  /** Backups whose last verification found damage. */
  readonly failed: number;
  /** When the newest verification of any backup ended (Unix seconds); null when none was ever verified. */
  readonly lastAt: number | null;
}

export async function readVerifications(db: Kysely<Database>): Promise<VerificationReading> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.selectFrom('backups').where('verify_outcome', '=', 'failed').select((q) => q.fn.countAll<number | string>().as('n')).as('failed'),
      eb.selectFrom('backups').select((q) => q.fn.max('verified_at').as('t')).as('last_at'),
    ])
    .executeTakeFirstOrThrow();
  return { failed: Number(row.failed ?? 0), lastAt: row.last_at === null || row.last_at === undefined ? null : Number(row.last_at) };
}
