/**
 * The scheduler: claims due runs in batches (see claims.ts), runs them through a `BackupRunner` with
 * bounded concurrency, keeps their leases alive while they are in hand, and records how each ended.
 *
 * Two ways to drive it:
 * - `start()` / `stop()`: the worker's loop. It claims ahead: policies due within
 *   `lookAheadSeconds` are claimed before their instant (their lease covers the wait) and held
 *   until it comes, then handed to the runner, so that a burst of 10 000 policies due at one instant
 *   starts on time instead of as fast as it can be claimed. It claims while full batches come back,
 *   else sleeps until `lookAheadSeconds` before the earliest `next_invocation_at` or `maxPollMs`,
 *   whichever is sooner, reading time from the injected `Clock`. On PostgreSQL it claims in
 *   `claimConcurrency` lanes at once (SKIP LOCKED keeps their batches apart).
 * - `runDue()`: claims everything due (and every expired lease) at the clock's now, runs it, and
 *   resolves with what ran (`dbp run-due`, tests). It does not claim ahead.
 *
 * Two runs of one policy never overlap: a run claimed while an earlier run of its policy was still
 * unfinished looks again at its instant, and is recorded as skipped (`previous run still running`)
 * without calling the runner if that earlier run has still not finished. The instant is not run
 * later: like the instants missed during downtime, the series carries on with the next one.
 *
 * A run cut short by a transient database error is given back at once (`retryLater`); one whose
 * repository store is unreachable is set aside and tried again after a backoff (`retryAfterStoreOutage`).
 */
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { millisecondsOf, type Clock } from '../domain/clock.js';
import { randomToken } from '../domain/ids.js';
import type { Engine } from '../store/database.js';
import type { BackupRunRow, Database } from '../store/schema.js';
import { adoptLostClaims, claimDueRuns, reclaimExpiredRuns } from './claims.js';
import { earliestInvocation } from './due-policies.js';
import { NO_SCHEDULER_METRICS, type SchedulerMetrics } from './metrics.js';
import { BatchWriter } from './batch-writer.js';
import {
  finishRuns,
  followsUnfinished,
  markRunning,
  outageFacts,
  PREVIOUS_RUN_UNFINISHED,
  releaseForRetry,
  releaseRuns,
  renewLeases,
  setAsideUntil,
  type RunEnding,
} from './run-records.js';
import { gaveUpOnStoreError, isStoreUnavailable, storeRetryDelaySeconds, storeTriesOf, waitingForStoreError } from './store-outage.js';
import { isTransientDatabaseError } from './transient-errors.js';
import type { BackupRunner, ClaimedRun, RunResult, RunStatus } from './runner.js';

export interface SchedulerSettings {
  /** Most policies (or expired runs) claimed in one transaction. */
  readonly batchSize: number;
  /** Most runs handed to the runner at once. */
  readonly maxConcurrentRuns: number;
  /**
   * Most claimed runs waiting, for a runner slot or (claimed ahead) for their instant; the loop
   * claims while a whole batch still fits. The default lets one worker take a burst of 10 000 runs
   * due at one instant ahead of it. A worker whose runs are slow should keep it (and `batchSize`)
   * near `maxConcurrentRuns`, leaving due runs to other workers.
   */
  readonly maxQueuedRuns: number;
  /**
   * The loop claims policies due up to this many seconds ahead and starts each on its instant.
   * Meanwhile a claimed policy's `next_invocation_at` already shows its following instant; the
   * instant claimed is in its run record (`claimed`, `scheduled_at`). 0: claim only what is due.
   */
  readonly lookAheadSeconds: number;
  /** How long a claim is this worker's without renewal; renewed every third of it while in hand. */
  readonly leaseSeconds: number;
  /** Claims of one run (the first and each retry after a lease expired) before it is failed. */
  readonly maxAttempts: number;
  /** Longest sleep of the loop between looks at the database. */
  readonly maxPollMs: number;
  /** Shortest sleep, when something is due that another worker holds. */
  readonly minPollMs: number;
  /** PostgreSQL: claim transactions one worker runs at once (SQLite has one writer: always 1). */
  readonly claimConcurrency: number;
  /**
   * A run is written as `running` once its runner has been at it this long; a shorter run is
   * written once, when it ends (with its start time). Saves a write per run for quick runs.
   */
  readonly markRunningAfterMs: number;
  /** Expired leases are looked for at most this often (real time), besides the first claim of a `runDue`. */
  readonly leaseCheckIntervalMs: number;
  /** On stop, how long running runs get to finish after their signal aborts. */
  readonly stopGraceMs: number;
  /**
   * A run that fails because the repository's store is unreachable is tried again this many seconds
   * later, then twice that, … at most `storeRetryMaxSeconds` (never sooner; on any worker), …
   */
  readonly storeRetryFirstSeconds: number;
  readonly storeRetryMaxSeconds: number;
  /** …up to this many tries in all (the first included), or until its policy's next instant is due; then it is failed. */
  readonly storeRetryTries: number;
}

