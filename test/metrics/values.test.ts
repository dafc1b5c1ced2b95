/**
 * What /metrics says, proved against what happened: a finished run sets its policy's last success to
 * the run's time; requests are counted by route template (an id in the path makes no new series);
 * runs and verifications are observed; the per-policy families stop at the policy limit; a database
 * outage leaves the scrape standing with dbp_catalogue_up 0.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ProcessMetrics } from '../../src/metrics/process-metrics.js';
import { schedulerFor } from '../../src/scheduler/index.js';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';
import { corruptChunks } from '../support/repository-damage.js';

/** The value of one sample (`name{labels} value`, labels exactly as written), or undefined when it is missing. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const IMAGE_BYTES = 1024 * 1024 + 512 * 1024;

forEachEngine('metrics: values', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let diskId: string;
  let imagePath: string;
  let policy: { id: string; schedule: { next_invocation_at: number } };

  const scrape = async () => {
    const response = await service.call('GET', '/metrics');
    assert.equal(response.status, 200, response.text);
    return response.text;
  };

  before(async () => {
    service = await TestService.start(engine, { backupEngine: true });
    org = await service.createOrganization('Metrics');
    imagePath = join(service.dataDir, 'metrics.img');
    writeFileSync(imagePath, Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(512 * 1024)]));
    diskId = (await service.services.inventory.createDisk({ organizationId: org.id, name: 'metrics disk', sizeInGb: 1, imagePath })).id;
    policy = (await service.createPolicy(org.token, diskId, { retention: 3, schedule: { interval: 'hourly', minute: 10 } })) as typeof policy;
  });
  after(() => service.stop());

  test("a finished run: its policy's last success and last attempt are the run's times; duration and bytes are observed", async () => {
    const before = await scrape();
    const labels = `{policy="${policy.id}"}`;
    assert.equal(sample(before, `dbp_policy_last_success_timestamp_seconds${labels}`), undefined, 'no success yet');
    assert.equal(sample(before, `dbp_policy_interval_seconds${labels}`), 3600);
    assert.equal(sample(before, 'dbp_catalogue_up'), 1);
    assert.equal(sample(before, 'dbp_repository_up'), 1);

    const dueAt = policy.schedule.next_invocation_at;
    service.clock.set(dueAt + 30);
    const [finished] = await schedulerFor(service.runtime, { logger: false, runner: service.backupEngine! }).runDue();
    assert.equal(finished?.status, 'succeeded', finished?.error ?? '');
    const run = await service.runtime.store.db.selectFrom('backup_runs').selectAll().where('id', '=', finished!.run.id).executeTakeFirstOrThrow();
    const stored = await service.runtime.store.db.selectFrom('disk_backup_policies').select('total_size_bytes').where('id', '=', policy.id).executeTakeFirstOrThrow();

    const text = await scrape();
    assert.equal(sample(text, `dbp_policy_last_success_timestamp_seconds${labels}`), Number(run.finished_at));
    assert.equal(sample(text, `dbp_policy_last_attempt_timestamp_seconds${labels}`), Number(run.started_at));
    assert.equal(sample(text, `dbp_policy_last_success_timestamp_seconds${labels}`), dueAt + 30, 'the clock the run was recorded with');
    assert.ok(Number(stored.total_size_bytes) > 0);
    assert.equal(sample(text, `dbp_policy_stored_bytes${labels}`), Number(stored.total_size_bytes));
    assert.equal(sample(text, 'dbp_backup_runs_total{status="succeeded"}'), 1);
    assert.equal(sample(text, 'dbp_backup_run_duration_seconds_count{status="succeeded"}'), 1);
    assert.equal(sample(text, 'dbp_backup_run_read_bytes_sum'), IMAGE_BYTES);
    assert.ok(sample(text, 'dbp_backup_run_stored_bytes_sum')! > 0);
    // The totals scan whole tables, so a process reads them once a minute: a fresh registry reads them now.
    assert.equal(sample(await new ProcessMetrics(service.runtime.store.db, service.clock).render(), 'dbp_repository_backups'), 1);
    assert.equal(sample(text, 'dbp_backup_policies_due'), 0);

    // The next instant fails (its image is gone): the attempt moves on, the last success stays.
    rmSync(imagePath);
    const nextAt = dueAt + 3600;
    service.clock.set(nextAt + 5);
    const [failed] = await schedulerFor(service.runtime, { logger: false, runner: service.backupEngine! }).runDue();
    assert.equal(failed?.status, 'failed');
    const afterFailure = await scrape();
    assert.equal(sample(afterFailure, `dbp_policy_last_success_timestamp_seconds${labels}`), dueAt + 30);
    assert.equal(sample(afterFailure, `dbp_policy_last_attempt_timestamp_seconds${labels}`), nextAt + 5);
    assert.equal(sample(afterFailure, 'dbp_backup_runs_total{status="failed"}'), 1);
    assert.equal(sample(afterFailure, 'dbp_backup_run_duration_seconds_count{status="failed"}'), 1);
  });

  test('requests are counted under their route template, not their raw path', async () => {
    const other = await service.createDisk(org.id, { name: 'second' });
    const route = 'route="/core/v1/disks/:disk",method="GET"';
    const before = await scrape();
    const okBefore = sample(before, `dbp_http_requests_total{${route},status_code="200"}`) ?? 0;
    const notFoundBefore = sample(before, `dbp_http_requests_total{${route},status_code="404"}`) ?? 0;
    const countBefore = sample(before, `dbp_http_request_duration_seconds_count{${route}}`) ?? 0;

    for (const id of [diskId, other.id]) assert.equal((await service.call('GET', `disks/${id}`, { token: org.token })).status, 200);
    assert.equal((await service.call('GET', 'disks/disk_doesnotexist00', { token: org.token })).status, 404);
    assert.equal((await service.call('GET', '/no/such/path/123')).status, 404);

    const text = await scrape();
    assert.equal(sample(text, `dbp_http_requests_total{${route},status_code="200"}`), okBefore + 2);
    assert.equal(sample(text, `dbp_http_requests_total{${route},status_code="404"}`), notFoundBefore + 1);
    assert.equal(sample(text, `dbp_http_request_duration_seconds_count{${route}}`), countBefore + 3);
    assert.ok(sample(text, 'dbp_http_requests_total{route="unmatched",method="GET",status_code="404"}')! >= 1);
    const httpLines = text.split('\n').filter((line) => line.startsWith('dbp_http_'));
    for (const raw of [diskId, other.id, 'disk_doesnotexist00', '/no/such/path']) {
      assert.equal(httpLines.filter((line) => line.includes(raw)).length, 0, `${raw} made a series of its own`);
    }
  });

  test('verifications are counted by outcome', async () => {
    const backup = await service.runtime.store.db.selectFrom('backups').select('id').where('policy_id', '=', policy.id).executeTakeFirstOrThrow();
    const verify = async () => (await service.call('POST', `/ext/v1/backups/${backup.id}/verify`, { token: org.token })).body?.verification?.ok;
    assert.equal(await verify(), true);
    let text = await scrape();
    assert.equal(sample(text, 'dbp_backup_verifications_total{outcome="ok"}'), 1);
    assert.equal(sample(text, 'dbp_backup_verifications_total{outcome="failed"}'), 0);
    assert.ok((await corruptChunks(service.backupEngine!.repository)) > 0);
    assert.equal(await verify(), false);
    text = await scrape();
    assert.equal(sample(text, 'dbp_backup_verifications_total{outcome="failed"}'), 1);
  });

  test('per-policy series stop at the policy limit, and dbp_policies_omitted counts the rest', async () => {
    const second = await service.createPolicy(org.token, diskId, { retention: 1, schedule: { interval: 'daily', time: 3 } });
    const metrics = new ProcessMetrics(service.runtime.store.db, service.clock, { policyLimit: 1 });
    const text = await metrics.render();
    const intervals = text.split('\n').filter((line) => line.startsWith('dbp_policy_interval_seconds{'));
    assert.deepEqual(intervals, [`dbp_policy_interval_seconds{policy="${policy.id}"} 3600`], 'the oldest policy keeps its series');
    assert.equal(sample(text, 'dbp_policies_omitted'), 1);
    assert.equal(sample(text, 'dbp_policies'), 2);
    assert.equal(sample(await scrape(), `dbp_policy_interval_seconds{policy="${second.id}"}`), 86_400, 'the default limit shows both');
  });

  test('a database outage: /metrics still answers, with dbp_catalogue_up 0 and no catalogue families', async () => {
    const gone = await service.openAnotherConnection();
    await gone.close();
    const metrics = new ProcessMetrics(gone.store.db, service.clock);
    metrics.countRun('failed');
    const text = await metrics.render();
    assert.equal(sample(text, 'dbp_catalogue_up'), 0);
    assert.equal(sample(text, 'dbp_backup_policies_due'), undefined);
    assert.equal(text.split('\n').filter((line) => line.startsWith('dbp_policy_')).length, 0);
    assert.equal(sample(text, 'dbp_backup_runs_total{status="failed"}'), 1, 'what the process counted is still served');
    assert.match(text, /^process_cpu_seconds_total \d/m);
  });
});
