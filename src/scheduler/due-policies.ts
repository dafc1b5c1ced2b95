/**
 * Which policies the scheduler runs: those whose `next_invocation_at` has come, that are not in the
 * trash and whose scheduled deletion (`auto_move_to_trash_at`) has not come. One definition, used by
 * the claim, the wake-up time and the backlog gauge, so they always agree.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

/** Live policies (no trash object) that may still run at `now` (no scheduled deletion at or before it); alias `p`. */
export function schedulablePolicies(db: Kysely<Database>, now: number) {
  return db
    .selectFrom('disk_backup_policies as p')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('trash_objects as t').select('t.id').whereRef('t.object_id', '=', 'p.id'))))
    .where((eb) => eb.or([eb('p.auto_move_to_trash_at', 'is', null), eb('p.auto_move_to_trash_at', '>', now)]));
}

/**
 * The policies due by `until` (default `now`; later when claiming ahead), as a query to select from
 * (alias `p`). A policy whose scheduled deletion comes at or before the instant it is due at does
 * not run.
 */
export function duePolicies(db: Kysely<Database>, now: number, until = now) {
  return schedulablePolicies(db, now)
    .where('p.next_invocation_at', '<=', until)
    .$if(until > now, (query) =>
      query.where((eb) => eb.or([eb('p.auto_move_to_trash_at', 'is', null), eb('p.auto_move_to_trash_at', '>', eb.ref('p.next_invocation_at'))])),
    );
}

/** How many policies are due at `now` and not yet claimed: the scheduler's backlog. */
export async function countDuePolicies(db: Kysely<Database>, now: number): Promise<number> {
  const row = await duePolicies(db, now)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The earliest `next_invocation_at` of a policy that will run at it (its scheduled deletion, if any,
 * comes later), or null when there is none. It may be in the past when another worker holds the
 * policy right now.
 */
export async function earliestInvocation(db: Kysely<Database>, now: number): Promise<number | null> {
  const row = await schedulablePolicies(db, now)
    .where((eb) => eb.or([eb('p.auto_move_to_trash_at', 'is', null), eb('p.auto_move_to_trash_at', '>', eb.ref('p.next_invocation_at'))]))
    .select('p.next_invocation_at')
    .orderBy('p.next_invocation_at')
    .limit(1)
    .executeTakeFirst();
  return row?.next_invocation_at ?? null;
}
