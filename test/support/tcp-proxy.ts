/**
 * A small controllable TCP proxy for outage tests: listens on 127.0.0.1 (a free port) and forwards
 * every connection to a target (PostgreSQL at 127.0.0.1:5432 by default).
 *
 * `cut(mode)` destroys every current connection, then, until `restore()`:
 *   - `refuse`: new connections are closed at once (a reset: the client sees ECONNRESET / "Connection terminated");
 *   - `blackhole`: new connections are accepted and never forwarded nor answered (a hung server: only
 *     client-side timeouts end them). They are destroyed on `restore()` or `close()`.
 * `cut('stall')` is a third, harsher mode: current connections are NOT destroyed but stop carrying bytes
 * either way (a frozen server or a network partition without resets), and new ones are blackholed.
 * Never touch the real server: this is how a test makes PostgreSQL "go away" for one process only.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type CutMode = 'refuse' | 'blackhole' | 'stall';

export interface TcpProxyOptions {
  readonly targetHost?: string;
  readonly targetPort?: number;
}

export class TcpProxy {
  private mode: 'open' | CutMode = 'open';
  /** Every socket we hold (both ends of forwarded pairs, and blackholed clients). */
  private readonly sockets = new Set<Socket>();
  /** Connections frozen by `cut('stall')`. */
  private readonly stalled = new Set<Socket>();
  private closed = false;
  /** Connections accepted over the proxy's life, by what happened to them (for test diagnostics). */
  readonly stats = { forwarded: 0, refused: 0, blackholed: 0 };

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  static async start(options: TcpProxyOptions = {}): Promise<TcpProxy> {
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('the proxy has no address');
    return new TcpProxy(server, address.port, options.targetHost ?? '127.0.0.1', options.targetPort ?? 5432);
  }

  /** A proxy to the host and port of `url` (a PostgreSQL or HTTP URL; the scheme's port when it names none). */
  static toUrl(url: string | URL): Promise<TcpProxy> {
    const target = new URL(url);
    const defaultPort = target.protocol.startsWith('postgres') ? 5432 : target.protocol === 'https:' ? 443 : 80;
    return TcpProxy.start({ targetHost: target.hostname || '127.0.0.1', targetPort: Number(target.port || defaultPort) });
  }

  /** `127.0.0.1:<port>` in a PostgreSQL URL of the same user, password and database. */
  rewriteUrl(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  get state(): 'open' | CutMode {
    return this.mode;
  }

  /** Drops every current connection (stalls them, for `stall`); new ones are refused or blackholed until `restore()`. */
  cut(mode: CutMode = 'refuse'): void {
    this.mode = mode;
    if (mode !== 'stall') {
      this.destroyAll();
      return;
    }
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
      this.stalled.add(socket);
    }
    this.sockets.clear();
  }

  /**
   * Forwards new connections again. Blackholed connections are dropped (their clients gave up long
   * ago). Stalled ones are dropped too, unless `keepStalled`: then they stay open and silent for good,
   * as after a failover, where only the client's own timeouts can rid it of them.
   */
  restore(options: { keepStalled?: boolean } = {}): void {
    this.mode = 'open';
    for (const socket of this.sockets) socket.destroy(); // blackholed while cut
    this.sockets.clear();
    if (!options.keepStalled) this.destroyAll();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.destroyAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.closed || this.mode === 'refuse') {
      this.stats.refused += 1;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    this.track(client);
    if (this.mode === 'blackhole' || this.mode === 'stall') {
      // Accepted, never read, never answered: the client's startup message goes nowhere.
      this.stats.blackholed += 1;
      return;
    }
    this.stats.forwarded += 1;
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    this.track(upstream);
    upstream.once('connect', () => {
      if (this.stalled.has(client)) return; // stalled while connecting: stays silent
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    // Either end closing or failing takes the other with it, as a real broken link would.
    const teardown = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('close', teardown);
    upstream.once('close', teardown);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {}); // resets are expected here; the peer sees them
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stalled.delete(socket);
    });
  }

  private destroyAll(): void {
    for (const socket of [...this.sockets, ...this.stalled]) socket.destroy();
    this.sockets.clear();
    this.stalled.clear();
  }
}
