/**
 * Schedule maths for disk backup policies (pure: no I/O).
 *
 * Instants are integer Unix seconds; time zones are IANA names (unknown or empty means UTC).
 *
 * Rules:
 * - `time` (hour) and `minute` are read on the wall clock of the time zone; `time` is ignored
 *   for `hourly`.
 * - The first invocation (the series' anchor) is the first instant strictly after the moment the
 *   schedule is set that matches `time:minute` (daily, weekly, monthly) or `minute` (hourly). A
 *   weekly series keeps the anchor's weekday, a monthly series the anchor's day of month.
 * - daily / weekly / monthly: occurrence k falls on the local calendar date `k * frequency`
 *   days / weeks / months after the anchor's date, at `time:minute`. Monthly dates are clamped to
 *   the month's last day (Jan 31 -> Feb 28 -> Mar 31).
 * - hourly: occurrence k is exactly `k * frequency` hours of elapsed time after the anchor. Hours
 *   are uniform, so this never repeats or skips across DST, and the local minute stays `minute`
 *   whenever the UTC offset differs from the anchor's by whole hours (every DST rule except Lord
 *   Howe's 30-minute one, during which the minute shifts by 30). A local `:minute` that exists
 *   twice (clocks go back) counts twice for hourly: both are distinct real instants an hour apart.
 * - A wall-clock time skipped by clocks going forward runs at the first instant after the gap
 *   (the instant the clocks jump to), not "shifted by the gap length". A wall-clock time that
 *   happens twice (clocks go back) runs at its first occurrence only. (Only a change skipping a
 *   whole day, e.g. Pacific/Apia on 2011-12-30, can map two daily occurrences to one instant;
 *   `nextInvocationAfter` still returns it once.)
 * - After downtime, `nextInvocationAfter` continues the series at its next instant after "now".
 */

export type ScheduleInterval = 'hourly' | 'daily' | 'weekly' | 'monthly';

export interface ScheduleFields {
  interval: ScheduleInterval;
  /** Every `frequency` intervals, 1..1000. */
  frequency: number;
  /** Local hour 0..23 (ignored for hourly). */
  time: number;
  /** Local minute 0..59. */
  minute: number;
}

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;
/** Average Gregorian month, only used to estimate how far into a monthly series an instant is. */
const AVERAGE_MONTH = 2629746;

// ---------------------------------------------------------------------------------------------
// Time zones. A "wall" value is the local wall-clock reading encoded as if it were UTC seconds.

const zoneCache = new Map<string, string>();
const formatterCache = new Map<string, Intl.DateTimeFormat>();

/** A valid (canonical) IANA time zone for `name`, or 'UTC' when it is empty or unknown. */
export function resolveTimeZone(name: string | null | undefined): string {
  const key = (name ?? '').trim();
  let zone = zoneCache.get(key);
  if (zone === undefined) {
    zone = 'UTC';
    // Intl also accepts offsets such as "+05:00", which are not IANA names.
    if (/^[A-Za-z]/.test(key)) {
      try {
        const resolved = new Intl.DateTimeFormat('en-US', { timeZone: key }).resolvedOptions().timeZone;
        // Keep the caller's spelling: ICU canonicalises some current names to legacy ones
        // (Asia/Kathmandu -> Asia/Katmandu); only adopt its fix of letter case.
        zone = resolved.toLowerCase() === key.toLowerCase() ? resolved : key;
      } catch {
        zone = 'UTC';
      }
    }
    zoneCache.set(key, zone);
  }
  return zone;
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatterCache.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatterCache.set(zone, formatter);
  }
  return formatter;
}

/** The wall-clock reading of `instant` in `zone`. */
function wallOf(zone: string, instant: number): number {
  if (zone === 'UTC') return instant;
  const field: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(instant * 1000)) field[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = field;
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
}

function utcOffset(zone: string, instant: number): number {
  return wallOf(zone, instant) - instant;
}

