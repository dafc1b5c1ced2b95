/**
 * Long operations across processes: two `dbp serve --role api` on one PostgreSQL database and one
 * repository share nothing but the database. An operation started on one (`async=true`) is followed
 * on the other, part-way and to its end; an operation whose process is killed (kill -9) is reported
 * running while its heartbeat is fresh, then failed "interrupted" once it is older than
 * STALE_AFTER_SECONDS (read here with a clock that far ahead, rather than waiting).
 *
 * Runs only with TEST_DATABASE_URL (a PostgreSQL URL whose user may CREATE DATABASE).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import { openRuntime } from '../../src/runtime.js';
import { STALE_AFTER_SECONDS } from '../../src/services/operations.js';
import { call, createDatabase, cleanUpServeTest, freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL;
const SKIP = ADMIN_URL ? false : 'TEST_DATABASE_URL is not set (a PostgreSQL URL allowed to CREATE DATABASE): multi-process PostgreSQL tests skipped';
const ENV = { DBP_REPOSITORY_PASSWORD: 'operations across processes' };
const IMAGE_BYTES = 64 * 1024 * 1024;

describe('long operations across processes (PostgreSQL)', { skip: SKIP }, () => {
  const databaseName = `dbp_ops_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const root = mkdtempSync(join(tmpdir(), 'dbp-ops-'));
  const children: Child[] = [];
  let databaseUrl: string;
  let token: string;
  let policyId: string;
  let starter: { base: string; child: Child };
  let reader: string;
  const ext = (path: string) => `/ext/v1/${path}`;

  const serve = async (name: string) => {
    const port = await freePort();
    const child = spawnServe(
      ['--role', 'api', '--port', String(port), '--data-dir', join(root, name), '--database-url', databaseUrl, '--repository', join(root, 'repository'), '--log-level', 'warn'],
      ENV,
    );
    children.push(child);
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base, child, 30_000);
    return { base, child };
  };
  const operationOn = async (base: string, id: string) => {
    const result = await call(base, 'GET', ext(`operations/${id}`), { token });
    assert.equal(result.status, 200, result.text);
    return result.body.operation;
  };

  before(async () => {
    databaseUrl = await createDatabase(ADMIN_URL!, databaseName);
    const imagePath = join(root, 'source.img');
    writeFileSync(imagePath, randomBytes(IMAGE_BYTES));
    const runtime = await openRuntime({ dataDir: join(root, 'setup'), databaseUrl });
    try {
      const organization = await runtime.services.inventory.createOrganization({ name: 'Ops', subDomain: 'ops' });
      token = (await runtime.services.tokens.create({ organizationId: organization.id })).secret;
      const disk = await runtime.services.inventory.createDisk({ organizationId: organization.id, name: 'ops disk', sizeInGb: 1, imagePath });
      policyId = (await runtime.services.policies.create(organization.id, { type: 'Disk', id: disk.id, name: disk.name }, { retention: 2, schedule: { interval: 'daily' } })).id;
    } finally {
      await runtime.close();
    }
    // One after the other: the first creates the repository and binds the catalogue to it.
    starter = await serve('starter');
    reader = (await serve('reader')).base;
  });

  after(() =>
    cleanUpServeTest(databaseUrl ? { adminUrl: ADMIN_URL!, name: databaseName } : undefined, root, async () => {
      await Promise.all(children.map((child) => child.stop()));
    }),
  );

  test('a run started on one process is followed on the other, part-way and to its end', async () => {
    const started = await call(starter.base, 'POST', ext(`disk_backup_policies/${policyId}/run`), { token, json: { async: true } });
    assert.equal(started.status, 202, started.text);
    let partWay = false;
    let operation = started.body.operation;
    for (let polls = 0; operation.status === 'running' && polls < 2400; polls++) {
      await sleep(25);
      operation = await operationOn(reader, operation.id);
      if (operation.bytes_done > 0 && operation.bytes_done < operation.bytes_total) partWay = true;
    }
    assert.equal(operation.status, 'succeeded', JSON.stringify(operation));
    assert.ok(partWay, 'the other process saw it part-way');
    assert.equal(operation.bytes_done, IMAGE_BYTES);
    assert.equal(operation.bytes_total, IMAGE_BYTES);
    assert.equal(operation.run.backups[0].bytes_read, IMAGE_BYTES);
  });

  test(`an operation whose process is killed (kill -9) is failed "interrupted" once its heartbeat is over ${STALE_AFTER_SECONDS} s old`, async () => {
    const backups = await call(reader, 'GET', ext(`disk_backup_policies/${policyId}/backups`), { token });
    const backupId = backups.body.backups[0].id;
    const started = await call(starter.base, 'POST', ext(`backups/${backupId}/verify`), { token, json: { async: true } });
    assert.equal(started.status, 202, started.text);
    starter.child.process.kill('SIGKILL');
    await starter.child.exited;
    const id = started.body.operation.id;
    assert.equal((await operationOn(reader, id)).status, 'running', 'its heartbeat is fresh: it may be running');

    // Any process that reads it later than that records it failed.
    const later = await openRuntime({ dataDir: join(root, 'later'), databaseUrl, clock: fixedClock(Math.floor(Date.now() / 1000) + STALE_AFTER_SECONDS + 1) });
    try {
      const found = await later.services.operations.find(id);
      assert.equal(found?.status, 'failed');
      assert.match(found?.error ?? '', /^interrupted/);
    } finally {
      await later.close();
    }
    const seen = await operationOn(reader, id);
    assert.equal(seen.status, 'failed', 'recorded so, for every process');
    assert.match(seen.error, /^interrupted/);
    assert.notEqual(seen.finished_at, null);
  });
});