export const DEFAULT_SCHEDULER_SETTINGS: SchedulerSettings = {
  batchSize: 500,
  maxConcurrentRuns: 32,
  maxQueuedRuns: 10_000,
  lookAheadSeconds: 5,
  leaseSeconds: 300,
  maxAttempts: 3,
  maxPollMs: 5_000,
  minPollMs: 100,
  claimConcurrency: 2,
  markRunningAfterMs: 1_000,
  leaseCheckIntervalMs: 1_000,
  stopGraceMs: 10_000,
  // 30 s, 1, 2, 4, 8 min, then 15 min: eight tries span about 45 minutes of outage.
  storeRetryFirstSeconds: 30,
  storeRetryMaxSeconds: 900,
  storeRetryTries: 8,
};

export interface SchedulerDependencies {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  readonly clock: Clock;
  readonly runner: BackupRunner;
  readonly logger: Logger | false;
  readonly metrics?: SchedulerMetrics;
  /** Identifies this worker in the runs it claims; unique per process by default. */
  readonly workerId?: string;
  readonly settings?: Partial<SchedulerSettings>;
}

/** A run as it ended in this worker. */
export interface FinishedRun {
  readonly run: ClaimedRun;
  readonly status: RunStatus;
  readonly error: string | null;
  /** True when any of its backups was read live (not from a point-in-time clone). */
  readonly liveRead: boolean;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** False when the worker had lost the run (its lease was taken over), so nothing was recorded. */
  readonly recorded: boolean;
}

interface HeldRun {
  readonly run: ClaimedRun;
  /**
   * queued (claimed ahead and waiting for its instant, or waiting for a runner slot) → running (in
   * the runner) → finishing (its ending being written)
   */
  state: 'queued' | 'running' | 'finishing';
  /** Made when the run starts (thousands may wait for their instant; they need none until then). */
  controller?: AbortController;
  /** The claim saw an earlier run of the policy unfinished: look again before running (no overlap). */
  readonly followsUnfinished: boolean;
}

/** `runDue` claims again at most this many times for runs given back after transient database errors. */
const RUN_DUE_ROUNDS = 10;

export function defaultWorkerId(): string {
  return `${hostname()}/${process.pid}/${randomToken(6)}`;
}

export class Scheduler {
  readonly workerId: string;
  readonly settings: SchedulerSettings;
  private readonly db: Kysely<Database>;
  private readonly engine: Engine;
  private readonly clock: Clock;
  private readonly runner: BackupRunner;
  private readonly logger: Logger | false;
  private readonly metrics: SchedulerMetrics;

  /** Every run this worker holds, from its claim until its ending is recorded (or it is let go). */
  private readonly held = new Map<string, HeldRun>();
  /** Claimed runs waiting for a runner slot, in claim order. */
  private queue: HeldRun[] = [];
  /** Runs claimed ahead, by their instant (Unix seconds), each instant with the timer that queues them. */
  private readonly waiting = new Map<number, { runs: HeldRun[]; timer: NodeJS.Timeout }>();
  private waitingCount = 0;
  /** Runner slots in use: runs in their runner. */
  private busySlots = 0;
  /** Room in the queue promised to claims in flight. */
  private reservedRoom = 0;
  /** When (Date.now()) to look for expired leases next; 0: at the next claim. */
  private nextLeaseCheckMs = 0;
  private readonly starts: BatchWriter<{ id: string; startedAt: number }, boolean>;
  private readonly finishes: BatchWriter<RunEnding, boolean>;
  private readonly finishedListeners = new Set<(finished: FinishedRun) => void>();
  /** Called whenever the queue shrinks or a held run is let go: the claim and idleness waiters look again. */
  private readonly changeListeners = new Set<() => void>();
  private heartbeat: NodeJS.Timeout | undefined;
  private loopDone: Promise<void> | undefined;
  private readonly sleepers = new Set<() => void>();
  private stopping = false;
  /** Runs given back after a transient database error (see `retryLater`). */
  private retriesGiven = 0;

