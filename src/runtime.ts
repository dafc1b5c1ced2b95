/**
 * Opens what every command needs: the store (migrated) and the services on it. The CLI commands and
 * the server all start here, so administration and the service always share one database.
 */
import { systemClock, type Clock } from './domain/clock.js';
import { createServices, type Services } from './services/index.js';
import { openStore, type Store } from './store/database.js';

export interface RuntimeOptions {
  readonly dataDir: string;
  readonly databaseUrl?: string | undefined;
  readonly clock?: Clock;
  readonly postgresSchema?: string | undefined;
}

export interface Runtime {
  readonly store: Store;
  readonly services: Services;
  close(): Promise<void>;
}

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const store = await openStore(options);
  try {
    const services = await createServices(store, options.clock ?? systemClock);
    return { store, services, close: () => store.close() };
  } catch (error) {
    await store.close();
    throw error;
  }
}
