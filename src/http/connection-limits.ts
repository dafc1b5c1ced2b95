/**
 * Bounds on what one client may hold of the server: how long a request's head and whole request
 * (head and body) may take to arrive, how long an idle kept-alive connection stays open, and how many
 * connections one client address may hold at once (the excess is closed as soon as it is accepted).
 * Without them a client sending a body slowly, or never, holds a connection forever.
 */
import type { Server as NetServer, Socket } from 'node:net';
import { NetworkSet } from '../domain/networks.js';

export interface ConnectionLimits {
  /** The whole request head must have arrived within this (ms) of its first byte. */
  readonly headersTimeoutMs: number;
  /** The whole request, head and body, must have arrived within this (ms); at least headersTimeoutMs. */
  readonly requestTimeoutMs: number;
  /** A kept-alive connection with no request for this long (ms) is closed. */
  readonly keepAliveTimeoutMs: number;
  /** Open connections one client address may hold; one more is closed at once. */
  readonly maxConnectionsPerAddress: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnectionsPerAddress: 64,
};

/**
 * The options of Node's HTTP server (through Fastify) that enforce the time bounds. Node checks the
 * head and request deadlines every `connectionsCheckingInterval`; it is a fraction of the shortest
 * bound so a deadline is enforced within about a tenth more than itself.
 */
export function timeoutServerOptions(limits: ConnectionLimits) {
  const connectionsCheckingInterval = Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 10)));
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval,
    },
  };
}

/**
 * Counts each client address's open connections on `server` and closes a connection beyond `max` at
 * once. Addresses in `exempt` (trusted proxies, which carry many clients' connections) are not
 * counted. IPv4-mapped IPv6 addresses count as the IPv4 address they are.
 */
export function limitConnectionsPerAddress(server: NetServer, max: number, exempt: readonly string[] = []): void {
  const exemptSet = exempt.length > 0 ? new NetworkSet(exempt) : undefined;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const raw = socket.remoteAddress;
    if (raw === undefined) return;
    const address = raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice('::ffff:'.length) : raw;
    if (exemptSet?.includes(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