  constructor(dependencies: SchedulerDependencies) {
    this.db = dependencies.db;
    this.engine = dependencies.engine;
    this.clock = dependencies.clock;
    this.runner = dependencies.runner;
    this.logger = dependencies.logger;
    this.metrics = dependencies.metrics ?? NO_SCHEDULER_METRICS;
    this.workerId = dependencies.workerId ?? defaultWorkerId();
    this.settings = { ...DEFAULT_SCHEDULER_SETTINGS, ...dependencies.settings };
    this.starts = new BatchWriter(async (starts) => {
      const running = await markRunning(this.db, this.engine, starts, this.workerId);
      return starts.map((start) => running.has(start.id));
    }, this.settings.batchSize);
    this.finishes = new BatchWriter(async (endings) => {
      const recorded = await finishRuns(this.db, this.engine, endings, this.workerId);
      return endings.map((ending) => recorded.has(ending.run.id));
    }, this.settings.batchSize);
  }

  /** Starts the loop (idempotent). */
  start(): void {
    if (this.loopDone) return;
    this.stopping = false;
    this.startHeartbeat();
    const lanes = this.engine === 'postgres' ? Math.max(1, this.settings.claimConcurrency) : 1;
    this.loopDone = Promise.all(Array.from({ length: lanes }, () => this.loop())).then(() => undefined);
  }

  /**
   * Stops claiming, gives queued runs back at once, aborts running ones and waits (up to
   * `stopGraceMs`) for them; a run that has not finished by then is given back for another worker.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.sleepers]) wake();
    this.notifyChange();
    await this.loopDone;
    this.loopDone = undefined;
    const queued = [...this.queue.splice(0), ...this.stopWaiting()].filter((held) => held.state === 'queued' && this.isHeld(held));
    await this.release(queued);
    for (const held of this.held.values()) held.controller?.abort(new Error('the worker is stopping'));
    await Promise.race([this.whenIdle(), delay(this.settings.stopGraceMs)]);
    await this.release([...this.held.values()]);
    this.stopHeartbeat();
  }

  /** Claims and runs everything due at the clock's now; resolves with how each run ended. */
  async runDue(): Promise<FinishedRun[]> {
    const finished: FinishedRun[] = [];
    const collect = (run: FinishedRun) => finished.push(run);
    this.finishedListeners.add(collect);
    const ownsHeartbeat = this.heartbeat === undefined;
    if (ownsHeartbeat) this.startHeartbeat();
    try {
      // A run given back after a transient database error is claimed again in the next round.
      for (let round = 0; round < RUN_DUE_ROUNDS; round++) {
        const retriesBefore = this.retriesGiven;
        this.nextLeaseCheckMs = 0;
        while (await this.claimBatch(0));
        await this.whenIdle();
        if (this.retriesGiven === retriesBefore) break;
      }
    } finally {
      this.finishedListeners.delete(collect);
      if (ownsHeartbeat) this.stopHeartbeat();
    }
    return finished;
  }

