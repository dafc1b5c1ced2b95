/**
 * The extension API never answers `unhandled_exception` for trouble in the backup repository: a
 * backup whose data is gone is 422 `backup_unreadable`, a repository that cannot be used is 503
 * `repository_unavailable`, each with the repository's own error code and message, and the ext
 * OpenAPI document lists them on every endpoint that uses the repository.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { localPath } from '../support/repository-damage.js';
import { TestService, type CallResult, type TestOrganization } from '../support/harness.js';

function assertError(result: CallResult, status: number, code: string, repositoryError: RegExp): void {
  assert.equal(result.status, status, result.text);
  assert.equal(result.body?.error?.code, code, result.text);
  assert.match(result.body.error.detail.repository_error, repositoryError, result.text);
  assert.equal(typeof result.body.error.detail.details, 'string', result.text);
}

describe('extension API: repository errors', () => {
  let service: TestService;
  let org: TestOrganization;
  let policyId: string;
  const ext = (path: string) => `/ext/v1/${path}`;

  /** Runs the policy; answers the catalogue id and the repository id of the backup it took. */
  async function backUp(): Promise<{ id: string; repositoryId: string }> {
    const ran = await service.call('POST', ext(`disk_backup_policies/${policyId}/run`), { token: org.token });
    assert.equal(ran.status, 200, ran.text);
    assert.equal(ran.body.run.status, 'succeeded', ran.text);
    const id = ran.body.run.backups[0].id as string;
    const row = await service.runtime.store.db.selectFrom('backups').select('repository_backup_id').where('id', '=', id).executeTakeFirstOrThrow();
    return { id, repositoryId: row.repository_backup_id };
  }

  before(async () => {
    service = await TestService.start('sqlite', { backupEngine: true });
    org = await service.createOrganization('Repository errors');
    const imagePath = join(service.dataDir, 'source.img');
    writeFileSync(imagePath, randomBytes(256 * 1024));
    const disk = await service.services.inventory.createDisk({ organizationId: org.id, name: 'source', sizeInGb: 1, imagePath });
    policyId = (await service.createPolicy(org.token, disk.id)).id;
  });
  after(() => service.stop());

  test('a repository whose directory is gone: restore and verify answer 503 repository_unavailable, and work again once it is back', async () => {
    const { id } = await backUp();
    const repository = localPath(service.backupEngine!.repository);
    renameSync(repository, `${repository}.away`);
    try {
      for (const [path, json] of [[`backups/${id}/verify`, undefined], [`backups/${id}/restore`, { name: 'while away' }]] as const) {
        const result = await service.call('POST', ext(path), { token: org.token, json });
        assertError(result, 503, 'repository_unavailable', /^io_enoent$/);
        assert.doesNotMatch(result.body.error.detail.details, new RegExp(service.dataDir), 'no server paths in the answer');
      }
    } finally {
      renameSync(`${repository}.away`, repository);
    }
    const verified = await service.call('POST', ext(`backups/${id}/verify`), { token: org.token });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.body.verification.ok, true);
  });

  test("a backup whose manifest is missing: restore answers 422 backup_unreadable with the repository's code", async () => {
    const { id, repositoryId } = await backUp();
    rmSync(join(localPath(service.backupEngine!.repository), 'backups', repositoryId));
    const result = await service.call('POST', ext(`backups/${id}/restore`), { token: org.token, json: { name: 'no manifest' } });
    assertError(result, 422, 'backup_unreadable', /^backup_not_found$/);
    assert.match(result.body.error.detail.details, /manifest is missing/);
  });

  test('the extension OpenAPI document lists the repository errors on run, restore and verify', async () => {
    const document = (await service.call('GET', '/ext/v1/openapi.json')).body;
    for (const path of ['/disk_backup_policies/disk_backup_policy/run', '/backups/backup/restore', '/backups/backup/verify']) {
      const responses = document.paths[path].post.responses;
      for (const status of ['409', '422', '503']) assert.ok(responses[status], `${path} documents ${status}: ${JSON.stringify(Object.keys(responses))}`);
      const text = JSON.stringify(responses);
      for (const name of ['BackupUnreadable', 'RepositoryBusy', 'RepositoryUnavailable']) assert.ok(text.includes(`/${name}Error"`), `${path} documents ${name}: ${text}`);
    }
  });
});
