/**
 * What makes a disk backup policy valid, as human sentences (the API's 422 `validation_error`
 * lists them). Knows nothing of HTTP: services call it with the values a policy would have.
 */
import type { ScheduleInterval } from './schedule.js';

export const RETENTION_RANGE = { min: 1, max: 1000 } as const;
export const FREQUENCY_RANGE = { min: 1, max: 1000 } as const;
export const TIME_RANGE = { min: 0, max: 23 } as const;
export const MINUTE_RANGE = { min: 0, max: 59 } as const;

export const SCHEDULE_DEFAULTS = { frequency: 1, time: 0, minute: 0 } as const;

/** How long a deleted object stays restorable in the trash. */
export const TRASH_RETENTION_SECONDS = 2 * 24 * 60 * 60;
/** A scheduled deletion must be at least this far in the future. */
export const MINIMUM_SCHEDULED_DELETE_SECONDS = 5 * 60;

export interface PolicyValues {
  retention: number | null | undefined;
  interval: ScheduleInterval | null | undefined;
  frequency: number | null | undefined;
  time: number | null | undefined;
  minute: number | null | undefined;
}

export function policyErrors(values: PolicyValues): string[] {
  return [
    ...rangeErrors('Retention', values.retention, RETENTION_RANGE),
    ...(values.interval == null ? ["Schedule interval can't be blank"] : []),
    ...rangeErrors('Schedule frequency', values.frequency, FREQUENCY_RANGE),
    ...rangeErrors('Schedule time', values.time, TIME_RANGE),
    ...rangeErrors('Schedule minute', values.minute, MINUTE_RANGE),
  ];
}

function rangeErrors(
  label: string,
  value: number | null | undefined,
  range: { readonly min: number; readonly max: number },
): string[] {
  if (value == null) return [`${label} can't be blank`];
  if (value < range.min) return [`${label} must be greater than or equal to ${range.min}`];
  if (value > range.max) return [`${label} must be less than or equal to ${range.max}`];
  return [];
}
