import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  firstInvocation,
  nextInvocationAfter,
  occurrence,
  occurrenceIndexAfter,
  resolveTimeZone,
  type ScheduleFields,
  type ScheduleInterval,
} from '../../src/domain/schedule.js';

// ---------------------------------------------------------------------------------------------
// Independent oracle helpers (Intl only; they do not reuse the module's internals).

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;
/** Every offset and clock change of the zones below falls on a quarter hour (asserted in `wall`). */
const QUARTER = 900;
const YEAR_1970 = 0;
const YEAR_2100 = 4102444800;

const DST_ZONES = [
  'Europe/London',
  'America/New_York',
  'Australia/Lord_Howe', // 30-minute DST shift
  'Asia/Kathmandu', // +05:45 (+05:30 until 1986)
  'America/Santiago', // changes at midnight
  'Pacific/Chatham', // +12:45 / +13:45
] as const;
const ZONES = [...DST_ZONES, 'UTC'] as const;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Local wall clock of `t` in `zone`, encoded as UTC seconds. */
function wall(zone: string, t: number): number {
  const p: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(t * 1000))) p[part.type] = Number(part.value);
  const w = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) / 1000;
  assert.equal(mod(w - t, QUARTER), 0, `test assumes quarter-hour offsets (${zone})`);
  return w;
}
const offset = (zone: string, t: number): number => wall(zone, t) - t;
const mod = (a: number, b: number): number => ((a % b) + b) % b;
const dayOf = (w: number): number => Math.floor(w / DAY);
const weekday = (w: number): number => new Date(dayOf(w) * DAY * 1000).getUTCDay();
const dateParts = (w: number) => {
  const d = new Date(w * 1000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
};
const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
const iso = (t: number): string => new Date(t * 1000).toISOString();

/** Wall target `time:minute` on the local day `day` (days since 1970-01-01). */
const target = (s: ScheduleFields, day: number): number => day * DAY + s.time * HOUR + s.minute * MINUTE;

/** Is `t` the first instant at which the wall clock reads `w` (no earlier repeat of it)? */
function isFirstOccurrence(zone: string, t: number, w: number): boolean {
  if (wall(zone, t) !== w) return false;
  for (let back = QUARTER; back <= 3 * HOUR; back += QUARTER) if (wall(zone, t - back) === w) return false;
  return true;
}
/** Do the clocks jump over wall time `w` exactly at `t`? */
const jumpsOver = (zone: string, t: number, w: number): boolean => wall(zone, t - 1) < w && w < wall(zone, t);

/** `t` is where the rules put wall time `w`: its first occurrence, or right after the gap hiding it. */
function assertRunsAt(zone: string, t: number, w: number, what: string): void {
  assert.ok(isFirstOccurrence(zone, t, w) || jumpsOver(zone, t, w), `${what}: ${iso(t)} is not wall ${iso(w)} in ${zone}`);
}

/** Clock changes of `zone` during `year` (weekly sampling, then bisection). */
const transitionCache = new Map<string, number[]>();
function transitions(zone: string, year: number): number[] {
  const key = `${zone}/${year}`;
  let found = transitionCache.get(key);
  if (found) return found;
  found = [];
  const end = Date.UTC(year + 1, 0, 1) / 1000;
  for (let t = Date.UTC(year, 0, 1) / 1000; t < end; t += 7 * DAY) {
    if (offset(zone, t) === offset(zone, t + 7 * DAY)) continue;
    let lo = t, hi = t + 7 * DAY;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offset(zone, mid) === offset(zone, t)) lo = mid; else hi = mid;
    }
    found.push(hi);
  }
  transitionCache.set(key, found);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const intervalArb = fc.constantFrom<ScheduleInterval>('hourly', 'daily', 'weekly', 'monthly');
const frequencyArb = fc.oneof(
  { arbitrary: fc.constant(1), weight: 4 },
  { arbitrary: fc.integer({ min: 2, max: 7 }), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 40 }), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 1000 }), weight: 1 },
);
const scheduleArb = fc.record({
  interval: intervalArb,
  frequency: frequencyArb,
  time: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
});

interface Scenario { zone: string; schedule: ScheduleFields; after: number }

