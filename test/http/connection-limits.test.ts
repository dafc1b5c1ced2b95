/**
 * What one client may hold of the server (issue 15, defect 6), through real sockets against the real
 * server (`startServer`) with short bounds: a request whose body or head stalls is answered 408 and
 * closed; an idle kept-alive connection is closed; one address holds at most N connections (the
 * N+1-th is closed at once while the N stay usable, and a freed place can be taken again); and
 * ordinary requests are unaffected. Waits are on events with generous bounds, never fixed sleeps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { ConnectionLimits } from '../../src/http/connection-limits.js';
import { startMetricsServer } from '../../src/http/metrics-server.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { freePort, spawnServe, waitReady } from '../support/serve-process.js';

/** Far above the bounds under test (1 to 2 s), so a loaded machine does not fail the test; the old server never closed. */
const CLOSE_BOUND_MS = 20_000;

const SHORT: ConnectionLimits = { headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 1000, maxConnectionsPerAddress: 64 };
/** Long time bounds, few connections: the connection-count tests do not race a timeout. */
const FEW: ConnectionLimits = { headersTimeoutMs: 120_000, requestTimeoutMs: 120_000, keepAliveTimeoutMs: 120_000, maxConnectionsPerAddress: 3 };

interface Connection {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves with the ms from `since` to the server closing the connection, or 'open' after CLOSE_BOUND_MS. */
  closed(since?: number): Promise<number | 'open'>;
  /** Resolves once `text` has been received (rejects on close or after the bound). */
  receive(text: string): Promise<void>;
}

async function open(port: number): Promise<Connection> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {});
  const ended = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
  return {
    socket,
    received: () => data,
    closed: async (since = performance.now()) => {
      const at = await Promise.race([ended, sleep(CLOSE_BOUND_MS, 'open' as const, { ref: false })]);
      return at === 'open' ? 'open' : Math.round(at - since);
    },
    receive: async (text) => {
      const deadline = performance.now() + CLOSE_BOUND_MS;
      while (!data.includes(text)) {
        if (socket.destroyed) throw new Error(`closed before receiving ${JSON.stringify(text)}; got ${JSON.stringify(data)}`);
        if (performance.now() > deadline) throw new Error(`no ${JSON.stringify(text)} within ${CLOSE_BOUND_MS} ms; got ${JSON.stringify(data)}`);
        await sleep(10);
      }
    },
  };
}

const HEALTH_REQUEST = 'GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n';

