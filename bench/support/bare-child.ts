/**
 * The baseline, in its own process: a bare Fastify 5 app (default options, default JSON body
 * parser, no hooks) on 127.0.0.1, port 0, answering the bench's two routes with bodies captured
 * once from the real service and served as constant strings (`application/json`). The update route
 * accepts and parses the JSON body, then ignores it.
 *
 * Started by bench/api.ts with its configuration as JSON in argv[2]; answers `ready` over IPC.
 */
import Fastify from 'fastify';
import { serveChild } from './children.js';

export interface BareRoute {
  readonly method: 'GET' | 'PATCH';
  /** The path without its query string, e.g. /core/v1/disks/disk/disk_backup_policies */
  readonly path: string;
  readonly body: string;
}

export interface BareConfig {
  readonly routes: readonly BareRoute[];
}

export interface BareReady {
  readonly url: string;
  readonly pid: number;
}

serveChild<BareReady>(async () => {
  const config = JSON.parse(process.argv[2] ?? '{}') as BareConfig;
  const app = Fastify({ logger: false });
  for (const route of config.routes) {
    const body = route.body;
    app.route({
      method: route.method,
      url: route.path,
      handler: async (_request, reply) => reply.header('content-type', 'application/json').send(body),
    });
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { ready: { url: `http://127.0.0.1:${port}`, pid: process.pid }, stop: () => app.close() };
});
