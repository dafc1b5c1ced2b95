import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { dbp, dbpJson, spawnDbp } from '../support/dbp-cli.js';

/**
 * `dbp policy run` ends its run on every exit path it can see, and a run whose process is gone
 * stops blocking its policy within its (short) lease: issue 15, defects 2 and 3. Every command is a
 * real child process; the manual run's lease is made short for the test with DBP_RUN_LEASE_SECONDS.
 */
const LEASE_SECONDS = 3;
process.env.DBP_RUN_LEASE_SECONDS = String(LEASE_SECONDS); // the children inherit it (see spawnDbp)

const MiB = 1024 * 1024;
let dataDir: string;
let demo: any;
let policyId: string;
let imagePath: string;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-policy-run-interrupts-'));
  demo = await dbpJson(['demo', '--data-dir', dataDir]);
  policyId = demo.disk_backup_policy.id;
  imagePath = join(dataDir, 'disks', `${demo.disk.id}.img`);
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** Fresh random content at the start of the disk's image, so that its next backup has `mib` MiB to store. */
function freshContent(mib: number): void {
  const fd = openSync(imagePath, 'r+');
  try {
    for (let offset = 0; offset < mib * MiB; offset += 16 * MiB) writeSync(fd, randomBytes(16 * MiB), 0, 16 * MiB, offset);
  } finally {
    closeSync(fd);
  }
}

/** The image back to all holes (nothing to read): the next backup of it is quick. */
function emptyContent(): void {
  const size = statSync(imagePath).size;
  truncateSync(imagePath, 0);
  truncateSync(imagePath, size);
}

async function runsOfPolicy(): Promise<any[]> {
  return dbpJson(['runs', 'list', '--policy', policyId, '--data-dir', dataDir]);
}