describe('HTTP connection limits', () => {
  let runtime: Runtime;
  let dataDir: string;
  const servers: RunningServer[] = [];
  const sockets: Socket[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'dbp-connection-limits-'));
    runtime = await openRuntime({ dataDir, databaseUrl: undefined });
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    for (const server of servers) await server.stop();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function serve(connectionLimits: ConnectionLimits): Promise<number> {
    const server = await startServer(runtime, { host: '127.0.0.1', port: 0, logger: false, connectionLimits });
    servers.push(server);
    return Number(new URL(server.url).port);
  }

  async function connection(port: number): Promise<Connection> {
    const opened = await open(port);
    sockets.push(opened.socket);
    return opened;
  }

  test('a POST whose body stalls is answered 408 and closed within the request bound', async () => {
    const port = await serve(SHORT);
    const client = await connection(port);
    const started = performance.now();
    client.socket.write('POST /core/v1/organizations/organization/api_tokens HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"organ');
    const closedAfter = await client.closed(started);
    assert.notEqual(closedAfter, 'open', `the connection was still open after ${CLOSE_BOUND_MS} ms`);
    assert.match(client.received(), /^HTTP\/1\.1 408 /, client.received());
    assert.match(client.received(), /"code":"request_timeout"/);
  });

  test('a request head that stalls is answered 408 and closed within the headers bound', async () => {
    const port = await serve(SHORT);
    const client = await connection(port);
    const started = performance.now();
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    assert.notEqual(await client.closed(started), 'open', `the connection was still open after ${CLOSE_BOUND_MS} ms`);
    assert.match(client.received(), /^HTTP\/1\.1 408 /, client.received());
  });

  test('the metrics port (a worker without the API) has the same bounds: a stalled head is closed, N+1 connections refused', async () => {
    const metrics = await startMetricsServer(runtime, '127.0.0.1', 0, { ...SHORT, maxConnectionsPerAddress: 2 });
    servers.push({ stop: () => metrics.stop() } as RunningServer);
    const port = Number(new URL(metrics.url).port);
    const stalled = await connection(port);
    await connection(port);
    const extra = await connection(port);
    assert.notEqual(await extra.closed(), 'open', 'the third connection from one address was not closed');
    stalled.socket.write('GET /metrics HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    assert.notEqual(await stalled.closed(), 'open', `the stalled head was still open after ${CLOSE_BOUND_MS} ms`);
  });

  test('an idle kept-alive connection is closed after the keep-alive bound', async () => {
    const port = await serve(SHORT);
    const client = await connection(port);
    client.socket.write(HEALTH_REQUEST);
    await client.receive('"status"');
    assert.match(client.received(), /^HTTP\/1\.1 200 /);
    assert.match(client.received(), /keep-alive/i);
    assert.notEqual(await client.closed(), 'open', `the idle connection was still open after ${CLOSE_BOUND_MS} ms`);
  });

  test('one address holds at most N connections: the N+1-th is closed at once, the N stay usable, a freed place is taken again', async () => {
    const port = await serve(FEW);
    const held = [await connection(port), await connection(port), await connection(port)];
    const extra = await connection(port);
    assert.notEqual(await extra.closed(), 'open', 'the fourth connection from one address was not closed');
    assert.equal(extra.received(), '', 'the refused connection is closed without an answer');
    for (const client of held) {
      client.socket.write(HEALTH_REQUEST);
      await client.receive('"status"');
      assert.match(client.received(), /^HTTP\/1\.1 200 /);
    }
    // One of the three goes: its place is free again (the server may count the close a moment later).
    held[0]!.socket.destroy();
    const deadline = performance.now() + CLOSE_BOUND_MS;
    for (;;) {
      const again = await connection(port);
      again.socket.write(HEALTH_REQUEST);
      const answered = await Promise.race([again.receive('"status"').then(() => true, () => false), again.closed().then(() => false)]);
      if (answered) break;
      assert.ok(performance.now() < deadline, 'a connection freed by its client was never counted free');
      await sleep(50);
    }
  });

  test('ordinary requests are unaffected: a body and a head sent at once, kept-alive requests in a row, 10 connections at once', async () => {
    const port = await serve(SHORT);
    const base = `http://127.0.0.1:${port}`;
    const posted = await fetch(`${base}/core/v1/organizations/organization/api_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: { id: 'org_x' }, properties: {} }),
    });
    assert.equal(posted.status, 400, 'answered (missing token), not timed out');
    assert.equal(((await posted.json()) as { error: { code: string } }).error.code, 'missing_api_token');
    const answers = await Promise.all(Array.from({ length: 10 }, () => fetch(`${base}/healthz`).then((response) => response.status)));
    assert.deepEqual(answers, Array(10).fill(200));
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  test('dbp serve takes the bounds from its flags (a real child process), and refuses a head bound longer than the request bound', async () => {
    const port = await freePort();
    const child = spawnServe(['--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port), '--role', 'api', '--log-level', 'error',
      '--headers-timeout', '1', '--request-timeout', '2', '--keep-alive-timeout', '1', '--connections-per-ip', '2']);
    try {
      await waitReady(`http://127.0.0.1:${port}`, child, 30_000);
      const stalled = await connection(port);
      const held = await connection(port);
      const extra = await connection(port);
      assert.notEqual(await extra.closed(), 'open', 'the third connection from one address was not closed');
      stalled.socket.write('POST /core/v1/organizations/organization/api_tokens HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n{');
      assert.notEqual(await stalled.closed(), 'open', 'the stalled body was not closed');
      assert.match(stalled.received(), /^HTTP\/1\.1 408 /);
      held.socket.destroy();
    } finally {
      await child.stop();
    }
    const refused = spawnServe(['--data-dir', dataDir, '--port', '0', '--headers-timeout', '40']);
    assert.equal(await refused.exited, 2);
    assert.match(refused.output(), /^dbp serve: --headers-timeout \(40\) cannot be longer than --request-timeout \(30\)\n/);
  });
});
