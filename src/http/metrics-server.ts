/**
 * `GET /metrics` alone on its own port, for a worker process that does not serve the API
 * (`dbp serve --role worker --metrics-port 9464`). The API serves the same text at its own /metrics.
 */
import { createServer } from 'node:http';
import type { Runtime } from '../runtime.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../scheduler/index.js';

export interface MetricsServer {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startMetricsServer(runtime: Runtime, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    renderMetrics(runtime.store.db, runtime.services.clock).then(
      (text) => response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
      () => response.writeHead(503, { 'content-type': 'text/plain' }).end('database unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}/metrics`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
