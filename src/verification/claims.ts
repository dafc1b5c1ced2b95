/**
 * Which backup the verification scheduler verifies next, claimed with a lease so that two workers
 * never verify the same backup at once: the backup verified longest ago (never verified first, then
 * the oldest catalogue row), among those whose last verification is at least the period old and
 * that no other worker holds. On PostgreSQL the candidate row is locked `FOR UPDATE SKIP LOCKED`
 * (as the run scheduler's claim): concurrent claims pass over each other's rows instead of waiting.
 * On SQLite the write transaction is the only writer.
 */
import { sql, type Kysely } from 'kysely';
import type { Engine } from '../store/database.js';
import type { Database } from '../store/schema.js';
import { writeTransaction } from '../store/write-transaction.js';

export interface VerificationClaim {
  readonly backupId: string;
  /**
   * The lease's end as this claim wrote it. It doubles as the claim's token: renewing and giving
   * back only act while the row still holds this value, so a worker whose lease ran out (and was
   * taken over) cannot extend or clear the new holder's.
   */
  readonly claimedUntil: number;
  /** Its last verification's end, null when it was never verified. */
  readonly verifiedAt: number | null;
}

/**
 * Claims the next backup due for verification until `now + leaseSeconds`; null when none is due.
 * Due: never verified, or last verified at or before `now - everySeconds`.
 */
export async function claimNextVerification(
  db: Kysely<Database>,
  engine: Engine,
  options: { now: number; everySeconds: number; leaseSeconds: number },
): Promise<VerificationClaim | null> {
  const { now, everySeconds, leaseSeconds } = options;
  return writeTransaction(db, engine, async (trx) => {
    const row = await trx
      .selectFrom('backups')
      .select(['pk', 'id', 'verified_at'])
      .where((eb) => eb.or([eb('verified_at', 'is', null), eb('verified_at', '<=', now - everySeconds)]))
      .where((eb) => eb.or([eb('verify_claimed_until', 'is', null), eb('verify_claimed_until', '<', now)]))
      // Never verified (-1) before any verified; then the longest ago; then the oldest row.
      .orderBy(sql`coalesce(verified_at, -1)`)
      .orderBy('pk')
      .limit(1)
      .$if(engine === 'postgres', (query) => query.forUpdate().skipLocked())
      .executeTakeFirst();
    if (!row) return null;
    const claimedUntil = now + leaseSeconds;
    await trx.updateTable('backups').set({ verify_claimed_until: claimedUntil }).where('pk', '=', row.pk).execute();
    return { backupId: row.id, claimedUntil, verifiedAt: row.verified_at };
  });
}

/** Extends a held claim to `until`; false when it is no longer held (the backup is gone, or another worker took it over). */
export async function renewVerificationClaim(db: Kysely<Database>, claim: { backupId: string; claimedUntil: number }, until: number): Promise<boolean> {
  const result = await db
    .updateTable('backups')
    .set({ verify_claimed_until: until })
    .where('id', '=', claim.backupId)
    .where('verify_claimed_until', '=', claim.claimedUntil)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Gives a held claim up: at once (`until` null), or kept until `until` (a failed attempt is not retried at once). */
export async function releaseVerificationClaim(db: Kysely<Database>, claim: { backupId: string; claimedUntil: number }, until: number | null = null): Promise<void> {
  await db
    .updateTable('backups')
    .set({ verify_claimed_until: until })
    .where('id', '=', claim.backupId)
    .where('verify_claimed_until', '=', claim.claimedUntil)
    .execute();
}

/** Seconds from `now` until the next backup becomes due (0 when one is due now), or null when there are no backups. */
export async function secondsUntilNextVerification(db: Kysely<Database>, now: number, everySeconds: number): Promise<number | null> {
  const row = await db
    .selectFrom('backups')
    .select(sql<number | string | null>`min(case when verified_at is null then cast(${now} as bigint) else verified_at + cast(${everySeconds} as bigint) end)`.as('next_at'))
    .executeTakeFirst();
  if (!row || row.next_at === null) return null;
  return Math.max(0, Number(row.next_at) - now);
}
