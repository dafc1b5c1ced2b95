/**
 * Prometheus metrics of the scheduler, in the text exposition format (written by hand: three
 * metrics do not need a client library).
 *
 * - `dbp_backup_runs_total{status}`: runs this process finished, by status (counter).
 * - `dbp_backup_run_lag_seconds`: how late runs started after their scheduled instant (histogram).
 * - `dbp_backup_policies_due`: policies due now and not yet claimed, counted at scrape (gauge).
 * - `dbp_backup_run_leases_lost_total`: runs this process lost to another worker after its lease expired.
 *
 * Counters and the histogram are per process (Prometheus sums them across workers); the gauge reads
 * the database, so every process reports the same backlog.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../domain/clock.js';
import type { Database } from '../store/schema.js';
import { countDuePolicies } from './due-policies.js';
import type { RunStatus } from './runner.js';

const LAG_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] as const;
const STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'skipped'];

export class SchedulerMetrics {
  private readonly runs = new Map<RunStatus, number>(STATUSES.map((status) => [status, 0]));
  private readonly lagBucketCounts = LAG_BUCKETS.map(() => 0);
  private lagCount = 0;
  private lagSum = 0;
  private leasesLost = 0;

  countRun(status: RunStatus): void {
    this.runs.set(status, (this.runs.get(status) ?? 0) + 1);
  }

  observeLag(seconds: number): void {
    const lag = Math.max(0, seconds);
    this.lagCount++;
    this.lagSum += lag;
    LAG_BUCKETS.forEach((bound, index) => {
      if (lag <= bound) this.lagBucketCounts[index]!++;
    });
  }

  countLostLease(): void {
    this.leasesLost++;
  }

  /** The metrics in Prometheus text format, with the backlog read at this moment. */
  render(duePolicies: number): string {
    const lines = [
      '# HELP dbp_backup_runs_total Backup runs finished by this process, by status.',
      '# TYPE dbp_backup_runs_total counter',
      ...STATUSES.map((status) => `dbp_backup_runs_total{status="${status}"} ${this.runs.get(status) ?? 0}`),
      '# HELP dbp_backup_run_lag_seconds Seconds from a run\'s scheduled instant to its start.',
      '# TYPE dbp_backup_run_lag_seconds histogram',
      ...LAG_BUCKETS.map((bound, index) => `dbp_backup_run_lag_seconds_bucket{le="${bound}"} ${this.lagBucketCounts[index]}`),
      `dbp_backup_run_lag_seconds_bucket{le="+Inf"} ${this.lagCount}`,
      `dbp_backup_run_lag_seconds_sum ${this.lagSum}`,
      `dbp_backup_run_lag_seconds_count ${this.lagCount}`,
      '# HELP dbp_backup_run_leases_lost_total Runs this process lost to another worker after its lease expired.',
      '# TYPE dbp_backup_run_leases_lost_total counter',
      `dbp_backup_run_leases_lost_total ${this.leasesLost}`,
      '# HELP dbp_backup_policies_due Policies due now that no worker has claimed yet.',
      '# TYPE dbp_backup_policies_due gauge',
      `dbp_backup_policies_due ${duePolicies}`,
    ];
    return `${lines.join('\n')}\n`;
  }
}

/** The metrics of the schedulers of this process (the default for `Scheduler` and `/metrics`). */
export const processMetrics = new SchedulerMetrics();

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Renders the metrics, counting the backlog with one indexed query. */
export async function renderMetrics(db: Kysely<Database>, clock: Clock, metrics: SchedulerMetrics = processMetrics): Promise<string> {
  return metrics.render(await countDuePolicies(db, clock.now()));
}
