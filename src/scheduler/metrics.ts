/**
 * What the scheduler reports as it works (the process's metrics implement it: src/metrics). An
 * interface here, so that the scheduler does not depend on the metrics module, which reads the
 * scheduler's queries.
 */
import type { RunStatus } from './runner.js';

export interface SchedulerMetrics {
  /** A run this scheduler finished and recorded, by how it ended. */
  countRun(status: RunStatus): void;
  /** Seconds from a run's scheduled instant to its start. */
  observeLag(seconds: number): void;
  /** A run this scheduler lost to another worker (its lease expired) or gave back after a database error. */
  countLostLease(): void;
}

/** For a scheduler nobody scrapes. */
export const NO_SCHEDULER_METRICS: SchedulerMetrics = {
  countRun() {},
  observeLag() {},
  countLostLease() {},
};
