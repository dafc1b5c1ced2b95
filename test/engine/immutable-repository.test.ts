/**
 * Immutable repositories (`dbp repository init --immutable-days N`, docs/S3.md "Immutable backups") on
 * radosgw: every object but locks is written retained (compliance mode) — config, packs, index files,
 * manifests (whole and in parts) and forgotten markers; none can be deleted or replaced with the
 * service's own credentials; forget marks a retained backup forgotten, gc leaves retained objects (and
 * the backups restorable) and removes them once the retention is over, also when an index file still
 * retained names a pack that is gone. A bucket without Object Lock and a local directory are refused.
 *
 * The period is days of DBP_TEST_IMMUTABLE_DAY_SECONDS seconds here (test only), so retention expires
 * within the test.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, GetObjectRetentionCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { initRepository, openRepository, RepositoryError, TEST_DAY_SECONDS_VARIABLE, type Repository } from '../../src/engine/repository/index.js';
import { StoreError, type ObjectKind } from '../../src/engine/storage/object-store.js';
import { RetainingStore } from '../../src/engine/storage/retaining-store.js';
import { S3KeyLayout } from '../../src/engine/storage/s3-keys.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { dbp } from '../support/dbp-cli.js';
import { openLockAndPlainBuckets, s3Settings as s3TestSettings, s3Skip as s3SkipReason, uniqueBucketName, type LockAndPlainBuckets } from '../support/s3.js';

const DAY_SECONDS = 5;
const DAYS = 2;
const PERIOD_MS = DAY_SECONDS * DAYS * 1000;
process.env[TEST_DAY_SECONDS_VARIABLE] = String(DAY_SECONDS);

const root = mkdtempSync(join(tmpdir(), 'dbp-immutable-test-'));
let counter = 0;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function image(bytes: Buffer): string {
  const path = join(root, `image-${counter++}`);
  writeFileSync(path, bytes);
  return path;
}

async function restoredHash(repository: Repository, backupId: string): Promise<string> {
  const target = join(root, `restored-${counter++}`);
  await repository.restore(backupId, { toPath: target });
  return sha256(readFileSync(target));
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, but it succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof RepositoryError || error instanceof StoreError, String(error));
  assert.equal(error.code, code, error.message);
  return error;
}

after(() => rmSync(root, { recursive: true, force: true }));

describe('immutable repository on radosgw', { skip: s3SkipReason }, () => {
  const endpoint = s3TestSettings?.endpoint ?? '';
  const lockedBucket = uniqueBucketName('immutable');
  const plainBucket = uniqueBucketName('mutable');
  const keys = new S3KeyLayout('repo');
  let locked: S3ObjectStore;
  let plain: S3ObjectStore;
  /** The service's own credentials, talking to S3 directly. */
  let direct: S3Client;

  let buckets: LockAndPlainBuckets | undefined;
  before(async () => {
    buckets = await openLockAndPlainBuckets(lockedBucket, plainBucket);
    ({ locked, plain, direct } = buckets);
  });

  after(() => buckets?.close());

  async function names(store: S3ObjectStore, kind: ObjectKind): Promise<string[]> {
    const found: string[] = [];
    for await (const info of store.list(kind)) found.push(info.name);
    return found.sort();
  }

  /** Asserts that the object is retained in compliance mode until about a period after it was written. */
  async function assertRetained(kind: ObjectKind, name: string): Promise<void> {
    const key = keys.key(kind, name);
    const answer = await direct.send(new GetObjectRetentionCommand({ Bucket: lockedBucket, Key: key }));
    assert.equal(answer.Retention?.Mode, 'COMPLIANCE', `${key} retention mode`);
    const until = answer.Retention?.RetainUntilDate?.getTime() ?? 0;
    const written = (await locked.stat(kind, name))!.modifiedAt;
    assert.ok(until > Date.now(), `${key} is retained until ${new Date(until).toISOString()}, in the past`);
    assert.ok(Math.abs(until - (written + PERIOD_MS)) < 5000, `${key} retained until ${new Date(until).toISOString()}, written ${new Date(written).toISOString()}`);
  }

  /** Waits until every object written so far is past its retention. */
  async function waitForExpiry(since: number): Promise<void> {
    const wait = since + PERIOD_MS + 2500 - Date.now();
    if (wait > 0) await sleep(wait);
  }

  test('init on a bucket without Object Lock is refused with how to make one, and writes nothing', async () => {
    const error = await rejectsWithCode(initRepository({ store: plain, password: null, immutableDays: 7 }), 'immutability_unsupported');
    assert.match(error.message, /Object Lock enabled/);
    assert.match(error.message, /--object-lock-enabled-for-bucket/);
    const listed = await direct.send(new ListObjectsV2Command({ Bucket: plainBucket }));
    assert.equal(listed.KeyCount ?? 0, 0);
  });

  test('the CLI says so too, exit 1', async () => {
    const dataDir = mkdtempSync(join(root, 'cli-'));
    const url = `s3:${endpoint}/${plainBucket}/cli`;
    const result = await dbp(['repository', 'init', '--data-dir', dataDir, '--repository', url, '--unencrypted-repository', '--immutable-days', '30']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /does not have Object Lock enabled.*create-bucket/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  test('every object is retained, cannot be removed or replaced; forget + gc leave them until the retention ends', async () => {
    const repository = await initRepository({ store: locked, password: 'immutable test', immutableDays: DAYS, chunkSize: 4096, workers: 1 });
    const shared = randomBytes(64 * 1024);
    const first = Buffer.concat([shared, randomBytes(64 * 1024)]);
    const second = Buffer.concat([shared, randomBytes(64 * 1024)]);
    const a = await repository.backup({ sourcePath: image(first) });
    const b = await repository.backup({ sourcePath: image(second) });
    assert.equal(repository.immutableDays, DAYS);

    // Each kind of object the repository wrote is retained: config, packs, index files, manifests.
    const packs = await names(locked, 'pack');
    const indexes = await names(locked, 'index');
    assert.ok(packs.length >= 2 && indexes.length >= 2, `packs ${packs.length}, index files ${indexes.length}`);
    await assertRetained('config', 'config');
    for (const pack of packs) await assertRetained('pack', pack);
    for (const index of indexes) await assertRetained('index', index);
    for (const manifest of [a.id, b.id]) await assertRetained('manifest', manifest);
    // Lock objects are not retained: none is left behind by the backups.
    assert.deepEqual(await names(locked, 'lock'), []);

    // Neither the store nor the same credentials directly can delete or replace them. (The service
    // writes through a RetainingStore: every put of an immutable repository carries a retention.)
    const writing = new RetainingStore(locked, PERIOD_MS);
    const kinds: [ObjectKind, string][] = [['config', 'config'], ['pack', packs[0]!], ['index', indexes[0]!], ['manifest', a.id]];
    for (const [kind, name] of kinds) {
      await rejectsWithCode(locked.remove(kind, [name]), 'locked');
      await rejectsWithCode(writing.put(kind, name, [randomBytes(100)]), 'locked');
      const head = await locked.head(keys.key(kind, name));
      assert.ok(head, `${kind} ${name} is still there`);
    }
    // Directly: deleting the version itself (not just hiding it behind a delete marker) is refused, and
    // a PUT over it only adds a newer version: the retained one stays, byte for byte.
    const manifestKey = keys.key('manifest', a.id);
    const head = await direct.send(new HeadObjectCommand({ Bucket: lockedBucket, Key: manifestKey }));
    await assert.rejects(direct.send(new DeleteObjectCommand({ Bucket: lockedBucket, Key: manifestKey, VersionId: head.VersionId! })), /AccessDenied|denied/i);
    const put = await direct.send(new PutObjectCommand({ Bucket: lockedBucket, Key: manifestKey, Body: Buffer.from('overwritten') }));
    assert.notEqual(put.VersionId, head.VersionId);
    await assert.rejects(direct.send(new DeleteObjectCommand({ Bucket: lockedBucket, Key: manifestKey, VersionId: head.VersionId! })), /AccessDenied|denied/i);
    // Put the retained version back on top (a newer unretained version of our own making is removable).
    await direct.send(new DeleteObjectCommand({ Bucket: lockedBucket, Key: manifestKey, VersionId: put.VersionId! }));
    assert.equal((await direct.send(new HeadObjectCommand({ Bucket: lockedBucket, Key: manifestKey }))).VersionId, head.VersionId);

    // Forgetting a retained backup marks it forgotten: no longer listed, still restorable by id.
    await repository.forget([a.id]);
    assert.deepEqual((await repository.listBackups()).map((backup) => backup.id), [b.id]);
    assert.ok((await names(locked, 'manifest')).includes(`${a.id}.forgotten`));
    await assertRetained('manifest', `${a.id}.forgotten`);
    await repository.forget([a.id]); // twice: nothing more to do

    // gc deletes nothing retained, and says so; both backups still restore.
    const report = await repository.gc();
    assert.equal(report.chunksRemoved, 0);
    assert.ok(report.notes?.some((note) => /forgotten backup\(s\) are still retained/.test(note)), JSON.stringify(report.notes));
    assert.deepEqual(await names(locked, 'pack'), packs);
    assert.equal(await restoredHash(repository, a.id), sha256(first));
    assert.equal(await restoredHash(repository, b.id), sha256(second));
    assert.ok((await repository.verify()).ok);

    // Once the retention is over gc removes the forgotten manifest, its marker and the chunks only it used.
    await waitForExpiry(Date.now());
    const storedBefore = await repository.storedBytes([b.id]);
    const expired = await repository.gc();
    assert.ok(expired.chunksRemoved > 0, JSON.stringify(expired));
    const manifests = await names(locked, 'manifest');
    assert.ok(!manifests.includes(a.id) && !manifests.includes(`${a.id}.forgotten`), manifests.join(', '));
    assert.equal(await restoredHash(repository, b.id), sha256(second));
    await rejectsWithCode(repository.restore(a.id, { toPath: join(root, `gone-${counter++}`) }), 'backup_not_found');
    assert.equal(await repository.storedBytes([b.id]), storedBefore);
    assert.ok((await repository.verify()).ok);
    await repository.close();
  });

  test('an index file still retained that names a pack gc deleted breaks neither loading, restore nor backup', async () => {
    const bucket = uniqueBucketName('immutable-index');
    const store = await S3ObjectStore.open({ type: 's3', endpoint, bucket, prefix: 'repo' });
    await store.createBucket({ objectLock: true });
    const repository = await initRepository({ store, password: null, immutableDays: DAYS, chunkSize: 4096, workers: 1 });
    try {
      const first = randomBytes(64 * 1024);
      const second = randomBytes(64 * 1024);
      const a = await repository.backup({ sourcePath: image(first) });
      const b = await repository.backup({ sourcePath: image(second) });
      await waitForExpiry(Date.now());
      // Two index files, both expired: gc consolidates them into one new, retained file naming both packs.
      await repository.gc();
      const [consolidated] = await namesOf(store, 'index');
      assert.equal((await namesOf(store, 'index')).length, 1);
      // a is forgotten (expired: its manifest goes at once); its pack is expired and deleted, while the
      // retained index file still names it.
      await repository.forget([a.id]);
      const report = await repository.gc();
      assert.ok(report.chunksRemoved > 0, JSON.stringify(report));
      assert.ok((await namesOf(store, 'index')).includes(consolidated!), 'the retained index file stays');
      assert.ok(report.notes?.some((note) => /index file\(s\) are still retained/.test(note)), JSON.stringify(report.notes));
      // Loading, verifying and restoring work; the same data backed up again is stored again.
      const reopened = await openRepository({ store, password: null, workers: 1 });
      assert.equal(await restoredHash(reopened, b.id), sha256(second));
      const again = await reopened.backup({ sourcePath: image(first) });
      assert.ok(again.newChunks > 0, 'chunks of a deleted pack are not taken as stored');
      assert.equal(await restoredHash(reopened, again.id), sha256(first));
      assert.ok((await reopened.verify()).ok);
    } finally {
      await repository.close();
    }
  });

  test('an object written in parts (a large manifest) is retained as well', async () => {
    const store = await S3ObjectStore.open({ type: 's3', endpoint, bucket: lockedBucket, prefix: 'repo' }, { partSize: 5 * 1024 * 1024 });
    const retaining = new RetainingStore(store, PERIOD_MS);
    try {
      const writer = await retaining.writer('manifest', 'large-one');
      await writer.write(randomBytes(6 * 1024 * 1024));
      await writer.commit();
      await assertRetained('manifest', 'large-one');
      await rejectsWithCode(retaining.remove('manifest', ['large-one']), 'locked');
      // Lock objects are never retained: they must be removable.
      await retaining.put('lock', 'a-lock', [Buffer.from('x')]);
      await retaining.remove('lock', ['a-lock']);
      assert.equal(await retaining.stat('lock', 'a-lock'), undefined);
    } finally {
      await store.close();
    }
  });

  async function namesOf(store: S3ObjectStore, kind: ObjectKind): Promise<string[]> {
    return names(store, kind);
  }
});

describe('repository init on a local directory', () => {
  test('creates a repository, refuses a second init, refuses --immutable-days (nothing written), bad values exit 2', async () => {
    const dataDir = mkdtempSync(join(root, 'local-'));
    const path = join(dataDir, 'repo');
    const created = await dbp(['repository', 'init', '--data-dir', dataDir, '--repository', path, '--unencrypted-repository', '--chunk-size', '8K', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const answer = JSON.parse(created.stdout) as { immutable_days: number | null; encrypted: boolean };
    assert.equal(answer.immutable_days, null);
    assert.equal(answer.encrypted, false);
    const config = JSON.parse(readFileSync(join(path, 'config'), 'utf8')) as { chunkSize: number; immutableDays?: number };
    assert.equal(config.chunkSize, 8192);
    assert.equal('immutableDays' in config, false, 'a config without the field is not immutable');
    const repository = await openRepository({ location: { type: 'local', path }, password: null, workers: 1 });
    assert.equal(repository.immutableDays, undefined);
    await repository.close();

    const again = await dbp(['repository', 'init', '--data-dir', dataDir, '--repository', path, '--unencrypted-repository']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds a backup repository/);

    const immutablePath = join(dataDir, 'immutable');
    const immutable = await dbp(['repository', 'init', '--data-dir', dataDir, '--repository', immutablePath, '--unencrypted-repository', '--immutable-days', '30']);
    assert.equal(immutable.code, 1);
    assert.match(immutable.stderr, /local directory has no retention.*Object Lock/);
    assert.ok(!existsSync(immutablePath) || readdirSync(immutablePath).length === 0, 'nothing written');

    for (const bad of [['--immutable-days', '0'], ['--immutable-days', '36501'], ['--immutable-days', 'x'], ['--chunk-size', '5000']]) {
      const result = await dbp(['repository', 'init', '--data-dir', dataDir, '--repository', join(dataDir, 'other'), '--unencrypted-repository', ...bad]);
      assert.equal(result.code, 2, `${bad.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(bad[0]!));
    }
  });
});