/** Anything: any zone, any schedule, any instant 1970..2100 (Feb 29s are covered by the range). */
const randomScenario = fc.record({
  zone: fc.constantFrom<string>(...ZONES),
  schedule: scheduleArb,
  after: fc.integer({ min: YEAR_1970, max: YEAR_2100 }),
});

/** A schedule whose wall time is near a clock change, set shortly before (or at) that change. */
const transitionScenario = fc
  .record({
    zone: fc.constantFrom<string>(...DST_ZONES),
    year: fc.oneof(fc.integer({ min: 1970, max: 2099 }), fc.constant(1986)),
    pick: fc.nat(),
    interval: intervalArb,
    frequency: frequencyArb,
    wallShift: fc.integer({ min: -120, max: 120 }), // minutes around the change
    leadTime: fc.oneof(fc.integer({ min: 0, max: 3 * DAY }), fc.integer({ min: -2 * HOUR, max: 2 * HOUR })),
  })
  .map(({ zone, year, pick, interval, frequency, wallShift, leadTime }): Scenario => {
    const changes = transitions(zone, year);
    const change = changes[pick % Math.max(1, changes.length)] ?? Date.UTC(year, 5, 1) / 1000;
    // Read with the offset in force before the change, so positive shifts land inside a gap.
    const w = change + wallShift * MINUTE + offset(zone, change - 1);
    const { hours, minutes } = { hours: Math.floor(mod(w, DAY) / HOUR), minutes: Math.floor(mod(w, HOUR) / MINUTE) };
    return { zone, schedule: { interval, frequency, time: hours, minute: minutes }, after: change - leadTime };
  });

const scenarioArb = fc.oneof(randomScenario, transitionScenario);

// ---------------------------------------------------------------------------------------------
// Properties.

/** Caps an occurrence index so the series stays within ~300 years (JS dates end in year 275760). */
function capIndex(s: ScheduleFields, k: number): number {
  const period = { hourly: HOUR, daily: DAY, weekly: 7 * DAY, monthly: 31 * DAY }[s.interval] * s.frequency;
  return Math.min(k, Math.floor((300 * 365 * DAY) / period));
}

/** Expected local day of occurrence k (days since epoch) for daily / weekly / monthly. */
function expectedDay(s: ScheduleFields, anchorDay: number, k: number): number {
  if (s.interval === 'daily') return anchorDay + k * s.frequency;
  if (s.interval === 'weekly') return anchorDay + 7 * k * s.frequency;
  const a = dateParts(anchorDay * DAY);
  const monthIndex = a.year * 12 + a.month - 1 + k * s.frequency;
  const year = Math.floor(monthIndex / 12), month = (monthIndex % 12) + 1;
  return Date.UTC(year, month - 1, Math.min(a.day, daysInMonth(year, month))) / DAY / 1000;
}

/** Checks occurrence k of the series against the rules (and against occurrence k - 1). */
function checkOccurrence(zone: string, s: ScheduleFields, anchor: number, k: number): void {
  const t = occurrence(s, zone, anchor, k);
  const what = `${JSON.stringify(s)} ${zone} anchor ${iso(anchor)} k=${k}`;
  if (k === 0) assert.equal(t, anchor, what);
  if (s.interval === 'hourly') {
    assert.equal(t - anchor, k * s.frequency * HOUR, what);
    // Minute is kept unless the offset moved by a non-whole number of hours (Lord Howe DST).
    if (mod(offset(zone, t) - offset(zone, anchor), HOUR) === 0) assert.equal(mod(wall(zone, t), HOUR), s.minute * MINUTE, what);
    return;
  }
  if (k > 0) assert.ok(t > occurrence(s, zone, anchor, k - 1), `${what}: not increasing`);
  const anchorDay = dayOf(wall(zone, anchor));
  const day = expectedDay(s, anchorDay, k);
  assertRunsAt(zone, t, target(s, day), what);
  if (s.interval === 'weekly') assert.equal(weekday(wall(zone, t)), weekday(wall(zone, anchor)), what);
  if (s.interval === 'monthly') {
    const { year, month, day: d } = dateParts(wall(zone, t));
    assert.equal(d, Math.min(dateParts(wall(zone, anchor)).day, daysInMonth(year, month)), what);
  }
  if (s.interval === 'daily' && k > 0) {
    assert.equal(dayOf(wall(zone, t)) - dayOf(wall(zone, occurrence(s, zone, anchor, k - 1))), s.frequency, what);
  }
}

