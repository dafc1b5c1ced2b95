/**
 * Several processes, one catalogue, one repository: an API-only `dbp serve` and a worker (`--role
 * all`: the scheduler, and an API to check the operations on it too) on their own data directories,
 * one PostgreSQL database and ONE repository given by `--repository`. Every /ext/v1 operation works on
 * either process — run, list, restore, verify, retention — and a `dbp gc` from a third data directory
 * keeps every backup restorable. A process given another repository refuses to start and says which.
 *
 * The repository's location is the suite's one parameter: the suite runs on a local directory and on
 * S3 (prefixes of one bucket of the test radosgw; skipped without one, see test/support/s3.ts).
 *
 * Runs only with TEST_DATABASE_URL (a PostgreSQL URL whose user may CREATE DATABASE); it creates and
 * drops its own database.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3RepositoryUrl, s3Settings, s3Skip, s3TestClient, uniqueBucketName } from '../support/s3.js';
import { openRuntime } from '../../src/runtime.js';
import { dbp } from '../support/dbp-cli.js';
import { call, createDatabase, cleanUpServeTest, freePort, queryDatabase, spawnServe, waitReady, type Child, type Observed } from '../support/serve-process.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL;
const SKIP = ADMIN_URL ? false : 'TEST_DATABASE_URL is not set (a PostgreSQL URL allowed to CREATE DATABASE): multi-process PostgreSQL tests skipped';
const PASSWORD = 'shared repository test';
const ENV = { DBP_REPOSITORY_PASSWORD: PASSWORD };

/** Where the suite's repositories live: the shared one, and others a process may be wrongly given. */
interface RepositoryLocations {
  readonly name: string;
  /** The one repository every process is given. */
  shared(root: string): string;
  /** Another repository (a different one on each call). */
  other(root: string, label: string): string;
}

const LOCAL_DIRECTORIES: RepositoryLocations = {
  name: 'a local directory',
  shared: (root) => join(root, 'shared-repository'),
  other: (root, label) => join(root, `other-repository-${label}`),
};

