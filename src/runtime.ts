/**
 * Opens what every command needs: the store (migrated) and the services on it. The CLI commands and
 * the server all start here, so administration and the service always share one database.
 */
import { systemClock, type Clock } from './domain/clock.js';
import { ProcessMetrics, type MetricsSettings } from './metrics/process-metrics.js';
import { createServices, type Services } from './services/index.js';
import { openStore, type Store } from './store/database.js';

export interface RuntimeOptions {
  readonly dataDir: string;
  readonly databaseUrl?: string | undefined;
  readonly clock?: Clock;
  readonly postgresSchema?: string | undefined;
  /** Settings of the process's metrics (`dbp serve --metrics-policies`). */
  readonly metrics?: Partial<MetricsSettings>;
}

/** Whether this process can take backups, and if not, why and what to do about it. */
export type BackupsState = { readonly enabled: true } | { readonly enabled: false; readonly detail: string };

/**
 * What the process's parts are doing, as `/healthz` tells it: each part writes its own line when it
 * starts (the API server, the scheduler, the backup engine), so the answer follows what really runs.
 */
export interface ProcessStatus {
  /** An API server answers on this runtime. */
  servesApi: boolean;
  /** A scheduler claims and runs backups on this runtime. */
  schedules: boolean;
  backups: BackupsState;
}

export interface Runtime {
  readonly store: Store;
  readonly services: Services;
  readonly status: ProcessStatus;
  /**
   * The metrics every part of the process reports to and /metrics serves (one registry per runtime).
   * Made on first use: a CLI command that never touches them starts no event-loop monitor.
   */
  readonly metrics: ProcessMetrics;
  close(): Promise<void>;
}

export const NO_ENGINE_OPENED = 'no backup engine has been opened in this process';

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const store = await openStore(options);
  try {
    const services = await createServices(store, options.clock ?? systemClock);
    const status: ProcessStatus = { servesApi: false, schedules: false, backups: { enabled: false, detail: NO_ENGINE_OPENED } };
    let metrics: ProcessMetrics | undefined;
    return {
      store,
      services,
      status,
      get metrics() {
        return (metrics ??= new ProcessMetrics(store.db, services.clock, options.metrics));
      },
      close: () => store.close(),
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
