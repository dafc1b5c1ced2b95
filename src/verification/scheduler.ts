/**
 * The worker's verification scheduler (issue 19, part 3): re-reads and authenticates each backup at
 * most every `everySeconds`, the backup verified longest ago first (never verified before any), one
 * at a time, and never for more than `maxShare` of the worker's time: after a verification that took
 * t seconds it waits at least t·(1 − share)/share before the next, so a backlog (the first start, a
 * restored catalogue) is worked through spread over time instead of all at once.
 *
 * Each verification goes through the backup engine's `verify` (BackupEngine.verify), the same path as
 * `dbp verify` and the API's verify endpoint: it records the backup's last verification in the
 * catalogue, counts it in the metrics (and whatever else that path announces). Several workers on one
 * catalogue share the work through leased claims (claims.ts); `stop()` aborts a verification in
 * progress and gives its claim back.
 */
import type { Logger } from 'pino';
import type { Kysely } from 'kysely';
import type { Clock } from '../domain/clock.js';
import type { Engine } from '../store/database.js';
import type { Database } from '../store/schema.js';
import { claimNextVerification, releaseVerificationClaim, renewVerificationClaim, secondsUntilNextVerification, type VerificationClaim } from './claims.js';

export const SECONDS_PER_DAY = 86_400;

export interface VerificationSettings {
  /** Each backup is verified at most once per this many seconds; 0 turns scheduled verification off. */
  readonly everySeconds: number;
  /** The share (0 < share ≤ 1) of the worker's time verification may take. */
  readonly maxShare: number;
  /** How long a claim holds before another worker may take the backup (renewed while verifying). */
  readonly leaseSeconds: number;
  /** Longest sleep between looks at the catalogue when nothing is due. */
  readonly maxPollMs: number;
  /** Shortest pause between two looks (and after an error). */
  readonly minPollMs: number;
}

export const DEFAULT_VERIFICATION_SETTINGS: VerificationSettings = {
  everySeconds: 30 * SECONDS_PER_DAY,
  maxShare: 0.2,
  leaseSeconds: 300,
  maxPollMs: 60_000,
  minPollMs: 1_000,
};

/** What the scheduler needs of the backup engine (BackupEngine implements it). */
export interface BackupVerifier {
  verify(backupId: string, onProgress?: undefined, signal?: AbortSignal): Promise<{ readonly affectedBackups: readonly string[]; readonly bytesChecked: number }>;
}

/** One verification the scheduler finished (for the log and the tests). */
export interface ScheduledVerification {
  readonly backupId: string;
  readonly outcome: 'ok' | 'failed' | 'error';
  readonly seconds: number;
  /** When it started and ended (milliseconds of the process's monotonic clock, `performance.now()`). */
  readonly startedMs: number;
  readonly endedMs: number;
  readonly error?: string;
}

export interface VerificationSchedulerOptions {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  readonly clock: Clock;
  readonly verifier: BackupVerifier;
  readonly logger: Logger | false;
  readonly settings?: Partial<VerificationSettings>;
  /** Told of each finished verification. */
  readonly onVerified?: (verification: ScheduledVerification) => void;
}

