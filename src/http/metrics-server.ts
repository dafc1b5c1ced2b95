/**
 * `GET /metrics` and `GET /healthz` alone on their own port, for a worker process that does not serve
 * the API (`dbp serve --role worker --metrics-port 9464`). The API serves the same two answers on its
 * own port (/healthz from the same function, health.ts).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { Runtime } from '../runtime.js';
import { DEFAULT_CONNECTION_LIMITS, limitConnectionsPerAddress, timeoutServerOptions, type ConnectionLimits } from './connection-limits.js';
import { healthOf } from './health.js';
import { listenFailure } from './listen-error.js';

export interface MetricsServer {
  /** …/metrics */
  readonly url: string;
  stop(): Promise<void>;
}

export async function startMetricsServer(
  runtime: Runtime,
  host: string,
  port: number,
  limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS,
): Promise<MetricsServer> {
  // The same bounds as the API's: a stalled request or a crowd of connections holds nothing for long.
  const server = createServer(timeoutServerOptions(limits).http, (request, response) => {
    const path = request.url?.split('?')[0];
    if (request.method !== 'GET' || (path !== '/metrics' && path !== '/healthz')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (path === '/healthz') {
      healthOf(runtime).then(
        ({ httpStatus, body }) => response.writeHead(httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
        () => unavailable(response, 'database unavailable'),
      );
      return;
    }
    // A database outage does not fail the scrape (dbp_catalogue_up says so); anything else is a 503.
    runtime.metrics.render().then(
      (text) => response.writeHead(200, { 'content-type': runtime.metrics.contentType }).end(text),
      () => unavailable(response, 'metrics unavailable'),
    );
  });
  limitConnectionsPerAddress(server, limits.maxConnectionsPerAddress);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenFailure(error, host, port)));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}/metrics`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function unavailable(response: ServerResponse, why: string): void {
  response.writeHead(503, { 'content-type': 'text/plain' }).end(`${why}\n`);
}
