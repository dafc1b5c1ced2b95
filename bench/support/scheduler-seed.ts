/**
 * Seeds the scheduler benchmark's database fast: `policies` disk backup policies across
 * `policies / 100` organizations (spread over every reference country, so over several time zones),
 * of which `due` are due at the instant `dueAt` and every other one later (from `dueAt + 60`).
 *
 * Rows travel in batches as one JSON document (SQLite, `json_each`) or as one array per column
 * (PostgreSQL, `unnest`), so a batch of 10 000 rows is one short statement; each 100 000 rows are
 * one transaction. Every schedule is a real one: `schedule_anchor_at` is its series' first instant
 * in the organization's time zone (computed with the product's own schedule maths), and
 * `next_invocation_at` equals it.
 */
import { sql, type Kysely } from 'kysely';
import { newId } from '../../src/domain/ids.js';
import { firstInvocation, type ScheduleFields, type ScheduleInterval } from '../../src/domain/schedule.js';
import { COUNTRIES, CURRENCIES } from '../../src/services/reference-data.js';
import type { Engine } from '../../src/store/database.js';
import type { Database } from '../../src/store/schema.js';

export interface SeedPlan {
  readonly policies: number;
  readonly due: number;
  readonly dueAt: number;
}

export interface SeedResult {
  readonly organizations: number;
  readonly policies: number;
  readonly due: number;
  readonly seconds: number;
}

const POLICIES_PER_ORGANIZATION = 100;
const BATCH_ROWS = 10_000;
const ROWS_PER_TRANSACTION = 100_000;
const ZONED_COUNTRIES = COUNTRIES.filter((country) => country.time_zone !== null);
const INTERVALS: readonly ScheduleInterval[] = ['hourly', 'daily', 'weekly', 'monthly'];

type PolicyRow = [
  id: string, organizationId: string, targetId: string, retention: number, interval: ScheduleInterval, frequency: number,
  time: number, minute: number, anchor: number, createdAt: number,
];

export async function seedSchedulerBench(db: Kysely<Database>, engine: Engine, plan: SeedPlan): Promise<SeedResult> {
  const started = performance.now();
  const organizationCount = Math.max(1, Math.ceil(plan.policies / POLICIES_PER_ORGANIZATION));
  const organizations = await seedOrganizations(db, organizationCount, plan.dueAt);
  const dueEvery = Math.max(1, Math.floor(plan.policies / plan.due));
  const anchors = new AnchorCache();

  let due = 0;
  let inserted = 0;
  while (inserted < plan.policies) {
    const transactionRows = Math.min(ROWS_PER_TRANSACTION, plan.policies - inserted);
    await db.transaction().execute(async (trx) => {
      for (let done = 0; done < transactionRows; ) {
        const rows: PolicyRow[] = [];
        const batch = Math.min(BATCH_ROWS, transactionRows - done);
        for (let j = 0; j < batch; j++) {
          const i = inserted + done + j;
          const organization = organizations[Math.floor(i / POLICIES_PER_ORGANIZATION)]!;
          const isDue = i % dueEvery === 0 && due < plan.due;
          const schedule = isDue ? anchors.dueSchedule(organization.timeZone, plan.dueAt, i) : otherSchedule(i);
          const anchor = isDue ? plan.dueAt : anchors.firstAfter(schedule, organization.timeZone, plan.dueAt + 60);
          if (isDue) due++;
          rows.push([
            newId('diskBackupPolicy'), organization.id, newId('disk'), 1 + (i % 30), schedule.interval, schedule.frequency,
            schedule.time, schedule.minute, anchor, plan.dueAt - 7 * 86400,
          ]);
        }
        await insertPolicies(trx, engine, rows);
        done += batch;
      }
    });
    inserted += transactionRows;
  }
  await sql`analyze`.execute(db);
  return { organizations: organizationCount, policies: inserted, due, seconds: (performance.now() - started) / 1000 };
}