/** Smallest instant in (lo, hi] satisfying `reached`, given that it is false at lo and true at hi. */
function firstInstantWhere(lo: number, hi: number, reached: (instant: number) => boolean): number {
  if (reached(lo) || !reached(hi)) throw new Error('schedule: unexpected time zone data');
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (reached(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The instant at which the wall clock of `zone` reads `wall`: its first occurrence when the
 * reading happens twice, or the end of the gap (the instant the clocks jump to) when it is skipped.
 */
function instantOfWall(zone: string, wall: number): number {
  // Offsets cannot exceed a day, so the offsets a day either side cover any nearby clock change.
  const offsets = new Set([utcOffset(zone, wall - DAY), utcOffset(zone, wall), utcOffset(zone, wall + DAY)]);
  const candidates = [...offsets].map((offset) => wall - offset);
  const exact = candidates.filter((instant) => wallOf(zone, instant) === wall);
  if (exact.length > 0) return Math.min(...exact);
  // Skipped: within the gap's bracket the wall clock first reaches `wall` at the jump itself.
  return firstInstantWhere(Math.min(...candidates), Math.max(...candidates), (instant) => wallOf(zone, instant) >= wall);
}

// ---------------------------------------------------------------------------------------------
// Calendar dates (proleptic Gregorian), months 1..12.

interface LocalDate { year: number; month: number; day: number }

function dayNumber(date: LocalDate): number {
  return Date.UTC(date.year, date.month - 1, date.day) / (DAY * 1000);
}

function dateOfDayNumber(days: number): LocalDate {
  const date = new Date(days * DAY * 1000);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

function addDays(date: LocalDate, days: number): LocalDate {
  return dateOfDayNumber(dayNumber(date) + days);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** `months` months after `date`, keeping its day of month where the month is long enough. */
function addMonthsClamped(date: LocalDate, months: number): LocalDate {
  const index = date.year * 12 + (date.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = (index % 12) + 1;
  return { year, month, day: Math.min(date.day, daysInMonth(year, month)) };
}

function localDate(zone: string, instant: number): LocalDate {
  return dateOfDayNumber(Math.floor(wallOf(zone, instant) / DAY));
}

function wallAt(date: LocalDate, hour: number, minute: number): number {
  return dayNumber(date) * DAY + hour * HOUR + minute * MINUTE;
}

function modulo(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

// ---------------------------------------------------------------------------------------------
// Series.

function validate(schedule: ScheduleFields, ...instants: number[]): void {
  const { frequency, time, minute } = schedule;
  if (!['hourly', 'daily', 'weekly', 'monthly'].includes(schedule.interval)) throw new RangeError(`invalid interval: ${schedule.interval}`);
  if (!Number.isInteger(frequency) || frequency < 1 || frequency > 1000) throw new RangeError(`invalid frequency: ${frequency}`);
  if (!Number.isInteger(time) || time < 0 || time > 23) throw new RangeError(`invalid time: ${time}`);
  if (!Number.isInteger(minute) || minute < 0 || minute > 59) throw new RangeError(`invalid minute: ${minute}`);
  for (const instant of instants) if (!Number.isSafeInteger(instant)) throw new RangeError(`invalid instant: ${instant}`);
}

/** First instant strictly after `after` whose local wall clock shows `minute` (at second 0). */
function nextLocalMinute(zone: string, minute: number, after: number): number {
  let instant = after + 1;
  for (;;) {
    const wait = modulo(minute * MINUTE - wallOf(zone, instant), HOUR);
    if (wait === 0) return instant;
    const offset = utcOffset(zone, instant);
    const target = instant + wait;
    if (utcOffset(zone, target) === offset) return target;
    // The clocks change before `target`: carry on from the change.
    instant = firstInstantWhere(instant, target, (candidate) => utcOffset(zone, candidate) !== offset);
  }
}

export function firstInvocation(schedule: ScheduleFields, timeZone: string, after: number): number {
  validate(schedule, after);
  const zone = resolveTimeZone(timeZone);
  if (schedule.interval === 'hourly') return nextLocalMinute(zone, schedule.minute, after);
  // Start a day early: a skipped time just before midnight resolves into the next day.
  for (let date = addDays(localDate(zone, after), -1); ; date = addDays(date, 1)) {
    const instant = instantOfWall(zone, wallAt(date, schedule.time, schedule.minute));
    if (instant > after) return instant;
  }
}

/** The local date the anchor was scheduled for (normally its own local date). */
function anchorDate(schedule: ScheduleFields, zone: string, anchor: number): LocalDate {
  const date = localDate(zone, anchor);
  if (wallOf(zone, anchor) === wallAt(date, schedule.time, schedule.minute)) return date;
  // Resolved out of a gap: that may have carried it over midnight from the previous day.
  const previous = addDays(date, -1);
  const fromPrevious = instantOfWall(zone, wallAt(previous, schedule.time, schedule.minute)) === anchor;
  return fromPrevious ? previous : date;
}

/** The series anchored at `anchor` as a function of the occurrence index. */
function seriesOf(schedule: ScheduleFields, zone: string, anchor: number): (k: number) => number {
  const { interval, frequency, time, minute } = schedule;
  if (interval === 'hourly') return (k) => anchor + k * frequency * HOUR;
  const start = anchorDate(schedule, zone, anchor);
  const dateOf = (k: number): LocalDate => {
    if (interval === 'monthly') return addMonthsClamped(start, k * frequency);
    return addDays(start, k * frequency * (interval === 'weekly' ? 7 : 1));
  };
  return (k) => {
    const wall = wallAt(dateOf(k), time, minute);
    if (!Number.isSafeInteger(wall)) throw new RangeError(`occurrence ${k} is beyond representable dates`);
    return instantOfWall(zone, wall);
  };
}

function approximatePeriod({ interval, frequency }: ScheduleFields): number {
  const unit = { hourly: HOUR, daily: DAY, weekly: 7 * DAY, monthly: AVERAGE_MONTH }[interval];
  return unit * frequency;
}

/**
 * The k-th occurrence (k >= 0) of the series anchored at anchor; occurrence(…, 0) === anchor.
 * `anchor` must be the series' first invocation (a result of `firstInvocation`).
 */
export function occurrence(schedule: ScheduleFields, timeZone: string, anchor: number, k: number): number {
  validate(schedule, anchor);
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`invalid occurrence index: ${k}`);
  return seriesOf(schedule, resolveTimeZone(timeZone), anchor)(k);
}

/** Index of the first occurrence of the series anchored at `anchor` strictly after `after`. */
export function occurrenceIndexAfter(schedule: ScheduleFields, timeZone: string, anchor: number, after: number): number {
  validate(schedule, anchor, after);
  if (after < anchor) return 0;
  const at = seriesOf(schedule, resolveTimeZone(timeZone), anchor);
  // Jump close by estimate (off by at most a couple of occurrences), then step.
  let k = Math.floor((after - anchor) / approximatePeriod(schedule));
  while (k > 0 && at(k) > after) k--;
  while (at(k) <= after) k++;
  return k;
}

/** The next instant of the series anchored at `anchor` (the series' first invocation) that is strictly after `after`. */
export function nextInvocationAfter(schedule: ScheduleFields, timeZone: string, anchor: number, after: number): number {
  return occurrence(schedule, timeZone, anchor, occurrenceIndexAfter(schedule, timeZone, anchor, after));
}
