/** Starts the HTTP service on a runtime, with the background sweep that purges expired trash. */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { coreEndpoints } from '../api/core/v1/index.js';
import type { Runtime } from '../runtime.js';
import { buildApp } from './app.js';
import { MemoryRateLimiter } from './rate-limit.js';
import { VERSION } from '../version.js';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger | false;
  /** How often expired trash is purged, in milliseconds (0: never). */
  readonly trashSweepIntervalMs?: number;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  stop(): Promise<void>;
}

export async function startServer(runtime: Runtime, options: ServerOptions): Promise<RunningServer> {
  const app = await buildApp({
    endpoints: coreEndpoints,
    services: runtime.services,
    rateLimiter: new MemoryRateLimiter(),
    logger: options.logger,
    version: VERSION,
    healthCheck: async () => {
      await sql`select 1`.execute(runtime.store.db);
      return true;
    },
  });
  const sweep = async () => {
    try {
      const purged = await runtime.services.trash.purgeExpired();
      if (purged > 0) app.log.info({ purged }, 'purged expired trash');
    } catch (error) {
      app.log.warn({ err: error }, 'trash sweep failed; will retry');
    }
  };
  await sweep();
  const interval = options.trashSweepIntervalMs ?? 60_000;
  const timer = interval > 0 ? setInterval(sweep, interval) : undefined;
  timer?.unref();

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    app,
    url: `http://${host}:${port}`,
    stop: async () => {
      if (timer) clearInterval(timer);
      await app.close();
    },
  };
}
