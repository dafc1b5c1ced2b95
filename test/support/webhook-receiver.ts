/**
 * A real HTTP receiver of webhooks on loopback: records every request (path, headers, exact body
 * bytes) and answers as the test scripts it — fail the first N requests, hang, or be down (closed,
 * its port kept so that it can come back at the same URL).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** The status answered; 0 when the request was left hanging. */
  status: number;
}

export type Answer = number | 'hang';

export class WebhookReceiver {
  readonly received: ReceivedRequest[] = [];
  /** Decides each request's answer (default 204); called with the request and how many came before it. */
  answer: (request: ReceivedRequest, index: number) => Answer = () => 204;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  port = 0;

  /** Listens (on `port`, or any free port the first time). */
  async start(port = this.port): Promise<this> {
    const server = createServer((request, response) => this.handle(request, response));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Goes down: stops listening and cuts every open connection (hanging requests included). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resolves once `count` requests have arrived in all. */
  requests(count: number, timeoutMs = 30_000): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the receiver got ${this.received.length} of ${count} requests in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** Parsed bodies of the requests answered with a 2xx. */
  delivered(): any[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300).map((r) => JSON.parse(r.body.toString('utf8')));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received: ReceivedRequest = { path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks), status: 0 };
      const index = this.received.length;
      this.received.push(received);
      const answer = this.answer(received, index);
      if (answer !== 'hang') {
        received.status = answer;
        response.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'not now');
      }
      for (const waiter of [...this.waiters]) {
        if (this.received.length >= waiter.count) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    });
  }
}
