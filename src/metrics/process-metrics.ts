/**
 * The Prometheus metrics of one process (one runtime): a prom-client registry of its own — not the
 * library's global one, so that several services in one process (the tests) keep apart — holding
 *
 * - what this process counts as it works: HTTP requests, finished runs, scheduling lag, lost leases,
 *   run durations and bytes, verifications (counters and histograms: Prometheus sums them across processes);
 * - what it reads from the catalogue at each scrape (gauges: the same in every process): the backlog,
 *   each policy's last success, last attempt, stored size and interval, catalogue totals, and the
 *   backups' last verifications (how many failed, when the newest ended);
 * - whether the repository answers (when this process has a backup engine), probed at most once a minute;
 * - Node's default process and event-loop metrics.
 *
 * Every family is listed with its labels in docs/monitoring/README.md.
 */
import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../domain/clock.js';
import type { RunStatus } from '../scheduler/runner.js';
import type { SchedulerMetrics } from '../scheduler/metrics.js';
import type { Database } from '../store/schema.js';
import { readPolicies, readQueue, readTotals, readVerifications, type PolicyReading, type TotalsReading } from './catalogue-reads.js';
import { RepositoryProbe } from './repository-probe.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsSettings {
  /** Per-policy series for at most this many policies (the oldest first); the rest are counted in `dbp_policies_omitted`. */
  readonly policyLimit: number;
  /** Seconds the catalogue totals and the repository probe are reused for. */
  readonly slowReadSeconds: number;
  /** A catalogue read taking longer than this (ms) counts as the catalogue being down for this scrape. */
  readonly catalogueTimeoutMs: number;
}

export const DEFAULT_METRICS_SETTINGS: MetricsSettings = { policyLimit: 10_000, slowReadSeconds: 60, catalogueTimeoutMs: 5_000 };

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'skipped'];
const LAG_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const RUN_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200];
// 1 MiB … 16 TiB, ×4 each step.
const BYTE_BUCKETS = Array.from({ length: 13 }, (_, i) => 2 ** (20 + 2 * i));

/** What a run the backup engine finished reports (see EngineMetrics in engine/backup-engine.ts). */
export interface RunObservation {
  readonly status: RunStatus;
  readonly durationSeconds: number;
  readonly bytesRead: number;
  readonly bytesStored: number;
}

export type VerifyOutcome = 'ok' | 'failed';
const VERIFY_OUTCOMES: readonly VerifyOutcome[] = ['ok', 'failed'];

export class ProcessMetrics implements SchedulerMetrics {
  readonly registry = new Registry();
  /** The families read from the catalogue: served only when this scrape could read it (never stale, never a false 0). */
  private readonly catalogueRegistry = new Registry();
  readonly contentType = METRICS_CONTENT_TYPE;
  private readonly settings: MetricsSettings;
  private readonly repository = new RepositoryProbe();
  private totals: { readonly at: number; readonly value: TotalsReading } | undefined;

