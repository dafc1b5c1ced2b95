/**
 * The immutability period of a repository (config `immutableDays`, docs/REPOSITORY.md): when an
 * object written with it stops being retained, and the "forgotten" markers that stand in for the
 * deletion of a manifest that is still retained.
 *
 * When an object's retention ends is computed, not asked of the store: its modification time as the
 * store lists it, plus the period, plus RETENTION_MARGIN_MS (the store's times have whole seconds,
 * and the retain-until date was taken a moment before the object's time). Listing gives the times of
 * all objects of a kind in one request, where asking for each object's retention would take one each.
 * A removal the store still refuses is left for a later gc all the same.
 */
import type { ObjectInfo } from '../storage/object-store.js';
import { BACKUP_ID } from './layout.js';

const DAY_MS = 24 * 3600 * 1000;
const RETENTION_MARGIN_MS = 2000;
/** The immutability period is whole days, 1 to 100 years. */
export const MAX_IMMUTABLE_DAYS = 36500;

/**
 * TEST ONLY: the length of one "day" of the immutability period, in seconds, so that tests can let
 * retention expire. Never set it in production: it shortens every immutable repository's period.
 */
export const TEST_DAY_SECONDS_VARIABLE = 'DBP_TEST_IMMUTABLE_DAY_SECONDS';

/** Name of the marker that says a retained manifest is forgotten (an object of the manifest kind). */
export const FORGOTTEN_SUFFIX = '.forgotten';
export const forgottenMarkerName = (backupId: string) => `${backupId}${FORGOTTEN_SUFFIX}`;

/** The backup a marker name stands for, or undefined for any other name. */
export function forgottenBackupOf(name: string): string | undefined {
  if (!name.endsWith(FORGOTTEN_SUFFIX)) return undefined;
  const id = name.slice(0, -FORGOTTEN_SUFFIX.length);
  return BACKUP_ID.test(id) ? id : undefined;
}

export function checkImmutableDays(days: number): void {
  if (!Number.isSafeInteger(days) || days < 1 || days > MAX_IMMUTABLE_DAYS) {
    throw new RangeError(`The immutability period must be a whole number of days from 1 to ${MAX_IMMUTABLE_DAYS}, not ${days}`);
  }
}

/** Milliseconds in one day of the period (a day, unless a test shortened it). */
function dayMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[TEST_DAY_SECONDS_VARIABLE];
  if (raw === undefined || raw === '') return DAY_MS;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`${TEST_DAY_SECONDS_VARIABLE} must be a positive number of seconds, not ${JSON.stringify(raw)}`);
  return seconds * 1000;
}

export class RetentionPeriod {
  private constructor(readonly ms: number) {}

  /** The period of a repository configured with `immutableDays`, or undefined when it is not immutable. */
  static of(immutableDays: number | undefined): RetentionPeriod | undefined {
    if (immutableDays === undefined || immutableDays === null) return undefined;
    checkImmutableDays(immutableDays);
    return new RetentionPeriod(immutableDays * dayMs());
  }

  /** When an object written at `modifiedAt` is certainly no longer retained. */
  expiresAt(info: Pick<ObjectInfo, 'modifiedAt'>): number {
    return info.modifiedAt + this.ms + RETENTION_MARGIN_MS;
  }

  isRetained(info: Pick<ObjectInfo, 'modifiedAt'>, now = Date.now()): boolean {
    return now < this.expiresAt(info);
  }
}
