import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { STALE_AFTER_SECONDS } from '../../src/services/operations.js';
import { forEachEngine, TestService, type CallResult, type TestOrganization } from '../support/harness.js';

/**
 * Long operations: run now, restore and verify with `async=true` answer 202 with an operation that
 * GET /ext/v1/operations/:id reports while it runs and once it is done; without it they answer when done.
 */
function assertError(result: CallResult, status: number, code: string): void {
  assert.equal(result.status, status, result.text);
  assert.equal(result.body?.error?.code, code, result.text);
}

/** Big enough that a run takes well over the half second between progress writes on this machine. */
const IMAGE_BYTES = 48 * 1024 * 1024;

forEachEngine('extension API: long operations (async=true)', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  let other: TestOrganization;
  let policyId: string;
  let backupId: string;
  let imagePath: string;
  const ext = (path: string) => `/ext/v1/${path}`;

  /** Polls the operation until it is no longer running; answers its last state and whether a state part-way was seen. */
  async function settle(id: string, token = org.token): Promise<{ operation: any; partWay: boolean }> {
    let partWay = false;
    for (let polls = 0; polls < 1200; polls++) {
      const result = await service.call('GET', ext(`operations/${id}`), { token });
      assert.equal(result.status, 200, result.text);
      const { operation } = result.body;
      if (operation.bytes_done > 0 && operation.bytes_done < operation.bytes_total) partWay = true;
      if (operation.status !== 'running') return { operation, partWay };
      await sleep(25);
    }
    assert.fail(`operation ${id} still running after a minute`);
  }

  before(async () => {
    service = await TestService.start(engine, { backupEngine: true });
    org = await service.createOrganization('Ops');
    other = await service.createOrganization('Other');
    imagePath = join(service.dataDir, 'ops.img');
    writeFileSync(imagePath, randomBytes(IMAGE_BYTES));
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name: 'ops disk', sizeInGb: 1, imagePath });
    policyId = (await service.createPolicy(org.token, disk.id)).id;
  });
  after(() => service.stop());

  test('an async run answers 202 with the operation; polling shows it part-way, then the finished run with every byte done', async () => {
    const started = await service.call('POST', ext(`disk_backup_policies/${policyId}/run`), { token: org.token, json: { async: true } });
    assert.equal(started.status, 202, started.text);
    const { operation } = started.body;
    assert.deepEqual(Object.keys(operation), ['id', 'kind', 'subject_id', 'status', 'bytes_done', 'bytes_total', 'error', 'created_at', 'heartbeat_at', 'finished_at', 'run', 'disk', 'verification']);
    assert.match(operation.id, /^op_/);
    assert.equal(operation.kind, 'run');
    assert.equal(operation.subject_id, policyId);
    assert.equal(operation.status, 'running');
    // Two runs of one policy never overlap: refused at once, async or not.
    assertError(await service.call('POST', ext(`disk_backup_policies/${policyId}/run`), { token: org.token, json: { async: true } }), 409, 'run_in_progress');

    const { operation: done, partWay } = await settle(operation.id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.error, null);
    assert.equal(done.bytes_total, IMAGE_BYTES);
    assert.equal(done.bytes_done, done.bytes_total);
    assert.ok(partWay, 'a poll saw the run part-way');
    assert.equal(done.run.status, 'succeeded');
    assert.equal(done.run.backups[0].bytes_read, IMAGE_BYTES);
    assert.ok(done.finished_at !== null);
    const runs = await service.call('GET', ext(`disk_backup_policies/${policyId}/runs`), { token: org.token });
    assert.equal(runs.body.runs[0].id, done.run.id, 'the history lists the run');
    const [backup] = (await service.call('GET', ext(`disk_backup_policies/${policyId}/backups`), { token: org.token })).body.backups;
    backupId = backup.id;
  });

  test('an async restore (query string) ends with the new disk, its image the backup', async () => {
    const started = await service.call('POST', ext(`backups/${backupId}/restore`), { token: org.token, query: 'async=true', json: { name: 'restored async' } });
    assert.equal(started.status, 202, started.text);
    assert.equal(started.body.operation.kind, 'restore');
    const { operation } = await settle(started.body.operation.id);
    assert.equal(operation.status, 'succeeded', JSON.stringify(operation));
    assert.equal(operation.bytes_done, IMAGE_BYTES);
    assert.equal(operation.bytes_total, IMAGE_BYTES);
    assert.equal(operation.disk.name, 'restored async');
    const row = await service.runtime.store.db.selectFrom('disks').select('image_path').where('id', '=', operation.disk.id).executeTakeFirstOrThrow();
    assert.ok(readFileSync(row.image_path!).equals(readFileSync(imagePath)));
  });

  test('an async verify ends with what the check found; without async the answer is the verification itself', async () => {
    const started = await service.call('POST', ext(`backups/${backupId}/verify`), { token: org.token, json: { async: true } });
    assert.equal(started.status, 202, started.text);
    const { operation } = await settle(started.body.operation.id);
    assert.equal(operation.status, 'succeeded', JSON.stringify(operation));
    assert.equal(operation.bytes_done, operation.bytes_total);
    assert.ok(operation.bytes_total > 0);
    assert.equal(operation.verification.ok, true);
    assert.deepEqual(operation.verification.bad_chunks, []);
    const sync = await service.call('POST', ext(`backups/${backupId}/verify`), { token: org.token, json: { async: false } });
    assert.equal(sync.status, 200, sync.text);
    assert.deepEqual(Object.keys(sync.body), ['verification']);
    assert.equal(sync.body.verification.chunks_checked, operation.verification.chunks_checked);
  });

  test('operations are scoped like their subject: 404 for an unknown id, 403 for another organization or a token without the scope', async () => {
    const started = await service.call('POST', ext(`backups/${backupId}/verify`), { token: org.token, json: { async: true } });
    const id = started.body.operation.id;
    assertError(await service.call('GET', ext('operations/op_doesnotexist0000'), { token: org.token }), 404, 'operation_not_found');
    assertError(await service.call('GET', ext(`operations/${id}`), { token: other.token }), 403, 'permission_denied');
    const noScope = await service.createToken(org.id, ['disks:read']);
    assertError(await service.call('GET', ext(`operations/${id}`), { token: noScope }), 403, 'scope_not_granted');
    const readOnly = await service.createToken(org.id, ['disk_backup_policies:read']);
    assertError(await service.call('POST', ext(`backups/${backupId}/verify`), { token: readOnly, json: { async: true } }), 403, 'scope_not_granted');
    assert.equal((await settle(id, readOnly)).operation.status, 'succeeded', 'a read-only token may follow it');
  });

  test('bad input is refused before any operation starts', async () => {
    const before = await service.runtime.store.db.selectFrom('operations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assertError(await service.call('POST', ext(`backups/${backupId}/restore`), { token: org.token, json: { async: true, name: ' ' } }), 422, 'validation_error');
    assertError(await service.call('POST', ext(`backups/${backupId}/verify`), { token: org.token, json: { async: 'soon' } }), 400, 'invalid_argument');
    const afterwards = await service.runtime.store.db.selectFrom('operations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(afterwards.n), Number(before.n));
  });

  test('the OpenAPI document gives the three endpoints their async argument and 202 answer, and the operations path', async () => {
    const document = (await service.call('GET', '/ext/v1/openapi.json')).body;
    for (const path of ['/disk_backup_policies/disk_backup_policy/run', '/backups/backup/restore', '/backups/backup/verify']) {
      const post = document.paths[path].post;
      assert.ok(post.responses['200'] && post.responses['202'], path);
      assert.ok(JSON.stringify(post.requestBody).includes('"async"'), path);
    }
    assert.ok(document.paths['/operations/operation'].get.responses['200']);
  });

  test(`an operation whose heartbeat stopped more than ${STALE_AFTER_SECONDS} s ago is reported failed, "interrupted", and stays so`, async () => {
    // A process that died mid-operation: its work never ends and nothing writes its heartbeat.
    let finish!: () => void;
    const { operation } = await service.services.operations.start({
      kind: 'verify',
      organizationId: org.id,
      subjectId: backupId,
      work: () => new Promise((resolve) => (finish = () => resolve({ ok: true, chunksChecked: 0, badChunks: [] }))),
    });
    assert.equal((await settleOnce(operation.id)).status, 'running', 'a fresh heartbeat: still running');
    service.clock.advance(STALE_AFTER_SECONDS + 1);
    const interrupted = await settleOnce(operation.id);
    assert.equal(interrupted.status, 'failed');
    assert.match(interrupted.error, /^interrupted/);
    finish();
    await service.services.operations.settled();
    assert.equal((await settleOnce(operation.id)).status, 'failed', 'a late end does not revive it');
  });

  async function settleOnce(id: string): Promise<any> {
    const result = await service.call('GET', ext(`operations/${id}`), { token: org.token });
    assert.equal(result.status, 200, result.text);
    return result.body.operation;
  }
});
