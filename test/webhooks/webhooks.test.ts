/**
 * Webhook notifications end to end in one process, on SQLite and PostgreSQL: events written by the
 * real scheduler and engine, delivered by the dispatcher over real HTTP to a receiver on loopback,
 * managed through /ext/v1. The clock is the harness's fixed clock: retries become due by moving it,
 * not by sleeping.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Scheduler } from '../../src/scheduler/index.js';
import { WebhookDispatcher } from '../../src/webhooks/dispatcher.js';
import { isValidSignature } from '../../src/webhooks/signature.js';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { nextInvocationOf } from '../scheduler/support.js';
import { corruptChunks } from '../support/repository-damage.js';

const SECRET_A = 'first-webhook-secret-0123456789';
const SECRET_B = 'second-webhook-secret-abcdefghij';
const SETTINGS = { batchSize: 50, timeoutMs: 2000, leaseSeconds: 30, retryBaseSeconds: 10, retryMaxSeconds: 60, giveUpAfterSeconds: 600 };

forEachEngine('webhooks', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let other: TestOrganization;
  let receiver: WebhookReceiver;
  let dispatcher: WebhookDispatcher;

  before(async () => {
    service = await TestService.start(engine, { backupEngine: true });
    org = await service.createOrganization('Hooked');
    other = await service.createOrganization('Elsewhere');
    receiver = await new WebhookReceiver().start();
    const { db } = service.runtime.store;
    dispatcher = new WebhookDispatcher({ db, engine: service.runtime.store.engine, clock: service.clock, logger: false, settings: SETTINGS });
  });
  after(async () => {
    await receiver.stop();
    await service.stop();
  });

  const ext = (method: string, path: string, options: { token?: string; json?: unknown; query?: string } = {}) =>
    service.call(method, `/ext/v1/${path}`, { token: options.token ?? org.token, ...(options.json ? { json: options.json } : {}), ...(options.query ? { query: options.query } : {}) });

  async function createWebhook(organization: TestOrganization, path: string, secret: string): Promise<string> {
    const created = await ext('POST', `organizations/_/webhooks`, {
      token: organization.token,
      json: { organization: { id: organization.id }, url: receiver.url(path), secret, description: path },
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.text.includes(secret), false, 'the secret is never answered back');
    return created.body.webhook.id as string;
  }

  /** A policy on a disk whose image file does not exist: every run of it fails. */
  async function brokenPolicy(organization: TestOrganization, name: string) {
    const disk = await service.services.inventory.createDisk({
      organizationId: organization.id, name, sizeInGb: 1, imagePath: join(service.dataDir, `missing-${name}.img`),
    });
    return service.createPolicy(organization.token, disk.id);
  }

  /** Delivers until nothing is due at the clock's now, moving the clock past each backoff (bounded). */
  async function deliverAll(rounds = 20): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      await dispatcher.deliverDue();
      const pending = await service.runtime.store.db.selectFrom('webhook_deliveries').select('next_attempt_at').where('status', '=', 'pending').execute();
      if (pending.length === 0) return;
      service.clock.set(Math.max(service.clock.now(), ...pending.map((row) => Number(row.next_attempt_at))));
    }
  }

  function assertSigned(secretsByPath: Record<string, string>) {
    for (const request of receiver.received) {
      assert.equal(request.headers['content-type'], 'application/json');
      const body = JSON.parse(request.body.toString('utf8'));
      assert.equal(request.headers['x-dbp-event-id'], body.id, 'the event id header names the body');
      assert.ok(isValidSignature(request.body, secretsByPath[request.path]!, request.headers['x-dbp-signature'] as string), `signature of ${request.path}`);
    }
  }

  test('bad input is refused with clear errors and writes nothing; the secret is never listed', async () => {
    const before = await service.runtime.store.db.selectFrom('webhooks').selectAll().execute();
    const attempts: [unknown, RegExp][] = [
      [{ url: 'ftp://example.com/x', secret: SECRET_A }, /URL must use http or https/],
      [{ url: 'not a url', secret: SECRET_A }, /not a valid absolute URL/],
      [{ url: 'https://example.com/x', secret: 'short' }, /Secret must be at least 16 characters/],
    ];
    for (const [json, message] of attempts) {
      const result = await ext('POST', 'organizations/_/webhooks', { json: { organization: { id: org.id }, ...(json as object) } });
      assert.equal(result.status, 422, result.text);
      assert.equal(result.body.error.code, 'validation_error');
      assert.match(JSON.stringify(result.body.error.detail), message);
    }
    const missing = await ext('POST', 'organizations/_/webhooks', { json: { organization: { id: org.id }, url: 'https://example.com/x' } });
    assert.equal(missing.status, 400, missing.text);
    assert.match(missing.text, /secret/);
    const otherOrg = await ext('POST', 'organizations/_/webhooks', { json: { organization: { id: other.id }, url: 'https://example.com/x', secret: SECRET_A } });
    assert.equal(otherOrg.status, 403, 'a token acts only for its own organization');
    assert.deepEqual(await service.runtime.store.db.selectFrom('webhooks').selectAll().execute(), before, 'nothing written');

    const id = await createWebhook(org, '/listed', SECRET_A);
    const listed = await ext('GET', 'organizations/_/webhooks', { query: `organization[id]=${org.id}` });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.body.webhooks.map((w: { id: string }) => w.id), [id]);
    assert.equal(listed.text.includes(SECRET_A), false);
    assert.equal((await ext('DELETE', `webhooks/${id}`, { token: other.token })).status, 403, "another organization's token cannot delete it");
    assert.equal((await ext('GET', `webhooks/${id}/deliveries`, { token: other.token })).status, 403);
    const deleted = await ext('DELETE', `webhooks/${id}`);
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal((await ext('DELETE', `webhooks/${id}`)).status, 404);
    assert.deepEqual((await ext('GET', 'organizations/_/webhooks', { query: `organization[id]=${org.id}` })).body.webhooks, []);
  });

  test('a failed scheduled run is announced exactly once to each webhook of its organization, signed with each secret', async () => {
    receiver.received.length = 0;
    receiver.answer = () => 204;
    const first = await createWebhook(org, '/a', SECRET_A);
    const second = await createWebhook(org, '/b', SECRET_B);
    const elsewhere = await createWebhook(other, '/other', SECRET_A);
    const policy = await brokenPolicy(org, 'gone');
    service.clock.set(await nextInvocationOf(service.runtime, policy.id));
    const scheduler = new Scheduler({ db: service.runtime.store.db, engine: service.runtime.store.engine, clock: service.clock, runner: service.backupEngine!, logger: false });
    const finished = await scheduler.runDue();
    assert.deepEqual(finished.map((run) => [run.run.policyId, run.status, run.recorded]), [[policy.id, 'failed', true]]);

    await deliverAll();
    assertSigned({ '/a': SECRET_A, '/b': SECRET_B, '/other': SECRET_A });
    const bodies = receiver.delivered();
    assert.deepEqual(receiver.received.map((r) => r.path).sort(), ['/a', '/b'], 'one delivery per webhook, none to another organization');
    assert.equal(bodies[0].id, bodies[1].id, 'one event, the same id to every webhook');
    for (const body of bodies) {
      assert.equal(body.schema, 'dbp.event.v1');
      assert.equal(body.type, 'backup_run.failed');
      assert.equal(body.organization.id, org.id);
      assert.equal(body.data.run.id, finished[0]!.run.id);
      assert.equal(body.data.run.disk_backup_policy_id, policy.id);
      assert.equal(body.data.run.manual, false);
      assert.match(body.data.run.error, /.+/);
    }
    const log = await ext('GET', `webhooks/${first}/deliveries`);
    assert.equal(log.status, 200, log.text);
    assert.equal(log.body.deliveries.length, 1);
    assert.equal(log.body.deliveries[0].status, 'delivered');
    assert.equal(log.body.deliveries[0].log.length, 1);
    assert.equal(log.body.deliveries[0].log[0].http_status, 204);

    // A manual run that fails is announced too (its own transaction: finishManualRun).
    receiver.received.length = 0;
    const { result } = await service.backupEngine!.runPolicyNow(policy.id);
    assert.equal(result.status, 'failed');
    await deliverAll();
    assert.deepEqual(receiver.delivered().map((b) => [b.type, b.data.run.manual]), [['backup_run.failed', true], ['backup_run.failed', true]]);
    for (const id of [first, second, elsewhere]) assert.equal((await ext('DELETE', `webhooks/${id}`, { token: id === elsewhere ? other.token : org.token })).status, 200);
  });

  test('a receiver failing its first deliveries gets every event, retried with backoff, each under one event id; a dead one is given up and logged', async () => {
    receiver.received.length = 0;
    const FAILURES = 4;
    receiver.answer = (request, index) => (request.path === '/dead' ? 503 : index < FAILURES ? 500 : 200);
    const live = await createWebhook(org, '/flaky', SECRET_A);
    const dead = await createWebhook(org, '/dead', SECRET_B);
    const policies = await Promise.all(['p1', 'p2', 'p3'].map((name) => brokenPolicy(org, name)));
    service.clock.set(Math.max(...(await Promise.all(policies.map((p) => nextInvocationOf(service.runtime, p.id))))));
    const scheduler = new Scheduler({ db: service.runtime.store.db, engine: service.runtime.store.engine, clock: service.clock, runner: service.backupEngine!, logger: false });
    const finished = await scheduler.runDue();
    // The earlier test's broken policy is due again by now too: its run fails as well.
    const failedRuns = finished.filter((run) => run.status === 'failed').map((run) => run.run.id).sort();
    assert.deepEqual(
      policies.map((p) => p.id).filter((id) => finished.some((run) => run.run.policyId === id && run.status === 'failed')),
      policies.map((p) => p.id),
    );

    await deliverAll(40);
    assertSigned({ '/flaky': SECRET_A, '/dead': SECRET_B });
    const flaky = receiver.received.filter((r) => r.path === '/flaky').map((r) => ({ status: r.status, body: JSON.parse(r.body.toString('utf8')) }));
    const delivered = flaky.filter((r) => r.status === 200);
    assert.deepEqual(delivered.map((r) => r.body.data.run.id).sort(), failedRuns, 'every event arrived, exactly once delivered');
    // A retry is the same event: same id, same bytes.
    const byId = new Map<string, string>();
    for (const request of receiver.received.filter((r) => r.path === '/flaky')) {
      const id = request.headers['x-dbp-event-id'] as string;
      const seen = byId.get(id);
      if (seen !== undefined) assert.equal(request.body.toString('utf8'), seen, 'a retry sends the same body');
      byId.set(id, request.body.toString('utf8'));
    }
    assert.equal(byId.size, failedRuns.length, 'one id per event, no new ids on retries');

    const liveLog = (await ext('GET', `webhooks/${live}/deliveries`)).body.deliveries as any[];
    assert.equal(liveLog.length, failedRuns.length);
    assert.ok(liveLog.every((d) => d.status === 'delivered'));
    assert.equal(liveLog.reduce((sum, d) => sum + d.log.length, 0), flaky.length, 'every attempt is in the log');
    assert.ok(liveLog.some((d) => d.log.some((a: any) => a.http_status === 500 && a.error === 'HTTP 500')));

    const deadLog = (await ext('GET', `webhooks/${dead}/deliveries`)).body.deliveries as any[];
    assert.equal(deadLog.length, failedRuns.length);
    for (const delivery of deadLog) {
      assert.equal(delivery.status, 'failed', 'given up once the event is older than the give-up time');
      assert.equal(delivery.next_attempt_at, null);
      assert.ok(delivery.attempts >= 3, `retried for a while (${delivery.attempts} attempts)`);
      assert.equal(delivery.log.length, delivery.attempts);
      assert.match(delivery.last_error, /given up after \d+ attempts: HTTP 503/);
      // Backoff: each wait at least as long as the one before (exponential, capped, jittered ±20 %).
      const times = delivery.log.map((a: any) => a.attempted_at as number);
      const waits = times.slice(1).map((t: number, i: number) => t - times[i]!);
      assert.ok(waits[0] >= 8 && waits[0] <= 12, `first wait ~10 s (${waits.join(',')})`);
      assert.ok(waits.every((w: number) => w <= 72), `waits capped (${waits.join(',')})`);
    }
    for (const id of [live, dead]) await ext('DELETE', `webhooks/${id}`);
  });

  test('verify failed and backup restored are announced (verify through /ext/v1, restore to a new disk)', async () => {
    receiver.received.length = 0;
    receiver.answer = () => 200;
    const hook = await createWebhook(org, '/ops', SECRET_A);
    const imagePath = join(service.dataDir, 'good.img');
    writeFileSync(imagePath, Buffer.alloc(256 * 1024, 7));
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name: 'good', sizeInGb: 1, imagePath });
    const policy = await service.createPolicy(org.token, disk.id);
    const run = await ext('POST', `disk_backup_policies/${policy.id}/run`);
    assert.equal(run.status, 200, run.text);
    const backupId = run.body.run.backups[0].id as string;

    const restored = await ext('POST', `backups/${backupId}/restore`, { json: { name: 'restored copy' } });
    assert.equal(restored.status, 200, restored.text);
    const verified = await ext('POST', `backups/${backupId}/verify`);
    assert.equal(verified.status, 200);
    assert.equal(verified.body.verification.ok, true);
    await deliverAll();
    assert.deepEqual(receiver.delivered().map((b) => b.type), ['backup.restored'], 'a clean verify announces nothing');
    const [event] = receiver.delivered();
    assert.equal(event.data.backup.id, backupId);
    assert.deepEqual(event.data.target, { type: 'disk', disk_id: restored.body.disk.id });

    // Damage every chunk: the verification reports the backup, and the event names it.
    assert.ok((await corruptChunks(service.backupEngine!.repository)) > 0, 'chunks were damaged');
    const damaged = await ext('POST', `backups/${backupId}/verify`);
    assert.equal(damaged.status, 200, damaged.text);
    assert.equal(damaged.body.verification.ok, false);
    receiver.received.length = 0;
    await deliverAll();
    const [failure] = receiver.delivered();
    assert.equal(failure?.type, 'verify.failed');
    assert.deepEqual(failure.data.backups.map((b: { id: string }) => b.id), [backupId]);
    await ext('DELETE', `webhooks/${hook}`);
  });
});
