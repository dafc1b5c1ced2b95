/**
 * `GET /metrics` on the API: runs by status (counter), scheduling lag (histogram) and the due backlog
 * (gauge, read from the database at scrape), in the Prometheus text format.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { schedulerFor } from '../../src/scheduler/index.js';
import { forEachEngine, TestService } from '../support/harness.js';

/** The value of one sample line (`name{labels} value`), or undefined when it is missing. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

forEachEngine('scheduler: /metrics', (engine) => {
  let service: TestService;

  before(async () => {
    service = await TestService.start(engine);
  });
  after(() => service.stop());

  test('exposes runs by status, the lag histogram and the due backlog', async () => {
    const organization = await service.createOrganization();
    const disk = await service.createDisk(organization.id);
    const policy = await service.createPolicy(organization.token, disk.id, { retention: 3, schedule: { interval: 'hourly', minute: 10 } });
    const scrape = async () => {
      const response = await service.call('GET', '/metrics');
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return response.text;
    };

    const before = await scrape();
    assert.match(before, /^# TYPE dbp_backup_runs_total counter$/m);
    assert.match(before, /^# TYPE dbp_backup_run_lag_seconds histogram$/m);
    assert.match(before, /^# TYPE dbp_backup_policies_due gauge$/m);
    assert.equal(sample(before, 'dbp_backup_policies_due'), 0);
    const skippedBefore = sample(before, 'dbp_backup_runs_total{status="skipped"}')!;
    const lagCountBefore = sample(before, 'dbp_backup_run_lag_seconds_count')!;
    const within10sBefore = sample(before, 'dbp_backup_run_lag_seconds_bucket{le="10"}')!;

    const dueAt = (policy.schedule as { next_invocation_at: number }).next_invocation_at;
    service.clock.set(dueAt + 30);
    assert.equal(sample(await scrape(), 'dbp_backup_policies_due'), 1);

    await schedulerFor(service.runtime, { logger: false }).runDue(); // reports to the runtime's metrics
    const afterRun = await scrape();
    assert.equal(sample(afterRun, 'dbp_backup_policies_due'), 0);
    assert.equal(sample(afterRun, 'dbp_backup_runs_total{status="skipped"}'), skippedBefore + 1);
    assert.equal(sample(afterRun, 'dbp_backup_runs_total{status="succeeded"}'), 0, 'nothing is reported as a backup');
    assert.equal(sample(afterRun, 'dbp_backup_run_lag_seconds_count'), lagCountBefore + 1);
    assert.equal(sample(afterRun, 'dbp_backup_run_lag_seconds_bucket{le="10"}'), within10sBefore, '30 s late');
    assert.equal(sample(afterRun, 'dbp_backup_run_lag_seconds_bucket{le="30"}'), lagCountBefore + 1);
    assert.equal(sample(afterRun, 'dbp_backup_run_lag_seconds_bucket{le="+Inf"}'), lagCountBefore + 1);
  });
});
