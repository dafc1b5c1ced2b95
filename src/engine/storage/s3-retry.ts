/**
 * How the S3 store retries a failed request: throttling (SlowDown, 429), 500/502/503/504, timeouts and
 * dropped or refused connections, as the SDK classifies them, up to `maxAttempts` attempts with
 * exponential backoff and jitter (200 ms, 400 ms, … at most 10 s; throttling starts at 1 s).
 *
 * The SDK's own standard strategy also keeps a retry budget per client (about 35 retries, refilled by
 * successes); a backup that sends thousands of requests across a flaky link would soon stop retrying
 * at all. Here every request has its own attempts and nothing more.
 */
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

class Attempt implements RetryToken {
  constructor(
    private readonly retries: number,
    private readonly delayMs: number,
  ) {}
  getRetryCount(): number {
    return this.retries;
  }
  getRetryDelay(): number {
    return this.delayMs;
  }
}

/** The delay before retry number `retry` (1 for the first): exponential, capped, with "equal jitter". */
export function backoffDelay(retry: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

export class S3RetryStrategy implements RetryStrategyV2 {
  readonly mode = 'standard';
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly policy: RetryPolicy) {
    if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive integer, not ${policy.maxAttempts}`);
    this.baseDelayMs = policy.baseDelayMs ?? 200;
    this.maxDelayMs = policy.maxDelayMs ?? 10_000;
  }

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return new Attempt(0, 0);
  }

  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retry = token.getRetryCount() + 1;
    const retryable = info.errorType === 'TRANSIENT' || info.errorType === 'THROTTLING';
    if (!retryable || retry >= this.policy.maxAttempts) throw info.error;
    const base = info.errorType === 'THROTTLING' ? Math.max(this.baseDelayMs, 1_000) : this.baseDelayMs;
    let delay = backoffDelay(retry, base, this.maxDelayMs);
    if (info.retryAfterHint instanceof Date) delay = Math.max(delay, Math.min(info.retryAfterHint.getTime() - Date.now(), this.maxDelayMs));
    return new Attempt(retry, delay);
  }

  recordSuccess(): void {
    // No budget to refill.
  }
}