test('firstInvocation: first matching instant strictly after `after`', () => {
  fc.assert(
    fc.property(scenarioArb, ({ zone, schedule: s, after }) => {
      const first = firstInvocation(s, zone, after);
      const what = `${JSON.stringify(s)} ${zone} after ${iso(after)} -> ${iso(first)}`;
      assert.ok(first > after, what);
      // Strictly after: set exactly at a run, that run does not count.
      assert.equal(firstInvocation(s, zone, first - 1), first, what);
      assert.ok(firstInvocation(s, zone, first) > first, what);
      if (s.interval === 'hourly') {
        assert.equal(mod(wall(zone, first), HOUR), s.minute * MINUTE, what);
        // No instant in (after, first) shows the minute (matches lie on this quarter-hour grid).
        for (let t = first - QUARTER; t > after; t -= QUARTER) assert.notEqual(mod(wall(zone, t), HOUR), s.minute * MINUTE, `${what}: ${iso(t)} matched earlier`);
        return;
      }
      assertRunsAt(zone, first, target(s, dayOf(wall(zone, first))), what);
      // Nothing earlier in (after, first) is a run: neither a first occurrence nor a jump over the time.
      for (let t = first - QUARTER; t > after; t -= QUARTER) {
        const day = dayOf(wall(zone, t));
        assert.ok(!isFirstOccurrence(zone, t, target(s, day)), `${what}: ${iso(t)} matched earlier`);
        assert.ok(!jumpsOver(zone, t, target(s, day)), `${what}: ${iso(t)} gap run earlier`);
      }
    }),
    { numRuns: 400 },
  );
});

test('occurrences: strictly increasing and spaced by the interval rules', () => {
  fc.assert(
    fc.property(scenarioArb, fc.integer({ min: 0, max: 3000 }), ({ zone, schedule: s, after }, farK) => {
      const anchor = firstInvocation(s, zone, after);
      const far = capIndex(s, farK);
      const ks = [0, 1, 2, 3, 4, 5, 6, far, far + 1];
      let previous = -Infinity;
      for (const k of ks) {
        if (k === far) previous = -Infinity;
        const t = occurrence(s, zone, anchor, k);
        assert.ok(t > previous, `k=${k} not increasing`);
        previous = t;
        checkOccurrence(zone, s, anchor, k);
      }
    }),
    { numRuns: 300 },
  );
});

test('nextInvocationAfter: next occurrence after downtime, nothing skipped', () => {
  // Downtime ends anywhere, or just around a due instant (where an off-by-one would show).
  const downtimeArb = fc.oneof(
    fc.record({ seconds: fc.integer({ min: -DAY, max: 40 * DAY }), nearK: fc.constant(undefined) }),
    fc.record({ seconds: fc.integer({ min: 0, max: 130 * 365 * DAY }), nearK: fc.constant(undefined) }),
    fc.record({ seconds: fc.integer({ min: -3 * HOUR, max: 3 * HOUR }), nearK: fc.integer({ min: 0, max: 5000 }) }),
  );
  fc.assert(
    fc.property(scenarioArb, downtimeArb, ({ zone, schedule: s, after }, downtime) => {
      const anchor = firstInvocation(s, zone, after);
      const base = downtime.nearK === undefined ? anchor : occurrence(s, zone, anchor, capIndex(s, downtime.nearK));
      const now = base + downtime.seconds;
      const next = nextInvocationAfter(s, zone, anchor, now);
      const k = occurrenceIndexAfter(s, zone, anchor, now);
      const what = `${JSON.stringify(s)} ${zone} anchor ${iso(anchor)} now ${iso(now)} -> ${iso(next)} (k=${k})`;
      assert.ok(next > now, what);
      assert.equal(occurrence(s, zone, anchor, k), next, what);
      if (k > 0) assert.ok(occurrence(s, zone, anchor, k - 1) <= now, `${what}: skipped an occurrence`);
      checkOccurrence(zone, s, anchor, k);
      // Brute force for short downtimes: walk the series from the anchor.
      if (k <= 40) {
        let j = 0;
        while (occurrence(s, zone, anchor, j) <= now) j++;
        assert.equal(j, k, what);
      }
      // Right at an occurrence, the next one follows.
      assert.equal(nextInvocationAfter(s, zone, anchor, next), occurrence(s, zone, anchor, k + 1), what);
    }),
    { numRuns: 400 },
  );
});

