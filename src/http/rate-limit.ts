/**
 * Requests per token per minute (fixed one-minute windows). Two implementations behind one interface:
 * in process memory (one process: the SQLite default) and in the database (several processes on one
 * PostgreSQL share one budget; the request is counted by the statement that reads the token).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

export interface RateLimitResult {
  readonly allowed: boolean;
  readonly permitted: number;
  readonly remaining: number;
}

export interface RateLimiter {
  consume(key: string, permittedPerMinute: number, nowSeconds: number): Promise<RateLimitResult> | RateLimitResult;
  /**
   * True when the token query may count the request itself, in the same statement (PostgreSQL):
   * it is then given `rateLimitWindow(now)`, and its count turned into the answer by `counted`.
   */
  readonly countsWithToken: boolean;
  /** The answer for a request the token query counted: `used` is the window's count after it. */
  counted(used: number, permittedPerMinute: number, nowSeconds: number): RateLimitResult;
}

/** The one-minute window a moment falls in. */
export function rateLimitWindow(nowSeconds: number): number {
  return Math.floor(nowSeconds / 60);
}

function result(used: number, permitted: number): RateLimitResult {
  return used > permitted
    ? { allowed: false, permitted, remaining: 0 }
    : { allowed: true, permitted, remaining: permitted - used };
}

export class MemoryRateLimiter implements RateLimiter {
  readonly countsWithToken = false;
  private readonly windows = new Map<string, { minute: number; used: number }>();

  counted(used: number, permitted: number): RateLimitResult {
    return result(used, permitted);
  }

  consume(key: string, permitted: number, nowSeconds: number): RateLimitResult {
    const minute = rateLimitWindow(nowSeconds);
    let window = this.windows.get(key);
    if (!window || window.minute !== minute) {
      if (this.windows.size > 100_000) this.windows.clear(); // bound memory; stale windows are worthless
      window = { minute, used: 0 };
      this.windows.set(key, window);
    }
    // A request over the limit is not counted, so the window does not grow without end.
    if (window.used >= permitted) return result(permitted + 1, permitted);
    window.used += 1;
    return result(window.used, permitted);
  }
}

/**
 * The request count lives in `rate_limit_windows`, one row per token and minute. Normally the token
 * query counts the request in the same statement (`countsWithToken`, see TokenService.authenticate),
 * so a request costs one round trip; `consume` is the upsert alone, for a request that statement did
 * not count (a token whose network list this process has not yet checked).
 */
export class DatabaseRateLimiter implements RateLimiter {
  readonly countsWithToken = true;
  private lastCleanupMinute = 0;

  constructor(private readonly db: Kysely<Database>) {}

  async consume(key: string, permitted: number, nowSeconds: number): Promise<RateLimitResult> {
    const minute = rateLimitWindow(nowSeconds);
    const row = await this.db
      .insertInto('rate_limit_windows')
      .values({ token_id: key, minute, used: 1 })
      .onConflict((oc) => oc.columns(['token_id', 'minute']).doUpdateSet((eb) => ({ used: eb('rate_limit_windows.used', '+', 1) })))
      .returning('used')
      .executeTakeFirstOrThrow();
    return this.counted(Number(row.used), permitted, nowSeconds);
  }

  counted(used: number, permitted: number, nowSeconds: number): RateLimitResult {
    const minute = rateLimitWindow(nowSeconds);
    if (minute > this.lastCleanupMinute) {
      this.lastCleanupMinute = minute;
      // Past windows are never read again; dropping them once a minute keeps the table small.
      void this.db.deleteFrom('rate_limit_windows').where('minute', '<', minute - 1).execute().catch(() => {});
    }
    return result(used, permitted);
  }
}
