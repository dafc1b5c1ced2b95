/**
 * Requests per token per minute. This implementation counts in process memory, which is right for
 * one process on SQLite; several processes need a shared counter behind the same interface.
 */
export interface RateLimitResult {
  readonly allowed: boolean;
  readonly permitted: number;
  readonly remaining: number;
}

export interface RateLimiter {
  consume(key: string, permittedPerMinute: number, nowSeconds: number): Promise<RateLimitResult> | RateLimitResult;
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
    if (window.used >= permitted) return { allowed: false, permitted, remaining: 0 };
    window.used += 1;
    return { allowed: true, permitted, remaining: permitted - window.used };
  }
}
