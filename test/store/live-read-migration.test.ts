/**
 * Migration 0009 on a database written before it: the engine used to say "read live" in a succeeded
 * run's `error`; afterwards that run has `live_read` true and no error, a failed run keeps its error,
 * and each backup's `live_read` follows its `consistency`.
 */
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { after, before, test } from 'node:test';
import { forEachEngine, TEST_NOW } from '../support/harness.js';
import { TestDatabase } from '../scheduler/support.js';

forEachEngine('migration 0009: live_read', (engine) => {
  let database: TestDatabase;
  before(() => {
    database = TestDatabase.create(engine);
  });
  after(() => database.close());

  test('moves "read live" out of succeeded runs\' errors into live_read; backups follow their consistency', async () => {
    const old = await database.open();
    const { db } = old.store;
    // The database as it was before 0009: without the columns, neither it nor any later migration applied.
    await sql`alter table backups drop column live_read`.execute(db);
    await sql`alter table backup_runs drop column live_read`.execute(db);
    await sql`drop table repository_binding`.execute(db);
    await sql`alter table backup_runs drop column copy`.execute(db);
    for (const table of ['webhooks', 'webhook_deliveries', 'webhook_delivery_attempts']) await sql`drop table ${sql.table(table)}`.execute(db);
    await sql`drop index backups_by_verification`.execute(db);
    await sql`drop index backups_by_verify_outcome`.execute(db);
    for (const column of ['verified_at', 'verify_outcome', 'verify_detail', 'verify_bytes', 'verify_claimed_until']) {
      await sql`alter table backups drop column ${sql.ref(column)}`.execute(db);
    }
    for (const column of ['source_snapshot', 'read_mode', 'base_backup_id', 'read_note', 'snapshot_group']) {
      await sql`alter table backups drop column ${sql.ref(column)}`.execute(db);
    }
    await sql`drop table operations`.execute(db); // its index goes with it
    await sql`delete from kysely_migration where name >= '0009_live_read'`.execute(db);

    const run = (id: string, scheduledAt: number, status: string, error: string | null) =>
      sql`insert into backup_runs (id, policy_id, organization_id, target_disk_ids, scheduled_at, claimed_at, status, error, attempts)
          values (${id}, 'dbp_legacy', 'org_legacy', '["disk_a"]', ${scheduledAt}, ${scheduledAt}, ${status}, ${error}, 1)`.execute(db);
    await run('run_live', TEST_NOW, 'succeeded', 'read live (no point-in-time clone): disk_a');
    await run('run_clone', TEST_NOW + 1, 'succeeded', null);
    await run('run_failed', TEST_NOW + 2, 'failed', 'disk_a: read live (no point-in-time clone) then the disk vanished');
    const backup = (id: string, consistency: string) =>
      sql`insert into backups (id, organization_id, policy_id, disk_id, run_id, repository_backup_id, created_at, disk_size_bytes, new_stored_bytes, consistency)
          values (${id}, 'org_legacy', 'dbp_legacy', 'disk_a', 'run_live', ${`repo_${id}`}, ${TEST_NOW}, 10, 10, ${consistency})`.execute(db);
    await backup('bkp_live', 'live');
    await backup('bkp_clone', 'snapshot');

    const migrated = await database.open();
    const runs = new Map((await migrated.services.runs.list({ limit: 10 })).map((r) => [r.id, r]));
    assert.deepEqual([runs.get('run_live')?.live_read, runs.get('run_live')?.error], [true, null]);
    assert.deepEqual([runs.get('run_clone')?.live_read, runs.get('run_clone')?.error], [false, null]);
    assert.deepEqual(
      [runs.get('run_failed')?.live_read, runs.get('run_failed')?.error],
      [false, 'disk_a: read live (no point-in-time clone) then the disk vanished'],
      'a failed run keeps its error',
    );
    const backups = new Map((await migrated.services.backups.list('dbp_legacy')).map((b) => [b.id, b.live_read]));
    assert.deepEqual(Object.fromEntries(backups), { bkp_live: true, bkp_clone: false });
  });
});
