/**
 * `dbp repository rebind`: the one deliberate way to move a catalogue to another repository. It needs
 * `--yes`; afterwards the old repository is refused like any other, the new one is used, and the next
 * `dbp gc` deletes the rows of backups the new repository does not hold.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openBackupEngine } from '../../src/engine/index.js';
import { openRuntime } from '../../src/runtime.js';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { dbp } from '../support/dbp-cli.js';
import { s3RepositoryUrl, s3Skip, s3TestClient, uniqueBucketName } from '../support/s3.js';

const ENV = { DBP_REPOSITORY_PASSWORD: 'rebind test' };

describe('dbp repository rebind', () => {
  const root = mkdtempSync(join(tmpdir(), 'dbp-rebind-'));
  const dataDir = join(root, 'data');
  const [first, second] = [join(root, 'first'), join(root, 'second')];
  const inData = (...args: string[]) => [...args, '--data-dir', dataDir];

  before(async () => {
    // One backup, taken into the first repository (which the catalogue is thereby bound to).
    const runtime = await openRuntime({ dataDir });
    try {
      const organization = await runtime.services.inventory.createOrganization({ name: 'Rebind', subDomain: 'rebind' });
      const imagePath = join(root, 'disk.img');
      writeFileSync(imagePath, randomBytes(64 * 1024));
      const disk = await runtime.services.inventory.createDisk({ organizationId: organization.id, name: 'disk', sizeInGb: 1, imagePath });
      const policy = await runtime.services.policies.create(organization.id, { type: 'Disk', id: disk.id, name: disk.name }, { retention: 3, schedule: { interval: 'daily' } });
      const engine = await openBackupEngine(runtime, { dataDir, repositoryPath: first, password: ENV.DBP_REPOSITORY_PASSWORD, workers: 1 });
      try {
        assert.equal((await engine.runPolicyNow(policy.id)).result.status, 'succeeded');
      } finally {
        await engine.close();
      }
    } finally {
      await runtime.close();
    }
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('without --yes it is a usage error and changes nothing', async () => {
    const refused = await dbp(inData('repository', 'rebind', '--repository', second), { env: ENV });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /--yes is required/);
    const listed = await dbp(inData('backups', 'list', '--repository', first, '--json'), { env: ENV });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(JSON.parse(listed.stdout).length, 1);
  });

  test('another repository is refused until the catalogue is rebound to it; then the old one is refused', async () => {
    const before = await dbp(inData('backups', 'list', '--repository', second), { env: ENV });
    assert.equal(before.code, 1);
    assert.match(before.stderr, /dbp repository rebind --repository LOCATION --yes/);

    const rebound = await dbp(inData('repository', 'rebind', '--repository', second, '--yes', '--json'), { env: ENV });
    assert.equal(rebound.code, 0, rebound.stderr);
    const report = JSON.parse(rebound.stdout);
    assert.equal(report.location, second);
    assert.equal(report.previous_location, first);
    assert.notEqual(report.repository_id, report.previous_repository_id);
    assert.equal(report.backups_missing, 1);

    const old = await dbp(inData('backups', 'list', '--repository', first), { env: ENV });
    assert.equal(old.code, 1);
    assert.match(old.stderr, new RegExp(`written with repository ${report.repository_id} at ${second}`));
  });

  test('the next gc forgets the catalogued backup the new repository lacks', async () => {
    const gc = await dbp(inData('gc', '--repository', second), { env: ENV });
    assert.equal(gc.code, 0, gc.stderr);
    const listed = await dbp(inData('backups', 'list', '--repository', second, '--json'), { env: ENV });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);
  });
});

describe('dbp repository rebind to an S3 repository', { skip: s3Skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'dbp-rebind-s3-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('keeps the cache of the index and manifests in --cache-dir, as every other command does', async () => {
    const bucket = uniqueBucketName('rebind');
    const client = s3TestClient();
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
    const dataDir = join(root, 'data');
    const cacheDir = join(root, 'elsewhere');
    const repository = s3RepositoryUrl(bucket, 'rebound');
    const rebound = await dbp(['repository', 'rebind', '--repository', repository, '--cache-dir', cacheDir, '--yes', '--json', '--data-dir', dataDir], { env: ENV });
    assert.equal(rebound.code, 0, rebound.stderr);
    assert.equal(JSON.parse(rebound.stdout).location, repository);
    // The repository's config, read (or written) by the rebind, is cached there and nowhere else.
    assert.ok(readdirSync(cacheDir).length > 0, 'the cache is in --cache-dir');
    assert.equal(existsSync(join(dataDir, 'cache')), false, 'no cache under the data directory');
    // Another command with the same --cache-dir finds it and the binding the rebind recorded.
    const listed = await dbp(['backups', 'list', '--repository', repository, '--cache-dir', cacheDir, '--json', '--data-dir', dataDir], { env: ENV });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);
  });
});
