/**
 * The next run times of a schedule, worked out with the service's own schedule maths
 * (src/domain/schedule.ts, bundled into the console), so the preview and the scheduler agree.
 */
import { firstInvocation, occurrence, type ScheduleFields } from '../../src/domain/schedule.js';

/**
 * The first `count` runs of a series that starts now (as a new or changed schedule does), or of the
 * series through `from` (a stored policy's next run) when the schedule is unchanged. Null when the
 * values are not a valid schedule: the API's validation says why on saving.
 */
export function nextRuns(schedule: ScheduleFields, timeZone: string, now: number, count: number, from?: number): number[] | null {
  try {
    const anchor = from ?? firstInvocation(schedule, timeZone, now);
    return Array.from({ length: count }, (_, k) => occurrence(schedule, timeZone, anchor, k));
  } catch {
    return null;
  }
}
