/**
 * At-least-once across a crash, with real processes: `dbp serve` is killed with SIGKILL while its
 * deliveries hang at the receiver, the receiver is down while a new `dbp serve` starts (and while more
 * events are written), then comes back. Every event arrives, every request is signed, and an event
 * sent more than once carries the same id and the same bytes each time. SQLite, and PostgreSQL when
 * TEST_DATABASE_URL is set. The dispatcher's pacing is shortened through its DBP_WEBHOOK_* settings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { recordEvents, type NewEvent } from '../../src/webhooks/events.js';
import { isValidSignature } from '../../src/webhooks/signature.js';
import { testEngines } from '../support/harness.js';
import { createDatabase, dropDatabase, freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'restart-test-secret-0123456789';
const FAST = {
  DBP_WEBHOOK_POLL_MS: '100',
  DBP_WEBHOOK_LEASE_SECONDS: '2',
  DBP_WEBHOOK_TIMEOUT_MS: '1000',
  DBP_WEBHOOK_RETRY_BASE_SECONDS: '1',
  DBP_WEBHOOK_RETRY_MAX_SECONDS: '1',
  DBP_LOG_LEVEL: 'warn',
};

for (const engine of testEngines()) {
  describe(`webhook delivery across a kill -9 and a receiver outage [${engine}]`, () => {
    test('every event arrives, signed; duplicates only under the same event id', { timeout: 90_000 }, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'dbp-webhook-restart-'));
      const databaseName = `dbp_webhooks_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
      const adminUrl = process.env.TEST_DATABASE_URL;
      const databaseUrl = engine === 'postgres' ? await createDatabase(adminUrl!, databaseName) : undefined;
      const databaseArgs = databaseUrl ? ['--database-url', databaseUrl] : [];
      const receiver = await new WebhookReceiver().start();
      let runtime: Runtime | undefined;
      const children: Child[] = [];
      const serve = async () => {
        const port = await freePort();
        const child = spawnServe(['--data-dir', dataDir, ...databaseArgs, '--port', String(port)], FAST);
        children.push(child);
        await waitReady(`http://127.0.0.1:${port}`, child, 60_000);
        return child;
      };
      try {
        runtime = await openRuntime({ dataDir, databaseUrl });
        const { services } = runtime;
        const organization = await services.inventory.createOrganization({ name: 'Restart', subDomain: 'restart' });
        await services.webhooks.create({ organizationId: organization.id, url: receiver.url('/events'), secret: SECRET });
        const event = (n: number): NewEvent => ({
          type: 'backup_run.failed',
          organizationId: organization.id,
          occurredAt: services.clock.now(),
          data: { run: { id: `run_test${n}`, error: `failure ${n}` } },
        });
        const record = async (events: NewEvent[]) => runtime!.store.db.transaction().execute((trx) => recordEvents(trx, events));

        // 1. Three events; the first process sends them and dies while the receiver holds every request.
        receiver.answer = () => 'hang';
        await record([event(1), event(2), event(3)]);
        const first = await serve();
        await receiver.requests(3);
        first.process.kill('SIGKILL');
        await first.exited;

        // 2. The receiver goes down; two more events are written; a new process starts and fails to reach it.
        await receiver.stop();
        await record([event(4), event(5)]);
        await serve();
        await sleep(2500); // past the dead claims' lease: the new process retries them against a closed port

        // 3. The receiver comes back at the same URL, and answers.
        receiver.answer = () => 200;
        await receiver.start();
        const deadline = Date.now() + 45_000;
        for (;;) {
          const rows = await runtime.store.db.selectFrom('webhook_deliveries').select(['status', 'attempts']).execute();
          if (rows.length === 5 && rows.every((row) => row.status === 'delivered')) break;
          if (Date.now() > deadline) assert.fail(`not all delivered: ${JSON.stringify(rows)}\n${children.map((c) => c.output()).join('\n')}`);
          await sleep(200);
        }

        const delivered = receiver.delivered();
        assert.deepEqual(delivered.map((body) => body.data.run.id).sort(), ['run_test1', 'run_test2', 'run_test3', 'run_test4', 'run_test5'], 'every event arrived');
        assert.equal(new Set(delivered.map((body) => body.id)).size, delivered.length, 'each event delivered once its receiver answered');
        const bodies = new Map<string, string>();
        for (const request of receiver.received) {
          assert.ok(isValidSignature(request.body, SECRET, request.headers['x-dbp-signature'] as string), 'signed with the secret');
          const id = request.headers['x-dbp-event-id'] as string;
          const text = request.body.toString('utf8');
          assert.equal(JSON.parse(text).id, id);
          if (bodies.has(id)) assert.equal(text, bodies.get(id), 'a duplicate is the same event: same id, same bytes');
          bodies.set(id, text);
        }
        assert.equal(bodies.size, 5, 'no event under a second id');
        const hung = receiver.received.filter((request) => request.status === 0).map((request) => request.headers['x-dbp-event-id']);
        assert.equal(hung.length, 3, 'the killed process had three deliveries in flight');
        for (const id of hung) assert.ok(delivered.some((body) => body.id === id), 'each delivery cut by the kill was sent again');
        const attempts = await runtime.store.db.selectFrom('webhook_delivery_attempts').select(['delivery_id', 'error']).execute();
        assert.ok(attempts.some((attempt) => /ECONNREFUSED/.test(attempt.error ?? '')), `the attempts while the receiver was down are logged: ${JSON.stringify(attempts)}`);
      } finally {
        for (const child of children) await child.stop();
        await runtime?.close();
        await receiver.stop();
        if (databaseUrl) await dropDatabase(adminUrl!, databaseName);
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
