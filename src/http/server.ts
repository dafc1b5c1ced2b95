/** Starts the HTTP service on a runtime. */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { coreEndpoints } from '../api/core/v1/index.js';
import { extensionEndpoints } from '../api/ext/v1/index.js';
import type { BackupOperations } from '../services/backups.js';
import type { Runtime } from '../runtime.js';
import { VERSION } from '../version.js';
import { API_PREFIX, buildApp, EXTENSION_PREFIX } from './app.js';
import type { ConnectionLimits } from './connection-limits.js';
import { builtConsoleDir } from './console.js';
import { healthOf } from './health.js';
import { listenFailure } from './listen-error.js';
import { DatabaseRateLimiter, MemoryRateLimiter } from './rate-limit.js';
import { ResponseCache } from './response-cache.js';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger | false;
  /** See AppOptions.trustedProxies. */
  readonly trustedProxies?: readonly string[];
  /** The backup engine, for the extension endpoints (they answer backup_engine_unavailable without it). */
  readonly backups?: BackupOperations | undefined;
  /** Request time bounds and connections per client address (see connection-limits.ts; defaults when absent). */
  readonly connectionLimits?: ConnectionLimits | undefined;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** Stops listening, and settles once the requests in flight and the operations this process started (`async=true`) have ended. */
  stop(): Promise<void>;
}

export async function startServer(runtime: Runtime, options: ServerOptions): Promise<RunningServer> {
  runtime.store.checkpointInBackground?.();
  const app = await buildApp({
    apis: [
      { prefix: API_PREFIX, title: 'Katapult Core API (disk backup policies)', endpoints: coreEndpoints },
      { prefix: EXTENSION_PREFIX, title: 'Disk backup policies: extension API (backups)', endpoints: extensionEndpoints },
    ],
    services: runtime.services,
    backups: options.backups,
    // One process owns a SQLite file; on PostgreSQL several processes must share one budget.
    rateLimiter: runtime.store.engine === 'postgres' ? new DatabaseRateLimiter(runtime.store.db) : new MemoryRateLimiter(),
    responseCache: new ResponseCache(),
    logger: options.logger,
    trustedProxies: options.trustedProxies,
    ...(options.connectionLimits ? { connectionLimits: options.connectionLimits } : {}),
    version: VERSION,
    metrics: runtime.metrics,
    health: () => healthOf(runtime),
    consoleDir: builtConsoleDir(),
  });
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close().catch(() => {});
    throw listenFailure(error, options.host, options.port);
  }
  runtime.status.servesApi = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const stop = async () => {
    await app.close();
    await runtime.services.operations.settled();
  };
  return { app, url: `http://${host}:${port}`, stop };
}