export class VerificationScheduler {
  readonly settings: VerificationSettings;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: VerificationSchedulerOptions) {
    this.settings = { ...DEFAULT_VERIFICATION_SETTINGS, ...options.settings };
    const { everySeconds, maxShare } = this.settings;
    if (!(everySeconds >= 0)) throw new RangeError(`the verification period must be 0 (off) or more seconds, not ${everySeconds}`);
    if (!(maxShare > 0 && maxShare <= 1)) throw new RangeError(`the verification share must be more than 0 and at most 1, not ${maxShare}`);
  }

  get enabled(): boolean {
    return this.settings.everySeconds > 0;
  }

  /** Starts the loop (nothing when the period is 0). */
  start(): void {
    if (!this.enabled || this.loop) return;
    this.loop = this.run();
  }

  /** Stops promptly: a verification in progress is aborted and its backup's claim given back. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('the worker is shutting down'));
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { minPollMs } = this.settings;
    while (!this.stopping.signal.aborted) {
      let pauseMs: number;
      try {
        pauseMs = await this.verifyNext();
      } catch (error) {
        // A database error: look again a little later.
        this.log('warn', { err: error }, 'scheduled verification: could not read the catalogue; trying again');
        pauseMs = minPollMs;
      }
      await this.sleep(pauseMs);
    }
  }

  /** Verifies the next due backup, if any; answers how long to wait before the next look. */
  private async verifyNext(): Promise<number> {
    const { db, engine, clock } = this.options;
    const { everySeconds, leaseSeconds, maxShare, minPollMs, maxPollMs } = this.settings;
    const claim = await claimNextVerification(db, engine, { now: clock.now(), everySeconds, leaseSeconds });
    if (!claim) {
      const seconds = await secondsUntilNextVerification(db, clock.now(), everySeconds);
      return clamp(seconds === null ? maxPollMs : seconds * 1000, minPollMs, maxPollMs);
    }
    const verification = await this.verifyClaimed(claim);
    this.options.onVerified?.(verification);
    // The share: t of work is followed by at least t·(1 − share)/share of rest.
    return Math.max(minPollMs, ((verification.endedMs - verification.startedMs) * (1 - maxShare)) / maxShare);
  }

  private async verifyClaimed(claim: VerificationClaim): Promise<ScheduledVerification> {
    const { db, clock, verifier } = this.options;
    const { leaseSeconds } = this.settings;
    const { backupId, verifiedAt: previouslyAt } = claim;
    let held = { backupId, claimedUntil: claim.claimedUntil };
    const lost = new AbortController();
    const signal = AbortSignal.any([this.stopping.signal, lost.signal]);
    const renewal = setInterval(() => {
      const until = clock.now() + leaseSeconds;
      renewVerificationClaim(db, held, until).then(
        (renewed) => {
          if (renewed) held = { backupId, claimedUntil: until };
          else lost.abort(new Error('the claim on the backup was lost (its lease ran out and another worker took it)'));
        },
        (error: unknown) => this.log('warn', { backupId, err: error }, 'scheduled verification: could not renew the claim; trying again'),
      );
    }, (leaseSeconds * 1000) / 3);
    const startedMs = performance.now();
    try {
      const report = await verifier.verify(backupId, undefined, signal);
      const endedMs = performance.now();
      clearInterval(renewal);
      await releaseVerificationClaim(db, held).catch(() => {}); // else it ends with its lease
      const failed = report.affectedBackups.includes(backupId);
      const result: ScheduledVerification = { backupId, outcome: failed ? 'failed' : 'ok', seconds: (endedMs - startedMs) / 1000, startedMs, endedMs };
      if (failed) this.log('error', { backupId, seconds: result.seconds, bytesChecked: report.bytesChecked, previouslyAt }, 'scheduled verification: backup DAMAGED');
      else this.log('info', { backupId, seconds: result.seconds, bytesChecked: report.bytesChecked, previouslyAt }, 'scheduled verification: backup ok');
      return result;
    } catch (error) {
      const endedMs = performance.now();
      clearInterval(renewal);
      const message = (error as Error)?.message ?? String(error);
      // Stopped: given back at once. Lost: no longer ours to touch. Any other failure (the repository
      // unreachable or locked, the backup pruned meanwhile): held a lease longer, so that others go first.
      if (!lost.signal.aborted) await releaseVerificationClaim(db, held, signal.aborted ? null : clock.now() + leaseSeconds).catch(() => {});
      if (!signal.aborted) this.log('warn', { backupId, err: error }, 'scheduled verification could not be done; tried again later');
      return { backupId, outcome: 'error', seconds: (endedMs - startedMs) / 1000, startedMs, endedMs, error: message };
    } finally {
      clearInterval(renewal);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private log(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    if (this.options.logger) this.options.logger[level](fields, message);
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
