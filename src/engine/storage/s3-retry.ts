/**
 * How the S3 store retries a failed request: throttling (SlowDown, 429), 500/502/503/504, timeouts and
 * dropped or refused connections, as the SDK classifies them, up to `maxAttempts` attempts with
 * exponential backoff and jitter (200 ms, 400 ms, … at most 10 s; throttling starts at 1 s).
 *
 * The SDK's own standard strategy also keeps a retry budget per client (about 35 retries, refilled by
 * successes); a backup that sends thousands of requests across a flaky link would soon stop retrying
 * at all. Here every request has its own attempts and nothing more.
 *
 * Operators set the attempts and the first wait with DBP_S3_MAX_ATTEMPTS and DBP_S3_RETRY_BASE_MS
 * (docs/S3.md): fewer to give up on a dead store sooner, more for a flaky link.
 */
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export const DEFAULT_MAX_ATTEMPTS = 8;
export const DEFAULT_BASE_DELAY_MS = 200;
export const MAX_DELAY_MS = 10_000;
const MOST_ATTEMPTS = 20;

/** An S3 setting from the environment that cannot be used (the message names it and what it takes). */
export class S3SettingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'S3SettingError';
  }
}

function wholeNumberSetting(env: NodeJS.ProcessEnv, name: string, min: number, max: number, what: string): number | undefined {
  const text = env[name]?.trim();
  if (!text) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new S3SettingError(`${name} must be a whole number from ${min} to ${max} (${what}), not "${env[name]}"`);
  }
  return value;
}

/**
 * The retry policy the environment sets: DBP_S3_MAX_ATTEMPTS (attempts per request, the first
 * included) and DBP_S3_RETRY_BASE_MS (the ceiling of the first wait, doubled at each retry); the
 * defaults where unset. S3SettingError for a value that is not a whole number in range.
 */
export function retryPolicyFromEnvironment(env: NodeJS.ProcessEnv = process.env): Required<RetryPolicy> {
  return {
    maxAttempts: wholeNumberSetting(env, 'DBP_S3_MAX_ATTEMPTS', 1, MOST_ATTEMPTS, 'attempts per S3 request, the first included') ?? DEFAULT_MAX_ATTEMPTS,
    baseDelayMs: wholeNumberSetting(env, 'DBP_S3_RETRY_BASE_MS', 1, MAX_DELAY_MS, 'milliseconds of the first wait before a retry') ?? DEFAULT_BASE_DELAY_MS,
    maxDelayMs: MAX_DELAY_MS,
  };
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
    this.baseDelayMs = policy.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.maxDelayMs = policy.maxDelayMs ?? MAX_DELAY_MS;
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
