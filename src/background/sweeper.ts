/**
 * Background housekeeping of the `worker` role: moves policies whose scheduled deletion has come to
 * the trash, purges trash past its keep_until, prunes run records to a bounded history, and deletes
 * long operations (`async=true`) finished more than `keepOperationsSeconds` ago. Each
 * step is idempotent, so several workers on one database may sweep at once.
 */
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';
import { KEEP_FINISHED_SECONDS } from '../services/operations.js';

export interface SweeperOptions {
  /** Time between sweeps; 0: only the first sweep and `sweepOnce`. */
  readonly intervalMs: number;
  /** Finished run records kept per policy (its newest); unfinished ones are always kept. */
  readonly keepRunsPerPolicy: number;
  /** Run records looked at per pruning statement, and most deleted by one. */
  readonly pruneBatchRuns: number;
  /** Most pruning statements per sweep; the next sweep carries on where this one stopped. */
  readonly pruneBatchesPerSweep: number;
  /** How long a finished operation stays readable. */
  readonly keepOperationsSeconds: number;
}

export const DEFAULT_SWEEPER_OPTIONS: SweeperOptions = {
  intervalMs: 60_000,
  keepRunsPerPolicy: 100,
  pruneBatchRuns: 1_000,
  pruneBatchesPerSweep: 100,
  keepOperationsSeconds: KEEP_FINISHED_SECONDS,
};

export interface Sweeper {
  /** One sweep now; resolves when it is done. */
  sweepOnce(): Promise<void>;
  stop(): void;
}

export function startSweeper(services: Services, logger: Logger | false, settings: Partial<SweeperOptions> = {}): Sweeper {
  const options = { ...DEFAULT_SWEEPER_OPTIONS, ...settings };
  // Every run record is looked at once per process (from the first); a record that comes later
  // prunes its policy when it passes the cursor.
  let pruneCursor = 0;
  const pruneRuns = async () => {
    let pruned = 0;
    for (let batch = 0; batch < options.pruneBatchesPerSweep; batch++) {
      const step = await services.runs.pruneBatch({
        afterPk: pruneCursor,
        keepPerPolicy: options.keepRunsPerPolicy,
        batchRuns: options.pruneBatchRuns,
        maxDeletes: options.pruneBatchRuns,
      });
      pruneCursor = step.nextAfterPk;
      pruned += step.deleted;
      if (step.caughtUp) break;
    }
    return pruned;
  };
  const sweep = async () => {
    try {
      const trashed = await services.policies.trashScheduledDeletions();
      if (trashed > 0 && logger) logger.info({ trashed }, 'moved policies with a scheduled deletion to the trash');
      const purged = await services.trash.purgeExpired();
      if (purged > 0 && logger) logger.info({ purged }, 'purged expired trash');
      const pruned = await pruneRuns();
      if (pruned > 0 && logger) logger.info({ pruned }, 'pruned old run records');
      let operations = 0;
      for (let batch = 0; batch < options.pruneBatchesPerSweep; batch++) {
        const deleted = await services.operations.pruneFinished(options.keepOperationsSeconds, options.pruneBatchRuns);
        operations += deleted;
        if (deleted < options.pruneBatchRuns) break;
      }
      if (operations > 0 && logger) logger.info({ operations }, 'deleted old finished operations');
    } catch (error) {
      if (logger) logger.warn({ err: error }, 'sweep failed; the next one retries');
    }
  };
  // One sweep at a time: one asked for while another runs follows it.
  let latest = Promise.resolve();
  const sweepOnce = () => (latest = latest.then(sweep));
  const timer = options.intervalMs > 0 ? setInterval(sweepOnce, options.intervalMs) : undefined;
  timer?.unref();
  void sweepOnce();
  return { sweepOnce, stop: () => timer && clearInterval(timer) };
}