// ---------------------------------------------------------------------------------------------
// Worked examples (expected values are exact Unix seconds).

const daily = (time: number, minute: number, frequency = 1): ScheduleFields => ({ interval: 'daily', frequency, time, minute });
const series = (s: ScheduleFields, zone: string, anchor: number, n: number): number[] =>
  Array.from({ length: n }, (_, k) => occurrence(s, zone, anchor, k));

test('example: London spring-forward gap runs at 02:00 BST', () => {
  // 2026-03-28T12:00Z -> 01:30 does not exist on 2026-03-29; runs at 2026-03-29T01:00Z (02:00 BST)
  assert.equal(firstInvocation(daily(1, 30), 'Europe/London', 1774699200), 1774746000);
  // The next day 01:30 BST = 2026-03-30T00:30Z.
  assert.equal(occurrence(daily(1, 30), 'Europe/London', 1774746000, 1), 1774830600);
});

test('example: London fall-back overlap runs at the first 01:30', () => {
  // 2026-10-24T12:00Z -> 2026-10-25T00:30Z (01:30 BST), not 01:30Z (01:30 GMT)
  assert.equal(firstInvocation(daily(1, 30), 'Europe/London', 1792843200), 1792888200);
  // Set between the two 01:30s (2026-10-25T00:45Z): the first has passed, so next day 2026-10-26T01:30Z
  assert.equal(firstInvocation(daily(1, 30), 'Europe/London', 1792889100), 1792978200);
});

test('example: New York gap and overlap', () => {
  // 02:30 on 2026-03-08 does not exist -> 03:00 EDT = 2026-03-08T07:00Z (set 2026-03-08T00:00Z)
  assert.equal(firstInvocation(daily(2, 30), 'America/New_York', 1772928000), 1772953200);
  // 01:30 on 2026-11-01 happens twice -> 01:30 EDT = 2026-11-01T05:30Z (set 2026-11-01T00:00Z)
  assert.equal(firstInvocation(daily(1, 30), 'America/New_York', 1793491200), 1793511000);
});

test('example: Lord Howe 30-minute gap', () => {
  // 02:15 on 2026-10-04 does not exist (02:00 +10:30 -> 02:30 +11) -> 2026-10-03T15:30Z
  assert.equal(firstInvocation(daily(2, 15), 'Australia/Lord_Howe', 1791030000), 1791041400);
  // Hourly :35 set at 01:50 local (2026-10-03T15:20Z): 02:35 +11 = 2026-10-03T15:35Z, only 15 minutes later.
  assert.equal(firstInvocation({ interval: 'hourly', frequency: 1, time: 0, minute: 35 }, 'Australia/Lord_Howe', 1791040800), 1791041700);
});

test('example: Asia/Kathmandu offsets', () => {
  // 09:00 +05:45 on 2026-06-01 = 2026-06-01T03:15Z (set 2026-06-01T00:00Z)
  assert.equal(firstInvocation(daily(9, 0), 'Asia/Kathmandu', 1780272000), 1780283700);
  // Hourly minute 0 there is :15 UTC: 2026-06-01T00:15Z
  assert.equal(firstInvocation({ interval: 'hourly', frequency: 1, time: 0, minute: 0 }, 'Asia/Kathmandu', 1780272000), 1780272900);
  // 1986-01-01 00:00 +05:30 jumped to 00:15 +05:45, so 00:10 ran at 1985-12-31T18:30Z
  assert.equal(firstInvocation(daily(0, 10), 'Asia/Kathmandu', 504878400), 504901800);
});

