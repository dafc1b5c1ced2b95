/**
 * DBP_S3_MAX_ATTEMPTS and DBP_S3_RETRY_BASE_MS, the operator's settings of the S3 store's retries
 * (docs/S3.md): they set how many attempts a request gets, and a value that is not a whole number in
 * range is refused with a message naming the variable — by the store and by the CLI, in one line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StoreError } from '../../src/engine/storage/object-store.js';
import { retryPolicyFromEnvironment, S3SettingError } from '../../src/engine/storage/s3-retry.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { dbp } from '../support/dbp-cli.js';

// Port 1 on loopback: nothing listens, every connection is refused at once (no radosgw needed).
const NOWHERE = { type: 's3', endpoint: 'http://127.0.0.1:1', bucket: 'nowhere', prefix: '' } as const;

/** Runs `use` with these variables set in this process, then puts the environment back. */
async function withEnvironment<T>(values: Record<string, string>, use: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  Object.assign(process.env, values);
  try {
    return await use();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('the S3 retry settings', () => {
  test('unset: 8 attempts, the first wait at most 200 ms; set: the values given', () => {
    assert.deepEqual(retryPolicyFromEnvironment({}), { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 10_000 });
    assert.deepEqual(retryPolicyFromEnvironment({ DBP_S3_MAX_ATTEMPTS: ' 3 ', DBP_S3_RETRY_BASE_MS: '50' }), { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 10_000 });
    assert.deepEqual(retryPolicyFromEnvironment({ DBP_S3_MAX_ATTEMPTS: '', DBP_S3_RETRY_BASE_MS: '' }), { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 10_000 });
  });

  for (const [name, bad] of [
    ['DBP_S3_MAX_ATTEMPTS', '0'],
    ['DBP_S3_MAX_ATTEMPTS', '21'],
    ['DBP_S3_MAX_ATTEMPTS', 'three'],
    ['DBP_S3_MAX_ATTEMPTS', '2.5'],
    ['DBP_S3_MAX_ATTEMPTS', '-1'],
    ['DBP_S3_RETRY_BASE_MS', '0'],
    ['DBP_S3_RETRY_BASE_MS', '10001'],
    ['DBP_S3_RETRY_BASE_MS', '1e3'],
  ] as const) {
    test(`${name}=${bad} is refused, naming the variable and its range`, () => {
      assert.throws(
        () => retryPolicyFromEnvironment({ [name]: bad }),
        (error: unknown) => error instanceof S3SettingError && error.message.includes(name) && error.message.includes(`"${bad}"`) && /from \d+ to \d+/.test(error.message),
      );
    });
  }

  test('a request to a store that refuses connections is tried DBP_S3_MAX_ATTEMPTS times, then unavailable', async () => {
    for (const attempts of [1, 3]) {
      const error = await withEnvironment({ DBP_S3_MAX_ATTEMPTS: String(attempts), DBP_S3_RETRY_BASE_MS: '10' }, async () => {
        const store = await S3ObjectStore.open(NOWHERE, { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
        try {
          return await store.get('config', 'config').then(() => assert.fail('a refusing store answered'), (caught: unknown) => caught);
        } finally {
          await store.close();
        }
      });
      assert.ok(error instanceof StoreError && error.code === 'unavailable', String(error));
      assert.equal((error.cause as { $metadata?: { attempts?: number } }).$metadata?.attempts, attempts, error.message);
    }
  });

  test('the CLI reports a bad value in one line, exit 1, before any request', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dbp-s3-retry-settings-'));
    after(() => rmSync(dataDir, { recursive: true, force: true }));
    const result = await dbp(['verify', '--data-dir', dataDir, '--repository', 's3:http://127.0.0.1:1/bucket'], { env: { DBP_REPOSITORY_PASSWORD: 'x', DBP_S3_MAX_ATTEMPTS: 'lots' } });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^dbp verify: DBP_S3_MAX_ATTEMPTS must be a whole number from 1 to 20 .*"lots"/);
  });
});