async function seedOrganizations(db: Kysely<Database>, count: number, now: number) {
  const organizations = Array.from({ length: count }, (_, i) => {
    const country = ZONED_COUNTRIES[i % ZONED_COUNTRIES.length]!;
    return { id: newId('organization'), index: i, countryId: country.id, timeZone: country.time_zone! };
  });
  const runId = Math.random().toString(36).slice(2, 8);
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < organizations.length; i += 500) {
      await trx
        .insertInto('organizations')
        .values(
          organizations.slice(i, i + 500).map((organization) => ({
            id: organization.id,
            name: `Bench organization ${organization.index}`,
            sub_domain: `bench-${runId}-${organization.index}`,
            infrastructure_domain: `bench-${runId}-${organization.index}.katapult.cloud`,
            created_at: now - 30 * 86400,
            activated_at: now - 30 * 86400,
            suspended: 0,
            managed: 0,
            billing_name: null, address1: null, address2: null, address3: null, address4: null,
            postcode: null, vat_number: null, phone_number: null,
            currency_id: CURRENCIES[0]!.id,
            country_id: organization.countryId,
          })),
        )
        .execute();
    }
  });
  return organizations;
}

/** A spread of schedules for the policies that are not due. */
function otherSchedule(i: number): ScheduleFields {
  return { interval: INTERVALS[i % INTERVALS.length]!, frequency: 1 + (i % 3), time: (i * 5) % 24, minute: (i * 7) % 60 };
}

/** Schedule maths is a few microseconds a call; a million policies share a few thousand distinct answers. */
class AnchorCache {
  private readonly anchors = new Map<string, number>();
  private readonly dueSchedules = new Map<string, ScheduleFields[]>();

  firstAfter(schedule: ScheduleFields, timeZone: string, after: number): number {
    const key = `${timeZone}|${schedule.interval}|${schedule.frequency}|${schedule.time}|${schedule.minute}`;
    let anchor = this.anchors.get(key);
    if (anchor === undefined) {
      anchor = firstInvocation(schedule, timeZone, after);
      this.anchors.set(key, anchor);
    }
    return anchor;
  }

  /** An hourly or a daily schedule whose series starts exactly at `dueAt` in `timeZone`. */
  dueSchedule(timeZone: string, dueAt: number, i: number): ScheduleFields {
    let schedules = this.dueSchedules.get(timeZone);
    if (!schedules) {
      const { hour, minute } = wallClock(timeZone, dueAt);
      const hourly: ScheduleFields = { interval: 'hourly', frequency: 1, time: 0, minute };
      const daily: ScheduleFields = { interval: 'daily', frequency: 1, time: hour, minute };
      schedules = [hourly, daily].filter((schedule) => firstInvocation(schedule, timeZone, dueAt - 1) === dueAt);
      if (schedules.length === 0) throw new Error(`no schedule starts at ${dueAt} in ${timeZone}`);
      this.dueSchedules.set(timeZone, schedules);
    }
    return schedules[i % schedules.length]!;
  }
}

function wallClock(timeZone: string, instant: number): { hour: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric' }).formatToParts(instant * 1000);
  return { hour: Number(parts.find((p) => p.type === 'hour')!.value), minute: Number(parts.find((p) => p.type === 'minute')!.value) };
}

async function insertPolicies(db: Kysely<Database>, engine: Engine, rows: PolicyRow[]): Promise<void> {
  const columns = sql`(id, organization_id, target_type, target_id, retention, total_size_bytes, schedule_interval,
    schedule_frequency, schedule_time, schedule_minute, schedule_anchor_at, next_invocation_at, auto_move_to_trash_at, created_at)`;
  if (engine === 'postgres') {
    const column = (index: number) => rows.map((row) => row[index]);
    await sql`
      insert into disk_backup_policies ${columns}
      select r.id, r.organization_id, 'Disk', r.target_id, r.retention, 0, r.interval, r.frequency, r.time, r.minute,
             r.anchor, r.anchor, null, r.created_at
      from unnest(${column(0)}::text[], ${column(1)}::text[], ${column(2)}::text[], ${column(3)}::integer[], ${column(4)}::text[],
                  ${column(5)}::integer[], ${column(6)}::integer[], ${column(7)}::integer[], ${column(8)}::bigint[], ${column(9)}::bigint[])
        as r(id, organization_id, target_id, retention, interval, frequency, time, minute, anchor, created_at)`.execute(db);
  } else {
    await sql`
      insert into disk_backup_policies ${columns}
      select r.value ->> 0, r.value ->> 1, 'Disk', r.value ->> 2, r.value ->> 3, 0, r.value ->> 4, r.value ->> 5,
             r.value ->> 6, r.value ->> 7, r.value ->> 8, r.value ->> 8, null, r.value ->> 9
      from json_each(${JSON.stringify(rows)}) as r`.execute(db);
  }
}