  private readonly httpRequests = new Counter({
    name: 'dbp_http_requests_total',
    help: 'HTTP requests this process answered, by route template, method and status code.',
    labelNames: ['route', 'method', 'status_code'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'dbp_http_request_duration_seconds',
    help: 'Seconds from a request\'s arrival to its answer, by route template and method.',
    labelNames: ['route', 'method'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  private readonly runs = new Counter({
    name: 'dbp_backup_runs_total',
    help: 'Backup runs the scheduler of this process finished, by status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly lag = new Histogram({
    name: 'dbp_backup_run_lag_seconds',
    help: 'Seconds from a run\'s scheduled instant to its start, for runs this process started.',
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });
  private readonly leasesLost = new Counter({
    name: 'dbp_backup_run_leases_lost_total',
    help: 'Runs this process lost to another worker after its lease expired (or gave back after a database error).',
    registers: [this.registry],
  });
  private readonly runDuration = new Histogram({
    name: 'dbp_backup_run_duration_seconds',
    help: 'Seconds the backup engine of this process took for a run (scheduled or manual), by status.',
    labelNames: ['status'] as const,
    buckets: RUN_DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly runReadBytes = new Histogram({
    name: 'dbp_backup_run_read_bytes',
    help: 'Bytes a run of this process read from its disks.',
    buckets: BYTE_BUCKETS,
    registers: [this.registry],
  });
  private readonly runStoredBytes = new Histogram({
    name: 'dbp_backup_run_stored_bytes',
    help: 'Bytes a run of this process added to the repository (new chunks, after compression).',
    buckets: BYTE_BUCKETS,
    registers: [this.registry],
  });
  private readonly verifications = new Counter({
    name: 'dbp_backup_verifications_total',
    help: 'Verifications this process completed, by outcome (failed: a damaged chunk or manifest was found).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  // Read from the catalogue at each scrape.
  private readonly catalogueUp = gauge(this.registry, 'dbp_catalogue_up', 'Whether this scrape could read the catalogue database (1) or not (0); the catalogue families are left out when not.');
  private readonly due = gauge(this.catalogueRegistry, 'dbp_backup_policies_due', 'Policies due now that no worker has claimed yet.');
  private readonly oldestDue = gauge(this.catalogueRegistry, 'dbp_backup_oldest_due_seconds', 'Seconds since the longest-waiting due, unclaimed policy became due (0 when none).');
  private readonly claimed = gauge(this.catalogueRegistry, 'dbp_backup_runs_claimed', 'Runs claimed by a worker that have not started yet.');
  private readonly created = gauge(this.catalogueRegistry, 'dbp_policy_created_timestamp_seconds', 'When the policy was made (Unix seconds).', ['policy']);
  private readonly lastSuccess = gauge(this.catalogueRegistry, 'dbp_policy_last_success_timestamp_seconds', 'When the policy\'s newest succeeded run finished (Unix seconds); absent when none is on record.', ['policy']);
  private readonly lastAttempt = gauge(this.catalogueRegistry, 'dbp_policy_last_attempt_timestamp_seconds', 'When the policy\'s newest run started, whatever its outcome (Unix seconds); absent when none.', ['policy']);
  private readonly policyStored = gauge(this.catalogueRegistry, 'dbp_policy_stored_bytes', 'Stored bytes of the policy\'s remaining backups (its total_size).', ['policy']);
  private readonly policyInterval = gauge(this.catalogueRegistry, 'dbp_policy_interval_seconds', 'The longest time between two runs of the policy\'s schedule.', ['policy']);
  private readonly policiesOmitted = gauge(this.catalogueRegistry, 'dbp_policies_omitted', 'Live policies left out of the dbp_policy_* families by the policy limit.');
  private readonly policies = gauge(this.catalogueRegistry, 'dbp_policies', 'Live policies (not in the trash).');
  private readonly backups = gauge(this.catalogueRegistry, 'dbp_repository_backups', 'Backups recorded in the catalogue.');
  private readonly sourceBytes = gauge(this.catalogueRegistry, 'dbp_repository_source_bytes', 'Bytes of the disks the catalogued backups hold (what restoring each would write).');
  private readonly storedBytes = gauge(this.catalogueRegistry, 'dbp_repository_stored_bytes', 'Sum of the policies\' stored bytes (chunks shared between policies are counted once per policy).');
  private readonly verifyFailed = gauge(this.catalogueRegistry, 'dbp_backups_verify_failed', 'Backups whose last verification (scheduled, dbp verify or the API) found a damaged or missing chunk or manifest.');
  private readonly lastVerification = gauge(this.catalogueRegistry, 'dbp_backup_last_verification_timestamp_seconds', 'When the newest verification of any backup ended (Unix seconds); 0 while none was ever verified.');
  private readonly repositoryUp = gauge(this.registry, 'dbp_repository_up', 'Whether the repository answered the last probe (1) or not (0); absent in a process without a backup engine.');

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    settings: Partial<MetricsSettings> = {},
  ) {
    this.settings = { ...DEFAULT_METRICS_SETTINGS, ...settings };
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters (promtool's lint refuses them); `sum(nodejs_active_handles)` etc. say the same.
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    // Every label value from the start, so that rate() and increase() see the first event.
    for (const status of RUN_STATUSES) this.runs.inc({ status }, 0);
    for (const outcome of VERIFY_OUTCOMES) this.verifications.inc({ outcome }, 0);
  }

  // --- the scheduler's (SchedulerMetrics) ---
  countRun(status: RunStatus): void {
    this.runs.inc({ status });
  }

  observeLag(seconds: number): void {
    this.lag.observe(Math.max(0, seconds));
  }

  countLostLease(): void {
    this.leasesLost.inc();
  }

  // --- the backup engine's (EngineMetrics) ---
  observeRun(run: RunObservation): void {
    this.runDuration.observe({ status: run.status }, Math.max(0, run.durationSeconds));
    this.runReadBytes.observe(run.bytesRead);
    this.runStoredBytes.observe(run.bytesStored);
  }

  /** One verification this process completed: `dbp verify`, the API's verify endpoint and scheduled verification (all through BackupEngine.verify). */
  countVerify(outcome: VerifyOutcome): void {
    this.verifications.inc({ outcome });
  }

  /** Probes the repository of this process's backup engine (at most once per `slowReadSeconds`) for `dbp_repository_up`. */
  watchRepository(probe: () => Promise<void>): void {
    this.repository.watch(probe);
  }

  // --- the HTTP server's ---
  /** `route` is the route's template (`/core/v1/disks/:disk`), never the raw path: one series per route. */
  observeRequest(route: string, method: string, statusCode: number, seconds: number): void {
    this.httpRequests.inc({ route, method, status_code: String(statusCode) });
    this.httpDuration.observe({ route, method }, seconds);
  }

  /** The exposition text: the counters as they are, the gauges read now. Never throws for a database outage. */
  async render(): Promise<string> {
    const [catalogueRead] = await Promise.all([this.readCatalogue(), this.readRepository()]);
    const own = await this.registry.metrics();
    return catalogueRead ? `${own}\n${await this.catalogueRegistry.metrics()}` : own;
  }

  /** Sets the catalogue's gauges; answers whether it could (dbp_catalogue_up). */
  private async readCatalogue(): Promise<boolean> {
    const now = this.clock.now();
    try {
      const [queue, policies, totals, verifications] = await withTimeout(
        Promise.all([readQueue(this.db, now), readPolicies(this.db, now, this.settings.policyLimit), this.readTotals(now), readVerifications(this.db)]),
        this.settings.catalogueTimeoutMs,
      );
      this.catalogueRegistry.resetMetrics();
      this.due.set(queue.due);
      this.oldestDue.set(queue.oldestDueSeconds);
      this.claimed.set(queue.claimed);
      this.setPolicies(policies, totals);
      this.policies.set(totals.policies);
      this.backups.set(totals.backups);
      this.sourceBytes.set(totals.sourceBytes);
      this.storedBytes.set(totals.storedBytes);
      this.verifyFailed.set(verifications.failed);
      if (verifications.lastAt !== null) this.lastVerification.set(verifications.lastAt);
      this.catalogueUp.set(1);
      return true;
    } catch {
      // Serve what this process knows; the catalogue's families are left out rather than stale.
      this.catalogueUp.set(0);
      return false;
    }
  }

  private setPolicies(policies: readonly PolicyReading[], totals: TotalsReading): void {
    const shown = policies.slice(0, this.settings.policyLimit);
    for (const policy of shown) {
      const labels = { policy: policy.id };
      this.created.set(labels, policy.createdAt);
      if (policy.lastSuccessAt !== null) this.lastSuccess.set(labels, policy.lastSuccessAt);
      if (policy.lastAttemptAt !== null) this.lastAttempt.set(labels, policy.lastAttemptAt);
      this.policyStored.set(labels, policy.storedBytes);
      this.policyInterval.set(labels, policy.intervalSeconds);
    }
    // The totals may be up to a minute old; the limit is only ever exceeded when more rows came back.
    const omitted = policies.length > shown.length ? Math.max(1, totals.policies - shown.length) : 0;
    this.policiesOmitted.set(omitted);
  }

  /** The totals scan whole tables: read once per `slowReadSeconds`. */
  private async readTotals(now: number): Promise<TotalsReading> {
    const wallNow = Date.now() / 1000;
    if (this.totals && wallNow - this.totals.at < this.settings.slowReadSeconds) return this.totals.value;
    const value = await readTotals(this.db, now);
    this.totals = { at: wallNow, value };
    return value;
  }

  private async readRepository(): Promise<void> {
    const up = await this.repository.state(this.settings.slowReadSeconds);
    this.repositoryUp.reset();
    if (up !== undefined) this.repositoryUp.set(up ? 1 : 0);
  }
}

function gauge<L extends string = never>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return new Gauge<L>({ name, help, labelNames, registers: [registry] });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  promise.catch(() => {}); // a read that fails after the timeout is not an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