  /** Calls `listener` with every run this scheduler finishes (for tests and benchmarks). */
  onFinished(listener: (finished: FinishedRun) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  // ---- The loop -------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        if (await this.claimBatch(this.settings.lookAheadSeconds)) continue;
        await this.sleep(await this.msUntilNextDue());
      } catch (error) {
        // A deadlock or serialization failure is another transaction's bad timing: try again at once.
        const transient = isRetryableConflict(error);
        this.log('warn', { err: error }, `scheduler: claiming failed; trying again${transient ? '' : ' shortly'}`);
        await this.sleep(transient ? 0 : isTransientDatabaseError(error) ? this.settings.minPollMs : this.settings.maxPollMs);
        // A claim cut off with its connection may have committed all the same: take its runs in hand.
        if (isTransientDatabaseError(error)) await this.adoptLostClaims();
      }
    }
  }

  /**
   * Claims one batch: expired leases first, then policies due within `lookAheadSeconds`, up to the
   * room in the queue. Answers whether the batch came back full (so more may be waiting).
   */
  private async claimBatch(lookAheadSeconds: number): Promise<boolean> {
    const limit = Math.min(this.settings.batchSize, this.settings.maxQueuedRuns);
    await this.waitFor(() => this.stopping || this.claimRoom() >= limit);
    if (this.stopping) return false;
    this.reservedRoom += limit;
    try {
      const now = this.clock.now();
      const options = { now, limit, workerId: this.workerId, leaseSeconds: this.settings.leaseSeconds };
      let taken = 0;
      if (Date.now() >= this.nextLeaseCheckMs) {
        const expired = await reclaimExpiredRuns(this.db, this.engine, { ...options, maxAttempts: this.settings.maxAttempts });
        for (const run of expired.abandoned) this.reportAbandoned(run);
        for (const run of expired.runs) this.hold(run, expired.followingUnfinished.has(run.id));
        taken = expired.runs.length + expired.abandoned.length;
        // A full batch of expired runs may mean more: look again at the next claim.
        this.nextLeaseCheckMs = taken >= limit ? 0 : Date.now() + this.settings.leaseCheckIntervalMs;
      }
      const due = await claimDueRuns(this.db, this.engine, { ...options, until: now + lookAheadSeconds, limit: limit - taken });
      for (const { policyId, error } of due.unschedulable) {
        this.log('error', { policy: policyId, err: error }, 'scheduler: next invocation could not be computed; trying again in an hour');
      }
      for (const run of due.runs) this.hold(run, due.followingUnfinished.has(run.id));
      return taken + due.policies >= limit;
    } finally {
      this.reservedRoom -= limit;
      this.notifyChange();
      this.dispatch();
    }
  }

  private async adoptLostClaims(): Promise<void> {
    try {
      const runs = await adoptLostClaims(this.db, this.engine, {
        workerId: this.workerId,
        known: new Set(this.held.keys()),
        now: this.clock.now(),
        leaseSeconds: this.settings.leaseSeconds,
      });
      if (runs.length === 0) return;
      this.log('warn', { runs: runs.length, worker: this.workerId }, 'scheduler: took in hand runs claimed by a claim whose answer was lost');
      // Whether an earlier run of the policy is unfinished is looked up again when each starts.
      for (const run of runs) if (!this.held.has(run.id)) this.hold(run, true);
      this.dispatch();
    } catch (error) {
      this.log('warn', { err: error }, 'scheduler: could not look for lost claims; their leases expire and they are retried then');
    }
  }

  private async msUntilNextDue(): Promise<number> {
    const earliest = await earliestInvocation(this.db, this.clock.now());
    if (earliest === null) return this.settings.maxPollMs;
    // +2 ms: wake just after the second turns, so that `now()` reads the second to claim up to.
    const wait = (earliest - this.settings.lookAheadSeconds) * 1000 - millisecondsOf(this.clock) + 2;
    if (wait <= 0) return this.settings.minPollMs; // due, but another worker holds it
    return Math.min(wait, this.settings.maxPollMs);
  }

  private wakeSleepers(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  /** Sleeps `ms`, or less when the scheduler stops meanwhile. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  // ---- Running claimed runs ---------------------------------------------------------------------

  /** How many more runs the loop may claim: room in the queue of runs waiting for a runner slot. */
  private claimRoom(): number {
    return this.settings.maxQueuedRuns - this.queue.length - this.waitingCount - this.reservedRoom;
  }

  /** Takes a claimed run in hand: into the queue when its instant has come, else to wait for it. */
  private hold(run: ClaimedRun, followsUnfinished: boolean): void {
    const previous = this.held.get(run.id);
    // This worker lost its own lease (it could not renew in time) and claimed the run again.
    if (previous) this.drop(previous, 'the run was claimed again');
    const held: HeldRun = { run, state: 'queued', followsUnfinished };
    this.held.set(run.id, held);
    // +2 ms: start just after the second turns, so that `now()` reads the scheduled second.
    const waitMs = run.scheduledAt * 1000 - millisecondsOf(this.clock) + 2;
    if (waitMs <= 0) {
      this.queue.push(held);
      return;
    }
    let instant = this.waiting.get(run.scheduledAt);
    if (!instant) {
      const timer = setTimeout(() => this.instantCame(run.scheduledAt), waitMs);
      instant = { runs: [], timer };
      this.waiting.set(run.scheduledAt, instant);
    }
    instant.runs.push(held);
    this.waitingCount++;
  }

  /** Queues the runs claimed ahead for `scheduledAt`, now that it has come. */
  private instantCame(scheduledAt: number): void {
    const instant = this.waiting.get(scheduledAt);
    if (!instant) return;
    this.waiting.delete(scheduledAt);
    this.waitingCount -= instant.runs.length;
    this.queue.push(...instant.runs);
    this.dispatch();
  }

  /** Cancels the waits of the runs claimed ahead; answers those runs. */
  private stopWaiting(): HeldRun[] {
    const runs: HeldRun[] = [];
    for (const instant of this.waiting.values()) {
      clearTimeout(instant.timer);
      runs.push(...instant.runs);
    }
    this.waiting.clear();
    this.waitingCount = 0;
    return runs;
  }

  /** Starts queued runs while runner slots are free. */
  private dispatch(): void {
    let dequeued = false;
    while (!this.stopping && this.busySlots < this.settings.maxConcurrentRuns && this.queue.length > 0) {
      const held = this.queue.shift()!;
      dequeued = true;
      if (held.state !== 'queued' || !this.isHeld(held)) continue; // let go while it waited
      this.busySlots++;
      void this.execute(held);
    }
    if (dequeued) this.notifyChange();
  }

  /**
   * Runs a claimed run and records how it ended. The claim already made the run this worker's (for
   * the lease), so the runner starts at once. A run still going after `markRunningAfterMs` is
   * written as running (batched with other starts; a run found lost by that write is aborted); a
   * quicker one is written once, when it ends.
   */
  private async execute(held: HeldRun): Promise<void> {
    const { run } = held;
    const controller = (held.controller = new AbortController());
    held.state = 'running';
    const startedAt = this.clock.now();
    const startedMs = millisecondsOf(this.clock);
    this.metrics.observeLag(startedMs / 1000 - run.scheduledAt);
    let markedRunning: Promise<void> | undefined;
    const markRunningTimer = setTimeout(() => {
      markedRunning = this.starts.submit({ id: run.id, startedAt }).then(
        (stillHeld) => {
          if (!stillHeld && this.isHeld(held)) this.lost(held);
        },
        (error: unknown) => this.log('warn', { err: error, run: run.id }, 'scheduler: could not record that a run started'),
      );
    }, this.settings.markRunningAfterMs);

    let result: RunResult;
    let transient: unknown;
    let storeOutage: unknown;
    try {
      if (held.followsUnfinished && (await followsUnfinished(this.db, run.id))) {
        result = { status: 'skipped', error: PREVIOUS_RUN_UNFINISHED };
      } else {
        const answer = await this.runner.run(run, controller.signal);
        result = { status: answer.status, error: answer.error ?? null, liveRead: answer.liveRead === true };
      }
    } catch (thrown) {
      if (isStoreUnavailable(thrown)) storeOutage = thrown;
      else if (isTransientDatabaseError(thrown)) transient = thrown;
      result = { status: 'failed', error: (thrown as Error)?.message ?? String(thrown) };
    }
    const durationMs = millisecondsOf(this.clock) - startedMs;
    clearTimeout(markRunningTimer);
    this.busySlots--;
    this.dispatch();

    await markedRunning; // a start being written is written before the end
    if (!this.isHeld(held)) return; // lost meanwhile: another worker owns the run now
    if (transient !== undefined) {
      await this.retryLater(held, transient);
      return;
    }
    if (this.stopping && controller.signal.aborted && result.status !== 'succeeded') {
      // Cut short by this worker stopping: not the run's fault, so it is given back, not failed.
      await this.release([held]);
      return;
    }
    held.state = 'finishing';
    if (storeOutage !== undefined) {
      const failed = await this.retryAfterStoreOutage(held, storeOutage);
      if (failed === undefined) return;
      result = failed;
    }
    await this.record(held, result, startedAt, startedMs, durationMs);
  }

  /**
   * The repository's store was unreachable (store-outage.ts): the run is set aside to be tried again
   * after a backoff, by whichever worker claims it then, while tries are left and its policy's next
   * instant is not due before then; answers undefined. Otherwise answers the failed result to record
   * (one line: how many tries, why no more, the store's error). If the run cannot be set aside (a
   * database error), its lease expires and it is retried then, like any run whose worker stopped.
   */
  private async retryAfterStoreOutage(held: HeldRun, error: unknown): Promise<RunResult | undefined> {
    const { run } = held;
    const { storeRetryFirstSeconds, storeRetryMaxSeconds, storeRetryTries } = this.settings;
    try {
      const facts = await withTransientRetries(() => outageFacts(this.db, run.id));
      const tries = storeTriesOf(facts?.error) + 1;
      if (tries >= storeRetryTries) return { status: 'failed', error: gaveUpOnStoreError(tries, 'tries', error) };
      const nextTryAt = this.clock.now() + storeRetryDelaySeconds(tries, storeRetryFirstSeconds, storeRetryMaxSeconds);
      const nextInstant = facts?.nextInvocationAt ?? null;
      // Waiting past the next instant would make that instant's run a skipped one (runs never overlap).
      if (nextInstant !== null && nextTryAt >= nextInstant) return { status: 'failed', error: gaveUpOnStoreError(tries, { nextInstant }, error) };
      const note = waitingForStoreError(tries, storeRetryTries, nextTryAt, error);
      await withTransientRetries(() => setAsideUntil(this.db, run, this.workerId, nextTryAt, note));
      this.log('warn', { run: run.id, policy: run.policyId, attempt: run.attempt, tries, next_try_at: nextTryAt, err: note, worker: this.workerId }, 'backup run: the repository store is unreachable; it is tried again later');
    } catch (failed) {
      this.log('warn', { err: failed, run: run.id }, 'scheduler: could not set a run aside after a store outage; it is retried when its lease expires');
    }
    this.letGo(held);
    return undefined;
  }

  /**
   * A transient database error cut the run short: it is given back to be tried again at once (by
   * whichever worker claims it first), not recorded as failed. If even that cannot be written, its
   * lease expires and it is retried then. Either way the retry does not take again a backup this
   * attempt completed (see `ClaimedRun.resumed`).
   */
  private async retryLater(held: HeldRun, error: unknown): Promise<void> {
    const { run } = held;
    const message = (error as Error)?.message ?? String(error);
    this.log('warn', { run: run.id, policy: run.policyId, attempt: run.attempt, err: message, worker: this.workerId }, 'backup run cut short by a database error; it is retried');
    this.metrics.countLostLease();
    await withTransientRetries(() => releaseForRetry(this.db, run, this.workerId, this.clock.now(), message)).catch((failed: unknown) =>
      this.log('warn', { err: failed, run: run.id }, 'scheduler: could not give a run back; it is retried when its lease expires'),
    );
    this.retriesGiven++;
    this.letGo(held);
    this.nextLeaseCheckMs = 0;
    this.wakeSleepers();
  }

  /** Writes how the run ended (batched with other endings), reports it, and lets it go. */
  private async record(held: HeldRun, result: RunResult, startedAt: number, startedMs: number, durationMs: number): Promise<void> {
    const { run } = held;
    const finishedAt = this.clock.now();
    let recorded = false;
    try {
      // A connection cut while the ending is written is no reason to leave it to the lease's expiry.
      recorded = await withTransientRetries(() => this.finishes.submit({ run, result, startedAt, finishedAt }));
    } catch (error) {
      this.log('warn', { err: error, run: run.id }, 'scheduler: could not record a finished run; it is retried when its lease expires');
    }
    const status = result.status;
    const error = result.error ?? null;
    if (recorded) this.metrics.countRun(status);
    else this.metrics.countLostLease();
    this.log(
      recorded ? (status === 'failed' ? 'warn' : 'info') : 'warn',
      {
        run: run.id, policy: run.policyId, organization: run.organizationId, disks: run.targetDiskIds,
        scheduled_at: run.scheduledAt, attempt: run.attempt, status, error, live_read: result.liveRead === true,
        lag_seconds: startedMs / 1000 - run.scheduledAt, duration_ms: durationMs, worker: this.workerId, recorded,
      },
      recorded ? `backup run ${status}` : 'backup run finished after its lease was lost; not recorded',
    );
    this.letGo(held);
    const finished: FinishedRun = { run, status, error, liveRead: result.liveRead === true, startedAt, finishedAt, recorded };
    for (const listener of this.finishedListeners) listener(finished);
  }

  private reportAbandoned(row: BackupRunRow): void {
    this.metrics.countRun('failed');
    this.log('warn', {
      run: row.id, policy: row.policy_id, organization: row.organization_id, scheduled_at: row.scheduled_at,
      attempt: row.attempts, status: row.status, error: row.error, worker: this.workerId, recorded: true,
    }, 'backup run failed');
  }

  private isHeld(held: HeldRun): boolean {
    return this.held.get(held.run.id) === held;
  }

  /** Another worker took the run over (this worker's lease expired): stop it and forget it. */
  private lost(held: HeldRun): void {
    this.metrics.countLostLease();
    this.log('warn', { run: held.run.id, policy: held.run.policyId, worker: this.workerId }, 'scheduler: lost a run to another worker (lease expired)');
    this.drop(held, 'the run was taken over by another worker');
  }

  private drop(held: HeldRun, reason: string): void {
    held.controller?.abort(new Error(reason));
    this.letGo(held);
  }

  private letGo(held: HeldRun): void {
    if (this.isHeld(held)) this.held.delete(held.run.id);
    this.notifyChange();
  }

  private async release(runs: HeldRun[]): Promise<void> {
    if (runs.length === 0) return;
    try {
      const releases = runs.map((held) => ({ id: held.run.id, started: held.state !== 'queued' }));
      await releaseRuns(this.db, this.engine, releases, this.workerId, this.clock.now());
    } catch (error) {
      this.log('warn', { err: error, runs: runs.length }, 'scheduler: could not give runs back; they are retried when their lease expires');
    }
    for (const held of runs) this.letGo(held);
  }

  // ---- Leases -----------------------------------------------------------------------------------

  private startHeartbeat(): void {
    const every = Math.max(1000, (this.settings.leaseSeconds * 1000) / 3);
    this.heartbeat = setInterval(() => void this.renewLeases(), every);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private async renewLeases(): Promise<void> {
    const held = [...this.held.values()];
    if (held.length === 0) return;
    try {
      const renewed = await renewLeases(this.db, this.engine, held.map((h) => h.run.id), this.workerId, this.clock.now() + this.settings.leaseSeconds);
      for (const h of held) if (!renewed.has(h.run.id) && this.isHeld(h)) this.lost(h);
    } catch (error) {
      this.log('warn', { err: error }, 'scheduler: could not renew leases; trying again');
    }
  }

  // ---- Waiting ----------------------------------------------------------------------------------

  private notifyChange(): void {
    for (const listener of [...this.changeListeners]) listener();
  }

  private waitFor(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const listener = () => {
        if (!condition()) return;
        this.changeListeners.delete(listener);
        resolve();
      };
      this.changeListeners.add(listener);
    });
  }

  private whenIdle(): Promise<void> {
    return this.waitFor(() => this.held.size === 0);
  }

  private log(level: 'info' | 'warn' | 'error', fields: object, message: string): void {
    if (this.logger) this.logger[level](fields, message);
  }
}

/** PostgreSQL's deadlock_detected and serialization_failure: the transaction rolled back and may simply be retried. */
function isRetryableConflict(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === '40P01' || code === '40001';
}

/** Runs a database write again (a few times, a little apart) while it fails with a transient error. */
async function withTransientRetries<T>(write: () => Promise<T>, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= tries || !isTransientDatabaseError(error)) throw error;
      await delay(100 * 2 ** attempt);
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