/** Waits (bounded, not a fixed sleep) until `condition` answers something truthy. */
async function waitUntil<T>(what: string, condition: () => Promise<T | undefined | false>, boundMs = 60_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const answer = await condition();
    if (answer) return answer;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Starts `policy run` and answers the child once its run is recorded as running. */
async function startRun(leaseSeconds = LEASE_SECONDS): Promise<{ child: ChildProcess; exit: Promise<{ code: number | null; signal: string | null; stderr: string }>; runId: string }> {
  const before = new Set((await runsOfPolicy()).map((run) => run.id));
  process.env.DBP_RUN_LEASE_SECONDS = String(leaseSeconds);
  const child = spawnDbp(['policy', 'run', policyId, '--data-dir', dataDir, '--json']);
  process.env.DBP_RUN_LEASE_SECONDS = String(LEASE_SECONDS);
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  const run = await waitUntil('the manual run to be recorded as running', async () => {
    if (child.exitCode !== null) throw new Error(`policy run ended before it was interrupted: ${stderr}`);
    return (await runsOfPolicy()).find((r) => !before.has(r.id) && r.status === 'running');
  });
  return { child, exit, runId: run.id };
}

describe('policy run: interrupted runs end recorded, dead runs free the policy', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    test(`${signal}: the run is recorded failed (cancelled) at once and the process exits ${code}`, async () => {
      freshContent(256);
      const { child, exit, runId } = await startRun();
      child.kill(signal);
      const ended = await exit;
      assert.equal(ended.code, code, ended.stderr);
      assert.match(ended.stderr, new RegExp(`interrupted by ${signal}.*${runId} recorded as failed`));
      const run = (await runsOfPolicy()).find((r) => r.id === runId);
      assert.equal(run.status, 'failed');
      assert.match(run.error, new RegExp(`^cancelled: interrupted by ${signal}`));
      assert.equal(run.lease_expires_at, null, 'the run is finished, not waiting for its lease');
      // The policy is free at once: the next manual run is not refused.
      emptyContent();
      const next = await dbpJson(['policy', 'run', policyId, '--data-dir', dataDir]);
      assert.equal(next.status, 'succeeded');
    });
  }

  test('kill -9: the run blocks the policy only until its short lease expires; the next scheduled instant runs', async () => {
    freshContent(256);
    // A lease long enough to see the refusal, short of the next instant (the old fake lease was 24 h).
    const { child, exit, runId } = await startRun(60);
    child.kill('SIGKILL');
    await exit;
    const refused = await dbp(['policy', 'run', policyId, '--data-dir', dataDir]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `dbp policy run: policy ${policyId} already has a run in progress: ${runId}\n`);

    // The scheduler at the policy's next instant (an hour or so ahead, well within the old 24 h lease)
    // finds the dead run's lease expired, finishes it as failed and runs the instant.
    const policy = await dbpJson(['policy', 'show', policyId, '--data-dir', dataDir]);
    const nextAt = Number(policy.next_invocation_at);
    assert.ok(nextAt > Date.now() / 1000, 'the next instant is ahead');
    emptyContent();
    const due = await dbpJson(['run-due', '--now', String(nextAt), '--data-dir', dataDir, '--log-level', 'error']);
    const scheduled = due.runs.filter((r: any) => r.policy_id === policyId);
    assert.equal(scheduled.length, 1, JSON.stringify(due));
    assert.equal(scheduled[0].status, 'succeeded', JSON.stringify(scheduled[0]));
    const dead = (await runsOfPolicy()).find((r) => r.id === runId);
    assert.equal(dead.status, 'failed');
    assert.match(dead.error, /stopped before finishing it/);
  });

  test('kill -9: with real time, a manual run is accepted again once the dead run\'s lease has expired', async () => {
    freshContent(256);
    const { child, exit, runId } = await startRun();
    child.kill('SIGKILL');
    await exit;
    emptyContent();
    const started = Date.now();
    // Refused while the lease may still be renewed; accepted within a few lease lengths.
    const accepted = await waitUntil('a manual run to be accepted', async () => {
      const result = await dbp(['policy', 'run', policyId, '--data-dir', dataDir, '--json']);
      if (result.code === 1 && result.stderr.includes('already has a run in progress')) return false;
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout);
    });
    assert.equal(accepted.status, 'succeeded');
    assert.ok(Date.now() - started < 20 * LEASE_SECONDS * 1000);
    const dead = (await runsOfPolicy()).find((r) => r.id === runId);
    assert.equal(dead.status, 'failed');
    assert.match(dead.error, /stopped before finishing it/);
  });

  test('6 parallel policy runs: never two at once, each refused clearly or succeeded, none left running, backups restorable', async () => {
    // The repository exists first (creating it in six processes at once is defect 1, another test's).
    emptyContent();
    await dbpJson(['policy', 'run', policyId, '--data-dir', dataDir]);
    freshContent(128);
    const earlier = new Set((await runsOfPolicy()).map((run) => run.id));
    const results = await Promise.all(Array.from({ length: 6 }, () => dbp(['policy', 'run', policyId, '--data-dir', dataDir, '--json'])));
    let succeeded = 0;
    for (const result of results) {
      assert.doesNotMatch(result.stderr, /manifest is missing/);
      if (result.code === 0) {
        assert.equal(JSON.parse(result.stdout).status, 'succeeded');
        succeeded += 1;
      } else {
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`^dbp policy run: policy ${policyId} already has a run in progress: run_[A-Za-z0-9]{16}\\n$`));
      }
    }
    assert.ok(succeeded >= 1);
    const runs = (await runsOfPolicy()).filter((run) => !earlier.has(run.id));
    assert.equal(runs.length, succeeded, 'a refused run is not recorded');
    assert.deepEqual(runs.filter((r) => r.status === 'running' || r.lease_expires_at !== null), [], 'no run left unfinished');
    const spans = runs.map((r) => [Number(r.started_at), Number(r.finished_at), r.id as string] as const);
    for (const a of spans) for (const b of spans) {
      if (a[2] < b[2]) assert.ok(!(a[0] < b[1] && b[0] < a[1]), `runs ${a[2]} and ${b[2]} overlapped`);
    }
    const verify = await dbpJson(['verify', '--data-dir', dataDir]);
    assert.equal(verify.ok, true, JSON.stringify(verify));
    const [newest] = await dbpJson(['backups', 'list', '--policy', policyId, '--data-dir', dataDir]);
    await dbpJson(['restore', '--backup', newest.id, '--to', join(dataDir, 'restored.img'), '--data-dir', dataDir]);
  });
});