test('example: monthly on the 31st clamps and returns', () => {
  const monthly: ScheduleFields = { interval: 'monthly', frequency: 1, time: 9, minute: 0 };
  // Set 2026-01-31T08:00Z in London.
  const anchor = firstInvocation(monthly, 'Europe/London', 1769846400);
  assert.equal(anchor, 1769850000); // 2026-01-31T09:00Z
  assert.deepEqual(series(monthly, 'Europe/London', anchor, 5), [
    1769850000, // 2026-01-31T09:00Z
    1772269200, // 2026-02-28T09:00Z
    1774944000, // 2026-03-31T08:00Z (BST)
    1777536000, // 2026-04-30T08:00Z
    1780214400, // 2026-05-31T08:00Z
  ]);
  // Leap year, UTC: 2028-01-31, 2028-02-29, 2028-03-31; every 13 months: 2029-02-28
  assert.deepEqual(series(monthly, 'UTC', 1832922000, 3), [1832922000, 1835427600, 1838106000]);
  assert.equal(occurrence({ ...monthly, frequency: 13 }, 'UTC', 1832922000, 1), 1866963600);
});

test('example: weekly keeps the weekday across DST', () => {
  const weekly: ScheduleFields = { interval: 'weekly', frequency: 1, time: 10, minute: 0 };
  // Set on Friday 2026-03-20T09:00Z in London.
  const anchor = firstInvocation(weekly, 'Europe/London', 1773997200);
  assert.deepEqual(series(weekly, 'Europe/London', anchor, 3), [
    1774000800, // Fri 2026-03-20T10:00Z (GMT)
    1774605600, // Fri 2026-03-27T10:00Z
    1775206800, // Fri 2026-04-03T09:00Z (10:00 BST)
  ]);
  assert.equal(occurrence({ ...weekly, frequency: 2 }, 'Europe/London', anchor, 1), 1775206800);
});

test('example: hourly at minute 15', () => {
  const hourly: ScheduleFields = { interval: 'hourly', frequency: 3, time: 7, minute: 15 };
  // Set 2026-06-01T10:20Z -> 11:15Z, 14:15Z, 17:15Z
  assert.deepEqual(series(hourly, 'UTC', firstInvocation(hourly, 'UTC', 1780309200), 3), [1780312500, 1780323300, 1780334100]);
  // Across the London fall-back, both 01:15s run (they are an hour apart): 00:15Z, 01:15Z, 02:15Z
  const every: ScheduleFields = { ...hourly, frequency: 1 };
  const anchor = firstInvocation(every, 'Europe/London', 1792886400); // set 2026-10-25T00:00Z
  assert.deepEqual(series(every, 'Europe/London', anchor, 3), [1792887300, 1792890900, 1792894500]);
});

test('example: downtime continues at the next future instant', () => {
  // Daily 09:00 London anchored 2026-01-01T09:00Z; down until 2026-07-15T12:00Z -> 2026-07-16T08:00Z (BST)
  assert.equal(nextInvocationAfter(daily(9, 0), 'Europe/London', 1767258000, 1784116800), 1784188800);
  // Years later: down until 2099-12-31T12:00Z -> 2100-01-01T09:00Z
  assert.equal(nextInvocationAfter(daily(9, 0), 'Europe/London', 1767258000, 4102401600), 4102477200);
  // Before the anchor, the anchor itself is next.
  assert.equal(nextInvocationAfter(daily(9, 0), 'Europe/London', 1767258000, 0), 1767258000);
});

test('resolveTimeZone: valid IANA names pass, anything else is UTC', () => {
  assert.equal(resolveTimeZone('Europe/London'), 'Europe/London');
  assert.equal(resolveTimeZone('Asia/Kathmandu'), 'Asia/Kathmandu');
  for (const name of ['', '  ', null, undefined, 'Not/AZone', '+05:00', 'UTC']) assert.equal(resolveTimeZone(name), 'UTC');
  // An unknown zone behaves as UTC.
  assert.equal(firstInvocation(daily(9, 0), 'Mars/Olympus', 1780272000), firstInvocation(daily(9, 0), 'UTC', 1780272000));
});

test('invalid schedules are rejected', () => {
  for (const bad of [{ frequency: 0 }, { frequency: 1001 }, { time: 24 }, { minute: 60 }, { minute: 1.5 }]) {
    assert.throws(() => firstInvocation({ ...daily(9, 0), ...bad }, 'UTC', 0), RangeError);
  }
});
