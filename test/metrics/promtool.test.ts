/**
 * Prometheus's own checker on what we ship: `promtool check metrics` (format and lint) on /metrics of
 * a real API process and of a real worker's metrics port, and `promtool check rules` / `test rules` on
 * docs/monitoring. Skipped when promtool is not installed (Debian: `apt-get install prometheus`),
 * unless DBP_REQUIRE_PROMTOOL=1 (CI) makes that a failure.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import { forEachEngine, TEST_REPOSITORY_PASSWORD } from '../support/harness.js';
import { call, freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';
import { createDiskPolicy, createOrganizationWithDisk, databaseUrlArgs, REPO_ROOT, TestDatabase } from '../scheduler/support.js';

const MONITORING = join(REPO_ROOT, 'docs', 'monitoring');
const installed = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const required = process.env.DBP_REQUIRE_PROMTOOL === '1';
const skip = installed ? false : required ? false : 'promtool is not installed (DBP_REQUIRE_PROMTOOL=1 makes this a failure)';

/** Runs promtool with `input` on stdin; answers its exit code and everything it printed. */
function promtool(args: string[], input?: string, cwd = REPO_ROOT): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end(input ?? '');
  });
}

test('promtool is installed where it is required', { skip: required ? false : 'DBP_REQUIRE_PROMTOOL is not 1' }, () => {
  assert.ok(installed, 'DBP_REQUIRE_PROMTOOL=1 but promtool is not on the PATH');
});

test('docs/monitoring/alerts.yml passes promtool check rules and its unit tests', { skip }, async () => {
  const checked = await promtool(['check', 'rules', 'alerts.yml'], undefined, MONITORING);
  assert.equal(checked.code, 0, checked.output);
  assert.match(checked.output, /SUCCESS: \d+ rules found/);
  const tested = await promtool(['test', 'rules', 'alerts.test.yml'], undefined, MONITORING);
  assert.equal(tested.code, 0, tested.output);
});

/** Every PromQL expression of the Grafana dashboard. */
function dashboardQueries(): string[] {
  const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
}

/** The dbp_ families an expression names (a histogram's _bucket/_sum/_count named as its family). */
function familiesIn(text: string): string[] {
  return [...text.matchAll(/\bdbp_[a-z_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, ''));
}

test('every query of the Grafana dashboard is valid PromQL (checked as recording rules)', { skip }, async () => {
  const queries = dashboardQueries();
  assert.ok(queries.length >= 20);
  const rules = { groups: [{ name: 'dashboard', rules: queries.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] };
  const dir = mkdtempSync(join(tmpdir(), 'dbp-dashboard-'));
  try {
    writeFileSync(join(dir, 'queries.yml'), JSON.stringify(rules)); // JSON is YAML
    const checked = await promtool(['check', 'rules', join(dir, 'queries.yml')]);
    assert.equal(checked.code, 0, checked.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

forEachEngine('metrics: promtool check metrics on real processes', (engine) => {
  let database: TestDatabase;
  let where: string[];
  const children: Child[] = [];

  before(async () => {
    if (skip) return;
    database = TestDatabase.create(engine);
    where = [...databaseUrlArgs(database.location), '--data-dir', database.location.dataDir];
  });
  after(async () => {
    for (const child of children) await child.stop();
    await database?.close();
  });

  test('/metrics of an API process and of a worker metrics port: no errors, no lint warnings', { skip }, async () => {
    // A policy on a small disk made two days ago on the real clock, so the worker backs it up at once.
    const past = await database.open(fixedClock(Math.floor(Date.now() / 1000) - 2 * 86400));
    const { organization } = await createOrganizationWithDisk(past);
    const imagePath = join(database.location.dataDir, 'small.img');
    writeFileSync(imagePath, randomBytes(256 * 1024));
    const disk = await past.services.inventory.createDisk({ organizationId: organization.id, name: 'small', sizeInGb: 1, imagePath });
    await createDiskPolicy(past, organization.id, disk, { interval: 'hourly', minute: 0 });
    const token = (await past.services.tokens.create({ organizationId: organization.id, scopes: ['disks'] })).secret;

    const apiPort = await freePort();
    const api = spawnServe(['--role', 'api', '--host', '127.0.0.1', '--port', String(apiPort), '--log-level', 'warn', ...where]);
    children.push(api);
    const apiBase = `http://127.0.0.1:${apiPort}`;
    await waitReady(apiBase, api, 60_000);
    const metricsPort = await freePort();
    const worker = spawnServe(
      ['--role', 'worker', '--host', '127.0.0.1', '--metrics-port', String(metricsPort), '--log-level', 'warn', ...where],
      { DBP_REPOSITORY_PASSWORD: TEST_REPOSITORY_PASSWORD },
    );
    children.push(worker);
    const workerBase = `http://127.0.0.1:${metricsPort}`;
    await waitReady(workerBase, worker, 60_000);

    assert.equal((await call(apiBase, 'GET', `disks/${disk.id}`, { token })).status, 200);
    let workerText = '';
    for (let i = 0; i < 300 && !/^dbp_backup_runs_total\{status="succeeded"\} 1$/m.test(workerText); i++) {
      await sleep(100);
      workerText = (await call(workerBase, 'GET', '/metrics')).text;
    }
    assert.match(workerText, /^dbp_backup_runs_total\{status="succeeded"\} 1$/m, worker.output());
    assert.match(workerText, /^dbp_repository_up 1$/m);
    assert.match(workerText, /^dbp_backup_run_read_bytes_sum 262144$/m);
    const apiText = (await call(apiBase, 'GET', '/metrics')).text;
    assert.match(apiText, /^dbp_http_requests_total\{route="\/core\/v1\/disks\/:disk",method="GET",status_code="200"\} 1$/m);
    assert.match(apiText, /^dbp_policy_last_attempt_timestamp_seconds\{policy="dbp_\w+"\} \d+$/m);

    // The alert rules and the dashboard name only families a process serves.
    const served = new Set([...`${apiText}\n${workerText}`.matchAll(/^# TYPE (\w+) /gm)].map(([, name]) => name!));
    const named = new Set([...familiesIn(readFileSync(join(MONITORING, 'alerts.yml'), 'utf8')), ...dashboardQueries().flatMap(familiesIn)]);
    assert.deepEqual([...named].filter((family) => !served.has(family)), []);

    for (const [name, text] of [['API', apiText], ['worker', workerText]] as const) {
      assert.match(text, /^process_resident_memory_bytes \d/m, `${name}: default process metrics`);
      const checked = await promtool(['check', 'metrics'], text);
      assert.equal(checked.code, 0, `${name}: ${checked.output}`);
      assert.equal(checked.output.trim(), '', `${name}: promtool has something to say`);
    }
  });
});
