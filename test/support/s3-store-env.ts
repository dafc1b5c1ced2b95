/**
 * S3 settings for the store tests: the endpoint of a test radosgw from DBP_TEST_S3_ENDPOINT (and the
 * credentials from the SDK's usual environment variables; scripts/ceph/start.sh writes them all to
 * /tmp/dbp-ceph/env). Unset: the S3 tests are skipped with a reason, unless DBP_REQUIRE_S3=1, where a
 * missing store is an error (CI must not pass by skipping).
 */
import { randomBytes } from 'node:crypto';

export interface S3TestSettings {
  readonly endpoint: string;
}

function settings(): S3TestSettings | undefined {
  const endpoint = process.env.DBP_TEST_S3_ENDPOINT?.trim();
  if (!endpoint) {
    if (process.env.DBP_REQUIRE_S3 === '1') {
      throw new Error('DBP_REQUIRE_S3=1 but DBP_TEST_S3_ENDPOINT is not set (source /tmp/dbp-ceph/env after scripts/ceph/start.sh)');
    }
    return undefined;
  }
  return { endpoint: endpoint.replace(/\/+$/, '') };
}

export const s3TestSettings = settings();

/** For `test(name, { skip: s3SkipReason }, …)`: false when S3 tests can run. */
export const s3SkipReason: string | false = s3TestSettings ? false : 'no test S3 store: set DBP_TEST_S3_ENDPOINT (source /tmp/dbp-ceph/env)';

/** A bucket name no other test run uses. */
export function uniqueBucketName(label: string): string {
  return `dbp-${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`.slice(0, 63);
}