function sharedRepositorySuite(locations: RepositoryLocations): void {
  describe(`two dbp processes, one PostgreSQL catalogue, one repository (${locations.name})`, { skip: SKIP }, () => {
    const databaseName = `dbp_shared_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const root = mkdtempSync(join(tmpdir(), 'dbp-shared-'));
    const repository = locations.shared(root);
    const imagePath = join(root, 'source.img');
    const children: Child[] = [];
    let databaseUrl: string;
    let api: string;
    let worker: string;
    let token: string;
    let policyId: string;
    const backupIds: string[] = [];
    /** Each backup's image as it was taken (the source changes between runs). */
    const imageOf = new Map<string, Buffer>();
    let scheduledInstant = 0;

    const ext = (path: string) => `/ext/v1/${path}`;
    const list = async (base: string): Promise<string[]> => {
      const listed = await call(base, 'GET', ext(`disk_backup_policies/${policyId}/backups`), { token });
      assert.equal(listed.status, 200, listed.text);
      return listed.body.backups.map((backup: { id: string }) => backup.id);
    };
    const run = async (base: string): Promise<Observed> => call(base, 'POST', ext(`disk_backup_policies/${policyId}/run`), { token, timeoutMs: 60_000 });
    /** Restores through `base` and answers the new disk's image bytes. */
    const restore = async (base: string, backupId: string): Promise<Buffer> => {
      const restored = await call(base, 'POST', ext(`backups/${backupId}/restore`), { token, json: { name: `restored ${backupId}` }, timeoutMs: 60_000 });
      assert.equal(restored.status, 200, restored.text);
      const [row] = await queryDatabase<{ image_path: string }>(databaseUrl, `select image_path from disks where id = '${restored.body.disk.id}'`);
      return readFileSync(row!.image_path);
    };
    const serve = (role: 'api' | 'all' | 'worker', port: number, dataDir: string, extra: string[] = []): Child => {
      const portFlag = role === 'worker' ? '--metrics-port' : '--port';
      const child = spawnServe(['--role', role, portFlag, String(port), '--data-dir', dataDir, '--database-url', databaseUrl, '--log-level', 'warn', ...extra], ENV);
      children.push(child);
      return child;
    };

    before(async () => {
      databaseUrl = await createDatabase(ADMIN_URL!, databaseName);
      writeFileSync(imagePath, Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(256 * 1024), randomBytes(256 * 1024)]));
      const runtime = await openRuntime({ dataDir: join(root, 'setup'), databaseUrl });
      try {
        const organization = await runtime.services.inventory.createOrganization({ name: 'Shared', subDomain: 'shared' });
        token = (await runtime.services.tokens.create({ organizationId: organization.id })).secret;
        const disk = await runtime.services.inventory.createDisk({ organizationId: organization.id, name: 'shared disk', sizeInGb: 1, imagePath });
        const policy = await runtime.services.policies.create(organization.id, { type: 'Disk', id: disk.id, name: disk.name }, { retention: 2, schedule: { interval: 'daily' } });
        policyId = policy.id;
      } finally {
        await runtime.close();
      }
      const [apiPort, workerPort] = [await freePort(), await freePort()];
      api = `http://127.0.0.1:${apiPort}`;
      worker = `http://127.0.0.1:${workerPort}`;
      // Started together on an empty catalogue and a repository not yet created: both race to create
      // the repository and to bind the catalogue to it, and must agree.
      const apiChild = serve('api', apiPort, join(root, 'api'), ['--repository', repository]);
      const workerChild = spawnServe(
        ['--role', 'all', '--port', String(workerPort), '--data-dir', join(root, 'worker'), '--database-url', databaseUrl, '--log-level', 'warn'],
        { ...ENV, DBP_REPOSITORY: repository },
      );
      children.push(workerChild);
      await Promise.all([waitReady(api, apiChild, 30_000), waitReady(worker, workerChild, 30_000)]);
    });

    after(() =>
      cleanUpServeTest(databaseUrl ? { adminUrl: ADMIN_URL!, name: databaseName } : undefined, root, async () => {
        await Promise.all(children.map((child) => child.stop()));
      }),
    );

    test('both processes open the one repository: the catalogue is bound to it and /healthz says backups are enabled on each', async () => {
      const rows = await queryDatabase<{ repository_id: string; location: string }>(databaseUrl, 'select repository_id, location from repository_binding');
      assert.equal(rows.length, 1);
      assert.match(rows[0]!.repository_id, /^[0-9a-f]{32}$/);
      assert.equal(rows[0]!.location, repository);
      for (const base of [api, worker]) {
        const health = await call(base, 'GET', '/healthz');
        assert.equal(health.status, 200, health.text);
        assert.equal(health.body.backups, 'enabled', health.text);
      }
    });

    test('a run on the API-only process is listed on both and restores on the worker', async () => {
      const ran = await run(api);
      assert.equal(ran.status, 200, ran.text);
      assert.equal(ran.body.run.status, 'succeeded', ran.text);
      const [taken] = ran.body.run.backups;
      backupIds.push(taken.id);
      imageOf.set(taken.id, readFileSync(imagePath));
      assert.deepEqual(await list(api), [taken.id]);
      assert.deepEqual(await list(worker), [taken.id]);
      assert.deepEqual(await restore(worker, taken.id), readFileSync(imagePath));
    });

    test("a run of the worker's scheduler restores on the API-only process", async () => {
      // New data, so that the first backup has chunks of its own (for gc to collect once it is pruned).
      const changed = readFileSync(imagePath);
      randomBytes(1024 * 1024).copy(changed);
      writeFileSync(imagePath, changed);
      // An instant of its own: a run is unique per policy and instant, and the manual run took one a moment ago.
      scheduledInstant = Math.floor(Date.now() / 1000) + 2;
      await queryDatabase(databaseUrl, `update disk_backup_policies set next_invocation_at = ${scheduledInstant} where id = '${policyId}'`);
      const deadline = Date.now() + 60_000;
      let listed: string[] = [];
      while (Date.now() < deadline) {
        listed = await list(api);
        if (listed.length === 2) break;
        await sleep(200);
      }
      assert.equal(listed.length, 2, `the scheduled run was not taken: ${JSON.stringify(listed)}`);
      // The backup is recorded before its run finishes (retention, sizes): wait for the run's outcome.
      let runRow: { status: string; error: string | null } | undefined;
      while (Date.now() < deadline) {
        [runRow] = await queryDatabase<{ status: string; error: string | null }>(
          databaseUrl,
          `select r.status, r.error from backup_runs r join backups b on b.run_id = r.id where b.id = '${listed[0]}'`,
        );
        if (runRow?.status !== 'claimed') break;
        await sleep(200);
      }
      assert.equal(runRow?.status, 'succeeded', JSON.stringify(runRow));
      backupIds.unshift(listed[0]!);
      imageOf.set(listed[0]!, changed);
      assert.deepEqual(await restore(api, listed[0]!), changed);
    });

    test('verify checks every backup on either process', async () => {
      for (const base of [api, worker]) {
        for (const backupId of backupIds) {
          const verified = await call(base, 'POST', ext(`backups/${backupId}/verify`), { token, timeoutMs: 60_000 });
          assert.equal(verified.status, 200, verified.text);
          assert.equal(verified.body.verification.ok, true, verified.text);
          assert.ok(verified.body.verification.chunks_checked > 0, `nothing was checked: ${verified.text}`);
        }
      }
    });

    test("retention on one process prunes for both: a run on the worker keeps the policy's newest 2", async () => {
      const oldest = backupIds.at(-1)!;
      while (Date.now() / 1000 < scheduledInstant + 1) await sleep(100); // the manual run's instant: a later one
      const ran = await run(worker);
      assert.equal(ran.status, 200, ran.text);
      assert.equal(ran.body.run.status, 'succeeded', ran.text);
      const newest = ran.body.run.backups[0].id as string;
      imageOf.set(newest, readFileSync(imagePath));
      const kept = [newest, backupIds[0]!];
      assert.deepEqual(await list(worker), kept);
      assert.deepEqual(await list(api), kept);
      const gone = await call(api, 'POST', ext(`backups/${oldest}/verify`), { token });
      assert.equal(gone.status, 404, gone.text);
      assert.equal(gone.body.error.code, 'backup_not_found');
      backupIds.splice(0, backupIds.length, ...kept);
    });

    test('dbp gc from a third data directory on the same repository leaves every kept backup whole', async () => {
      const gc = await dbp(['gc', '--data-dir', join(root, 'gc'), '--database-url', databaseUrl, '--repository', repository, '--json'], { env: ENV });
      assert.equal(gc.code, 0, gc.stderr);
      assert.ok(JSON.parse(gc.stdout).chunks_removed > 0, `the pruned backup's own chunks are collected: ${gc.stdout}`);
      for (const [base, backupId] of [[api, backupIds[0]!], [worker, backupIds[1]!]] as const) {
        const verified = await call(base, 'POST', ext(`backups/${backupId}/verify`), { token, timeoutMs: 60_000 });
        assert.equal(verified.body.verification.ok, true, verified.text);
        assert.deepEqual(await restore(base, backupId), imageOf.get(backupId));
      }
    });

    describe('a process given another repository refuses to start, naming both', () => {
      const boundRepository = async () =>
        (await queryDatabase<{ repository_id: string }>(databaseUrl, 'select repository_id from repository_binding'))[0]!.repository_id;

      const assertRefused = async (child: Child, otherLocation: string, holds: RegExp) => {
        const code = await Promise.race([child.exited, sleep(30_000).then(() => 'still running')]);
        const output = child.output();
        assert.equal(code, 1, `exit ${String(code)}:\n${output}`);
        const bound = await boundRepository();
        assert.match(output, new RegExp(`written with repository ${bound} at ${escape(repository)}`), output);
        assert.match(output, new RegExp(`this process was given ${escape(otherLocation)}, which holds ${holds.source}`), output);
        assert.match(output, /Point --repository \(or DBP_REPOSITORY\)/, output);
        assert.doesNotMatch(output, /\n\s+at /, 'no stack trace');
        assert.equal(output.trim().split('\n').length, 1, `one paragraph:\n${output}`);
      };

      test('a location that holds no repository: exit 1, and nothing is created there', async () => {
        const otherLocation = locations.other(root, 'empty');
        const child = serve('worker', await freePort(), join(root, 'third'), ['--repository', otherLocation]);
        await assertRefused(child, otherLocation, /no repository/);
        if (!otherLocation.startsWith('s3:')) assert.equal(existsSync(otherLocation), false, 'no repository was created there');
        assert.deepEqual(await list(api), backupIds, 'the catalogue is untouched');
      });

      test("no --repository at all (the data directory's own, as in the split this prevents): exit 1", async () => {
        const dataDir = join(root, 'defaulted');
        const child = serve('worker', await freePort(), dataDir);
        await assertRefused(child, join(dataDir, 'repository'), /no repository/);
      });

      test('another existing repository (through DBP_REPOSITORY): exit 1, the binding is unchanged', async () => {
        const otherLocation = locations.other(root, 'existing');
        // Created by a process of its own catalogue (SQLite in another data directory).
        const created = await dbp(['backups', 'list', '--data-dir', join(root, 'elsewhere')], { env: { ...ENV, DBP_REPOSITORY: otherLocation } });
        assert.equal(created.code, 0, created.stderr);
        const before = await boundRepository();
        const child = spawnServe(
          ['--role', 'api', '--port', String(await freePort()), '--data-dir', join(root, 'fourth'), '--database-url', databaseUrl, '--log-level', 'warn'],
          { ...ENV, DBP_REPOSITORY: otherLocation },
        );
        children.push(child);
        await assertRefused(child, otherLocation, /repository [0-9a-f]{32}/);
        assert.doesNotMatch(child.output(), new RegExp(`which holds repository ${before}`));
        assert.equal(await boundRepository(), before);
      });

      test('the CLI commands that use the engine refuse too', async () => {
        const otherLocation = locations.other(root, 'cli');
        const listed = await dbp(['backups', 'list', '--data-dir', join(root, 'fifth'), '--database-url', databaseUrl, '--repository', otherLocation], { env: ENV });
        assert.equal(listed.code, 1, listed.stderr);
        assert.match(listed.stderr, /^dbp backups list: This database's backup catalogue was written with repository [0-9a-f]{32}/);
        assert.doesNotMatch(listed.stderr, /\n\s+at /);
      });
    });
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Prefixes of one bucket of the test radosgw (made before the suite runs). */
const S3_BUCKET = s3Settings ? uniqueBucketName('shared') : '';
const S3_PREFIXES: RepositoryLocations = {
  name: 'S3',
  shared: (root) => s3RepositoryUrl(S3_BUCKET, `shared-${basename(root)}`),
  other: (root, label) => s3RepositoryUrl(S3_BUCKET, `other-${basename(root)}-${label}`),
};

sharedRepositorySuite(LOCAL_DIRECTORIES);
if (s3Settings && !SKIP) {
  before(async () => {
    const client = s3TestClient();
    try {
      await client.send(new CreateBucketCommand({ Bucket: S3_BUCKET }));
    } finally {
      client.destroy();
    }
  });
  sharedRepositorySuite(S3_PREFIXES);
} else {
  test('two dbp processes, one PostgreSQL catalogue, one repository (S3)', { skip: SKIP || s3Skip }, () => {});
}
