/**
 * An HTTP proxy in front of an S3 endpoint that counts the requests going through it, so that the
 * benchmark can compare how many S3 requests each tool makes per GiB stored. Requests are passed on
 * unchanged (the Host header too, so SigV4 signatures made for the proxy's address still verify).
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class S3RequestCounter {
  private count = 0;
  private constructor(
    private readonly server: Server,
    private readonly agent: Agent,
  ) {}

  /** Starts a proxy on a free loopback port in front of `endpoint` (http only). */
  static async start(endpoint: string): Promise<S3RequestCounter> {
    const target = new URL(endpoint);
    if (target.protocol !== 'http:') throw new Error(`the request counter proxies http endpoints only, not ${endpoint}`);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    let counter: S3RequestCounter | undefined;
    const server = createServer((incoming, outgoing) => {
      counter!.count += 1;
      const forward = request(
        { host: target.hostname, port: target.port || 80, method: incoming.method, path: incoming.url, headers: incoming.headers, agent },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forward.on('error', () => outgoing.destroy());
      incoming.pipe(forward);
    });
    counter = new S3RequestCounter(server, agent);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return counter;
  }

  /** `http://127.0.0.1:PORT`: the endpoint to give the tools instead of the real one. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests counted since the last call (or the start). */
  take(): number {
    const taken = this.count;
    this.count = 0;
    return taken;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }
}
