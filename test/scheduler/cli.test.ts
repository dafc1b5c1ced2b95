/**
 * `dbp run-due --now …`, `dbp runs list` and `dbp serve --role worker`, run as child processes the
 * way an operator runs them, on a database prepared in this process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { afterEach, beforeEach, test } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import type { Runtime } from '../../src/runtime.js';
import { forEachEngine } from '../support/harness.js';
import { allRuns, createDiskPolicy, createOrganizationWithDisk, databaseUrlArgs, nextInvocationOf, REPO_ROOT, startNode, TestDatabase } from './support.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without anything that would point the CLI at another database. */
function cliEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.DBP_DATA_DIR;
  delete env.DBP_METRICS_PORT;
  delete env.DBP_ROLE;
  delete env.TEST_DATABASE_URL;
  return env;
}

function dbp(args: string[]): Promise<CliResult> {
  const env = cliEnv();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO_ROOT, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

forEachEngine('scheduler: dbp run-due and dbp runs list', (engine) => {
  let database: TestDatabase;
  let runtime: Runtime;
  /** The flags that point the CLI at the test database. */
  let where: string[];

  beforeEach(async () => {
    database = TestDatabase.create(engine);
    runtime = await database.open();
    // PostgreSQL: the database alone; SQLite: its directory.
    where = database.location.databaseUrl ? databaseUrlArgs(database.location) : ['--data-dir', database.location.dataDir];
  });
  afterEach(() => database.close());

  const cli = async (args: string[]) => {
    const result = await dbp([...args, ...where]);
    assert.equal(result.code, 0, `dbp ${args.join(' ')}: ${result.stderr}`);
    return result;
  };

  test('run-due runs what is due at --now once; runs list shows the records', async () => {
    const { organization, disk } = await createOrganizationWithDisk(runtime);
    const daily = await createDiskPolicy(runtime, organization.id, disk, { interval: 'daily', time: 2, minute: 30 });
    const hourly = await createDiskPolicy(runtime, organization.id, disk, { interval: 'hourly', minute: 15 });
    const at = daily.next_invocation_at; // by then the hourly one is long due too

    const early = JSON.parse((await cli(['run-due', '--now', String(hourly.next_invocation_at - 1), '--json'])).stdout);
    assert.deepEqual(early, { now: hourly.next_invocation_at - 1, counts: { succeeded: 0, failed: 0, skipped: 0 }, runs: [] });

    const result = await cli(['run-due', '--now', String(at), '--json']);
    const output = JSON.parse(result.stdout);
    assert.equal(output.now, at);
    assert.deepEqual(output.counts, { succeeded: 0, failed: 0, skipped: 2 });
    const byPolicy = new Map<string, any>(output.runs.map((run: any) => [run.policy_id, run]));
    assert.deepEqual(
      { scheduled_at: byPolicy.get(daily.id).scheduled_at, status: byPolicy.get(daily.id).status, error: byPolicy.get(daily.id).error, disks: byPolicy.get(daily.id).target_disk_ids },
      { scheduled_at: at, status: 'skipped', error: 'no backup engine', disks: [disk.id] },
    );
    assert.equal(byPolicy.get(hourly.id).scheduled_at, hourly.next_invocation_at, 'the instant it was waiting for');
    // One structured log line per run, on stderr.
    const logLines = result.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    const runLines = logLines.filter((line) => line.msg === 'backup run skipped');
    assert.equal(runLines.length, 2);
    assert.equal(runLines[0].error, 'no backup engine');

    assert.equal(await nextInvocationOf(runtime, daily.id), at + 86400);
    assert.equal(await nextInvocationOf(runtime, hourly.id), at + 45 * 60, 'the next :15 after --now');

    const again = JSON.parse((await cli(['run-due', '--now', String(at), '--json'])).stdout);
    assert.deepEqual(again.runs, [], 'nothing twice');

    const listed = JSON.parse((await cli(['runs', 'list', '--json'])).stdout);
    assert.equal(listed.length, 2);
    assert.deepEqual(Object.keys(listed[0]).sort(), [
      'attempts', 'claimed_at', 'copy', 'error', 'finished_at', 'id', 'lease_expires_at', 'live_read', 'organization_id', 'policy_id',
      'scheduled_at', 'started_at', 'status', 'target_disk_ids', 'worker_id',
    ]);
    assert.ok(listed.every((run: any) => run.status === 'skipped' && run.error === 'no backup engine' && run.started_at === at && run.finished_at === at));

    const ofDaily = JSON.parse((await cli(['runs', 'list', '--policy', daily.id, '--json'])).stdout);
    assert.deepEqual(ofDaily.map((run: any) => [run.policy_id, run.scheduled_at]), [[daily.id, at]]);

    const text = (await cli(['runs', 'list'])).stdout;
    assert.match(text, /^id\s+policy\s+scheduled_at/);
    assert.match(text, new RegExp(`${daily.id}\\s+2026-11-26T02:30:00Z`));
    assert.match(text, /no backup engine/);
  });

  test('dbp serve --role worker runs due policies and serves /metrics on --metrics-port', async () => {
    // A policy made two days ago on the real clock: long due when the worker starts.
    const twoDaysAgo = Math.floor(Date.now() / 1000) - 2 * 86400;
    const past = await database.open(fixedClock(twoDaysAgo));
    const { organization, disk } = await createOrganizationWithDisk(past);
    const policy = await createDiskPolicy(past, organization.id, disk, { interval: 'hourly', minute: 0 });

    const { child, done } = startNode('src/cli/main.ts', ['serve', '--role', 'worker', '--metrics-port', '0', '--host', '127.0.0.1', ...where], cliEnv());
    try {
      const started = await new Promise<{ metrics: string; worker: string }>((resolve, reject) => {
        let output = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const line = output.split('\n').find((l) => l.includes('"dbp started"'));
          if (line) resolve(JSON.parse(line));
        });
        child.once('close', () => reject(new Error(`dbp serve exited early: ${output}`)));
      });
      let runs: Awaited<ReturnType<typeof allRuns>> = [];
      for (let i = 0; i < 100 && runs.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        runs = (await allRuns(runtime)).filter((run) => run.finished_at !== null);
      }
      assert.deepEqual(runs.map((run) => [run.policy_id, run.scheduled_at, run.status, run.worker_id]), [
        [policy.id, policy.next_invocation_at, 'skipped', started.worker],
      ]);
      const metrics = await (await fetch(started.metrics)).text();
      assert.match(metrics, /^dbp_backup_runs_total\{status="skipped"\} 1$/m);
      assert.match(metrics, /^dbp_backup_policies_due 0$/m);
    } finally {
      child.kill('SIGTERM');
    }
    const exit = await done;
    assert.equal(exit.code, 0, exit.stderr);
  });

  test('bad flags are usage errors', async () => {
    const result = await dbp(['run-due', '--now', 'yesterday', ...where]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--now must be a whole number/);
    assert.equal((await dbp(['runs', 'show', ...where])).code, 2);
    const keepNone = await dbp(['serve', '--role', 'worker', '--keep-runs', '0', ...where]);
    assert.equal(keepNone.code, 2);
    assert.match(keepNone.stderr, /--keep-runs must be a whole number from 1/);
  });
});
