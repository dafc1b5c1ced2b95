/**
 * Scheduled verification in a real `dbp serve --role worker` process (SQLite, and PostgreSQL when
 * TEST_DATABASE_URL is set): a backup whose pack is damaged on disk is verified by the worker on its
 * own — failed in the catalogue and on the worker's /metrics — and a bad setting is refused at start.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { fixedClock } from '../../src/domain/clock.js';
import { openBackupEngine } from '../../src/engine/index.js';
import { dbp } from '../support/dbp-cli.js';
import { forEachEngine, TEST_REPOSITORY_PASSWORD } from '../support/harness.js';
import { corruptChunks } from '../support/repository-damage.js';
import { call, freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';
import { createDiskPolicy, createOrganizationWithDisk, databaseUrlArgs, TestDatabase } from '../scheduler/support.js';

forEachEngine('scheduled verification in dbp serve', (engine) => {
  let database: TestDatabase;
  let where: string[];
  const children: Child[] = [];

  before(() => {
    database = TestDatabase.create(engine);
    where = [...databaseUrlArgs(database.location), '--data-dir', database.location.dataDir];
  });
  after(async () => {
    for (const child of children) await child.stop();
    await database.close();
  });

  test('a worker finds a damaged backup by itself: catalogue and /metrics say so', async () => {
    const now = Math.floor(Date.now() / 1000);
    const runtime = await database.open(fixedClock(now));
    const { organization } = await createOrganizationWithDisk(runtime);
    const imagePath = join(database.location.dataDir, 'verify.img');
    writeFileSync(imagePath, randomBytes(512 * 1024));
    const disk = await runtime.services.inventory.createDisk({ organizationId: organization.id, name: 'verify', sizeInGb: 1, imagePath });
    // Weekly: not due while the test runs, so the worker only verifies.
    const policy = await createDiskPolicy(runtime, organization.id, disk, { interval: 'weekly' });
    const engineHere = await openBackupEngine(runtime, { dataDir: database.location.dataDir, password: TEST_REPOSITORY_PASSWORD, workers: 1 });
    let backupId: string;
    try {
      const { result } = await engineHere.runPolicyNow(policy.id);
      assert.equal(result.status, 'succeeded', result.error ?? '');
      backupId = result.backups[0]!.id;
      assert.ok((await corruptChunks(engineHere.repository)) > 0);
    } finally {
      await engineHere.close();
    }

    const metricsPort = await freePort();
    const worker = spawnServe(['--role', 'worker', '--host', '127.0.0.1', '--metrics-port', String(metricsPort), ...where], {
      DBP_REPOSITORY_PASSWORD: TEST_REPOSITORY_PASSWORD,
      DBP_VERIFY_EVERY_DAYS: '1',
      DBP_VERIFY_MAX_SHARE: '0.5',
    });
    children.push(worker);
    const base = `http://127.0.0.1:${metricsPort}`;
    await waitReady(base, worker, 60_000);
    let text = '';
    for (let i = 0; i < 300 && !/^dbp_backups_verify_failed 1$/m.test(text); i++) {
      await sleep(100);
      text = (await call(base, 'GET', '/metrics')).text;
    }
    assert.match(text, /^dbp_backups_verify_failed 1$/m, worker.output());
    assert.match(text, /^dbp_backup_verifications_total\{outcome="failed"\} 1$/m, 'counted by the worker that verified it');
    const row = await runtime.store.db.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirstOrThrow();
    assert.equal(row.verify_outcome, 'failed');
    assert.ok(row.verified_at! >= now);
    await worker.stop();
    assert.match(worker.output(), /scheduled verification: backup DAMAGED/, 'the result is logged');
  });

  test('bad verification settings are refused at start with a clear error', async () => {
    for (const [flag, value] of [['--verify-every-days', '-1'], ['--verify-max-share', '0'], ['--verify-max-share', 'lots']] as const) {
      const result = await dbp(['serve', '--role', 'worker', flag, value, ...where]);
      assert.equal(result.code, 2, `${flag} ${value}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`${flag} must be a number`));
    }
  });
});
