/**
 * Requests per token per minute (fixed one-minute windows). Two implementations behind one interface:
 * in process memory (one process: the SQLite default) and in the database (several processes on one
 * PostgreSQL share one budget, at the cost of one upsert per request).
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
}

function result(used: number, permitted: number): RateLimitResult {
  return used > permitted
    ? { allowed: false, permitted, remaining: 0 }
    : { allowed: true, permitted, remaining: permitted - used };
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { minute: number; used: number }>();

  consume(key: string, permitted: number, nowSeconds: number): RateLimitResult {
    const minute = Math.floor(nowSeconds / 60);
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

export class DatabaseRateLimiter implements RateLimiter {
  private lastCleanupMinute = 0;

  constructor(private readonly db: Kysely<Database>) {}

  async consume(key: string, permitted: number, nowSeconds: number): Promise<RateLimitResult> {
    const minute = Math.floor(nowSeconds / 60);
    const row = await this.db
      .insertInto('rate_limit_windows')
      .values({ token_id: key, minute, used: 1 })
      .onConflict((oc) => oc.columns(['token_id', 'minute']).doUpdateSet((eb) => ({ used: eb('rate_limit_windows.used', '+', 1) })))
      .returning('used')
      .executeTakeFirstOrThrow();
    if (minute > this.lastCleanupMinute) {
      this.lastCleanupMinute = minute;
      // Past windows are never read again; dropping them once a minute keeps the table small.
      void this.db.deleteFrom('rate_limit_windows').where('minute', '<', minute - 1).execute().catch(() => {});
    }
    return result(Number(row.used), permitted);
  }
}
