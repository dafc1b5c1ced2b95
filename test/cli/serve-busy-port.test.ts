/**
 * `dbp serve` on a port already in use (issue 15, defect 9): a real child process exits non-zero at
 * once with one line naming the port, and starts nothing else (it used to keep running as a worker).
 * Both the API port and the worker's metrics port.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { spawnServe, type Child } from '../support/serve-process.js';

delete process.env.DBP_METRICS_PORT;
delete process.env.DBP_REPOSITORY_PASSWORD;
delete process.env.DBP_REPOSITORY;

/** Far above a start-up on a loaded machine; a process that is still running then has not exited "at once". */
const EXIT_BOUND_MS = 30_000;

describe('dbp serve on a busy port', () => {
  let occupier: Server;
  let busyPort: number;
  const dataDirs: string[] = [];
  const children: Child[] = [];

  before(async () => {
    occupier = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    busyPort = (occupier.address() as { port: number }).port;
  });
  after(async () => {
    for (const child of children) await child.stop();
    await new Promise<void>((resolve) => occupier.close(() => resolve()));
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });

  async function serveExpectingExit(args: string[]): Promise<{ code: number | null; output: string }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'dbp-busy-port-'));
    dataDirs.push(dataDir);
    const child = spawnServe(['--data-dir', dataDir, '--host', '127.0.0.1', '--log-level', 'error', ...args]);
    children.push(child);
    const code = await Promise.race([child.exited, sleep(EXIT_BOUND_MS, undefined, { ref: false }).then(() => 'running' as const)]);
    assert.notEqual(code, 'running', `dbp serve still runs ${EXIT_BOUND_MS} ms after start on a busy port:\n${child.output()}`);
    return { code: code as number | null, output: child.output() };
  }

  test('the API port: exit 1, one line, nothing started', async () => {
    const { code, output } = await serveExpectingExit(['--port', String(busyPort)]);
    assert.equal(code, 1, output);
    assert.equal(output, `dbp serve: port ${busyPort} on 127.0.0.1 is already in use\n`);
  });

  test('the metrics port of a worker: exit 1, one line, no scheduler started', async () => {
    const { code, output } = await serveExpectingExit(['--role', 'worker', '--metrics-port', String(busyPort)]);
    assert.equal(code, 1, output);
    assert.equal(output, `dbp serve: port ${busyPort} on 127.0.0.1 is already in use\n`);
  });
});
