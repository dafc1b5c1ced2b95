/**
 * `/healthz` tells apart a process that serves and takes backups from one that serves with backups
 * disabled (no repository passphrase: its scheduler records every run as skipped), on the API port
 * and on a worker's metrics port, with one body shape: through the test harness on each engine, and
 * through real `dbp serve` processes (SQLite) with and without a passphrase.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { forEachEngine, TestService } from '../support/harness.js';
import { call, freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';

// The child processes must not find a passphrase or a metrics port in this environment.
delete process.env.DBP_REPOSITORY_PASSWORD;
delete process.env.DBP_REPOSITORY;
delete process.env.DBP_METRICS_PORT;

forEachEngine('/healthz through the harness', (engine) => {
  test('with a backup engine: serving, backups enabled, no detail', async (t) => {
    const service = await TestService.start(engine, { backupEngine: true });
    t.after(() => service.stop());
    const result = await service.call('GET', '/healthz');
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(result.body, { ready: true, status: 'serving', role: 'api', database: 'reachable', backups: 'enabled' });
  });

  test('without one: serving, backups disabled, and why', async (t) => {
    const service = await TestService.start(engine);
    t.after(() => service.stop());
    const result = await service.call('GET', '/healthz');
    assert.equal(result.status, 200, result.text);
    assert.equal(result.body.status, 'serving');
    assert.equal(result.body.backups, 'disabled');
    assert.match(result.body.backups_detail, /no backup engine/);
  });
});

describe('/healthz of real dbp serve processes', () => {
  const dataDirs: string[] = [];
  const children: Child[] = [];
  after(async () => {
    for (const child of children) await child.stop();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });

  /** `dbp serve <args…>` on a fresh data directory (with a passphrase file when `passphrase`); answers its /healthz base URL. */
  async function serve(args: (port: number) => string[], options: { passphrase: boolean }): Promise<{ base: string; child: Child }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'dbp-healthz-'));
    dataDirs.push(dataDir);
    if (options.passphrase) writeFileSync(join(dataDir, 'repository.key'), 'a healthz test passphrase\n', { mode: 0o600 });
    const port = await freePort();
    const child = spawnServe(['--data-dir', dataDir, '--host', '127.0.0.1', '--log-level', 'warn', ...args(port)]);
    children.push(child);
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base, child, 30_000);
    return { base, child };
  }

  test('no passphrase: 200, serving, backups disabled, and how to set one', async () => {
    const { base } = await serve((port) => ['--port', String(port)], { passphrase: false });
    const result = await call(base, 'GET', '/healthz');
    assert.equal(result.status, 200, result.text);
    assert.equal(result.headers?.get('content-type'), 'application/json');
    assert.deepEqual(Object.keys(result.body), ['ready', 'status', 'role', 'database', 'backups', 'backups_detail']);
    assert.equal(result.body.status, 'serving');
    assert.equal(result.body.role, 'all');
    assert.equal(result.body.database, 'reachable');
    assert.equal(result.body.backups, 'disabled');
    assert.match(result.body.backups_detail, /^no repository passphrase: set DBP_REPOSITORY_PASSWORD \(or put one in .*repository\.key\)/);
    assert.match(result.body.backups_detail, /recorded as skipped/);
  });

  test('a passphrase: 200, serving, backups enabled', async () => {
    const { base } = await serve((port) => ['--port', String(port)], { passphrase: true });
    const result = await call(base, 'GET', '/healthz');
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(result.body, { ready: true, status: 'serving', role: 'all', database: 'reachable', backups: 'enabled' });
  });

  test('a worker-only process answers /healthz on its metrics port, its role worker, beside /metrics', async () => {
    const { base } = await serve((port) => ['--role', 'worker', '--port', '0', '--metrics-port', String(port)], { passphrase: false });
    const result = await call(base, 'GET', '/healthz');
    assert.equal(result.status, 200, result.text);
    assert.equal(result.headers?.get('content-type'), 'application/json');
    assert.deepEqual(Object.keys(result.body), ['ready', 'status', 'role', 'database', 'backups', 'backups_detail']);
    assert.equal(result.body.role, 'worker');
    assert.equal(result.body.status, 'serving');
    assert.equal(result.body.backups, 'disabled');
    assert.match(result.body.backups_detail, /^no repository passphrase: /);
    const metrics = await call(base, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^dbp_backup_policies_due /m);
    assert.equal((await call(base, 'GET', '/nothing')).status, 404);
  });

  test('a worker with a passphrase: backups enabled', async () => {
    const { base } = await serve((port) => ['--role', 'worker', '--port', '0', '--metrics-port', String(port)], { passphrase: true });
    const result = await call(base, 'GET', '/healthz');
    assert.deepEqual(result.body, { ready: true, status: 'serving', role: 'worker', database: 'reachable', backups: 'enabled' });
  });
});
