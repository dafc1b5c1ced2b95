/** The scheduler behind `next_invocation_at`: see scheduler.ts (the loop) and claims.ts (the claim). */
import type { Logger } from 'pino';
import type { Runtime } from '../runtime.js';
import type { SchedulerMetrics } from './metrics.js';
import { NO_BACKUP_ENGINE, noBackupEngineRunner, type BackupRunner } from './runner.js';
import { Scheduler, type SchedulerSettings } from './scheduler.js';

export { Scheduler, DEFAULT_SCHEDULER_SETTINGS, type FinishedRun, type SchedulerSettings } from './scheduler.js';
export { NO_BACKUP_ENGINE, noBackupEngineRunner, type BackupRunner, type ClaimedRun, type RunResult, type RunStatus } from './runner.js';
export { NO_SCHEDULER_METRICS, type SchedulerMetrics } from './metrics.js';

export interface SchedulerOptions {
  readonly logger: Logger | false;
  /** Defaults to the runner that records every run as skipped (a process without a backup engine). */
  readonly runner?: BackupRunner;
  /** Defaults to the runtime's (what its /metrics serves). */
  readonly metrics?: SchedulerMetrics;
  readonly workerId?: string;
  readonly settings?: Partial<SchedulerSettings>;
}

/**
 * A scheduler on the runtime's database and clock (not started). The runtime's status then says the
 * process schedules, and whether its runs take backups (with a runner) or are recorded as skipped.
 */
export function schedulerFor(runtime: Runtime, options: SchedulerOptions): Scheduler {
  runtime.status.schedules = true;
  if (!options.runner && runtime.status.backups.enabled) {
    runtime.status.backups = { enabled: false, detail: `${NO_BACKUP_ENGINE}: every scheduled run is recorded as skipped` };
  }
  return new Scheduler({
    db: runtime.store.db,
    engine: runtime.store.engine,
    clock: runtime.services.clock,
    runner: options.runner ?? noBackupEngineRunner,
    logger: options.logger,
    metrics: options.metrics ?? runtime.metrics,
    ...(options.workerId ? { workerId: options.workerId } : {}),
    ...(options.settings ? { settings: options.settings } : {}),
  });
}
