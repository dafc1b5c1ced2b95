/**
 * The one place tests get their S3 settings from. The endpoint comes from DBP_TEST_S3_ENDPOINT, the
 * credentials from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION):
 * `bash scripts/ceph/start.sh && source /tmp/dbp-ceph/env` sets them all for the project's Ceph cluster.
 * Without an endpoint S3 tests skip, unless DBP_REQUIRE_S3=1 (CI), where a missing endpoint is an error.
 *
 * Also here: bucket names unique per test run, the `s3:` repository URL of a bucket, a client set up for
 * radosgw, and a private radosgw of that cluster (scripts/ceph/rgw.sh --instance fault) that fault tests stop
 * and start.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { NodeHttpHandler } from '@smithy/node-http-handler';

// The SDK warns on stderr on every Node.js below 22; this project supports Node.js 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RGW_SCRIPT = `${REPO_ROOT}scripts/ceph/rgw.sh`;
const HOW_TO_START = 'bash scripts/ceph/start.sh && source /tmp/dbp-ceph/env';

export interface S3TestSettings {
  /** `http(s)://host:port`, no trailing slash. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The S3 settings of this test run, or `{ skip }` with the reason S3 tests skip. */
export type S3TestTarget = S3TestSettings | { skip: string };

/**
 * Reads the S3 test settings from `env`. Throws (rather than answering a skip) when DBP_REQUIRE_S3=1 and
 * no endpoint is set, and whenever the settings that are set are unusable: a broken setup must not look
 * like a skipped test.
 */
export function s3TestTarget(env: NodeJS.ProcessEnv = process.env): S3TestTarget {
  const raw = env.DBP_TEST_S3_ENDPOINT?.trim();
  if (!raw) {
    if (env.DBP_REQUIRE_S3 === '1') {
      throw new Error(`DBP_REQUIRE_S3=1 but DBP_TEST_S3_ENDPOINT is not set: start S3 with \`${HOW_TO_START}\``);
    }
    return { skip: `DBP_TEST_S3_ENDPOINT is not set: S3 tests skipped (to run them: ${HOW_TO_START})` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`DBP_TEST_S3_ENDPOINT is not a URL: ${JSON.stringify(raw)} (expected e.g. http://127.0.0.1:7480)`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.username) {
    throw new Error(`DBP_TEST_S3_ENDPOINT must be http(s)://host[:port] and nothing more, got ${JSON.stringify(raw)}`);
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(`DBP_TEST_S3_ENDPOINT is set but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not (${HOW_TO_START} sets all three)`);
  }
  return { endpoint: url.origin, region: env.AWS_REGION || 'us-east-1', accessKeyId, secretAccessKey };
}

/** The settings, for code that runs only when the tests did not skip. */
export function requireS3Settings(target: S3TestTarget = s3TestTarget()): S3TestSettings {
  if ('skip' in target) throw new Error(target.skip);
  return target;
}

/** For node:test's `skip` option: the reason when S3 tests skip, else false. */
export function s3SkipReason(target: S3TestTarget): string | false {
  return 'skip' in target ? target.skip : false;
}

// Unique per process and start time, so reruns and parallel test files never share a bucket.
const RUN_ID = `${Date.now().toString(36)}${process.pid.toString(36)}`;
let bucketCounter = 0;

/**
 * A valid S3 bucket name (3–63 characters of a–z, 0–9 and '-', starting and ending with a letter or digit)
 * that no other call in any test run answers: `dbp-<label>-<run>-<n>`, the label shortened if need be.
 */
export function uniqueBucketName(label: string): string {
  const suffix = `-${RUN_ID}-${(bucketCounter++).toString(36)}`;
  const room = 63 - 'dbp-'.length - suffix.length;
  const cleaned = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, room)
    .replace(/^-+|-+$/g, '');
  return `dbp-${cleaned || 'test'}${suffix}`;
}

/** The `--repository` URL of a bucket (and a prefix in it): `s3:http://127.0.0.1:7480/bucket/prefix`. */
export function s3RepositoryUrl(bucket: string, prefix?: string, settings: S3TestSettings = requireS3Settings()): string {
  const tail = prefix?.replace(/^\/+|\/+$/g, '');
  return `s3:${settings.endpoint}/${bucket}${tail ? `/${tail}` : ''}`;
}

/**
 * An SDK client for the test endpoint: path-style addressing, checksums only where an operation requires
 * them (with the SDK's default, a streamed body goes out aws-chunked with a trailing checksum, which
 * radosgw 16 answers with 411 MissingContentLength), one
 * attempt and short timeouts, so that a stopped radosgw is an error at once rather than a retry loop.
 */
export function s3TestClient(settings: S3TestSettings = requireS3Settings()): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2000, requestTimeout: 15000 }),
  });
}

/**
 * Fault tests stop and start a radosgw of their own, never the main one (DBP_TEST_S3_ENDPOINT) that the
 * other tests share: instance "fault" of the same cluster (scripts/ceph/rgw.sh --instance), on its own port,
 * serving the same pools and S3 user, so the same buckets and credentials work through either.
 */
export const FAULT_RGW_INSTANCE = 'fault';
export const FAULT_RGW_PORT = Number(process.env.DBP_TEST_FAULT_RGW_PORT || 7481);

/** The S3 settings of the private radosgw: the test settings with its endpoint. */
export function faultS3Settings(settings: S3TestSettings = requireS3Settings()): S3TestSettings {
  const url = new URL(settings.endpoint);
  url.port = String(FAULT_RGW_PORT);
  return { ...settings, endpoint: url.origin };
}

function runRgwScript(action: 'stop' | 'kill' | 'start'): Promise<void> {
  const args = [RGW_SCRIPT, action, '--instance', FAULT_RGW_INSTANCE, ...(action === 'start' ? ['--port', String(FAULT_RGW_PORT)] : [])];
  return new Promise((resolve, reject) => {
    execFile('bash', args, { timeout: 90_000 }, (error, stdout, stderr) => {
      if (!error) return resolve();
      const output = `${stdout}${stderr}`.trim();
      reject(new Error(`scripts/ceph/rgw.sh ${args.slice(1).join(' ')} failed (${error.message.split('\n')[0]})${output ? `:\n${output}` : ''}`));
    });
  });
}

/**
 * Stops the private radosgw (instance "fault" of the cluster under DBP_CEPH_DIR, default /tmp/dbp-ceph)
 * and returns once its port refuses connections. `kill: true` sends SIGKILL at once, like a crash.
 * The main radosgw is never touched.
 */
export function stopRadosgw(options: { kill?: boolean } = {}): Promise<void> {
  return runRgwScript(options.kill ? 'kill' : 'stop');
}

/** Starts the private radosgw (at once if it runs already) and returns once it answers HTTP (at most about a minute). */
export function startRadosgw(): Promise<void> {
  return runRgwScript('start');
}

/** This test run's S3 target, read once when the module loads. */
export const s3Target: S3TestTarget = s3TestTarget();
/** This run's S3 settings, or undefined when S3 tests skip. */
export const s3Settings: S3TestSettings | undefined = 'skip' in s3Target ? undefined : s3Target;
/** For node:test's `skip` option: false when S3 tests run, else the reason they skip. */
export const s3Skip: string | false = s3SkipReason(s3Target);

/** Two new buckets of the test endpoint, named by the caller — one with Object Lock, one without — a store on each (prefix `repo`), and a raw client. */
export interface LockAndPlainBuckets {
  readonly locked: S3ObjectStore;
  readonly plain: S3ObjectStore;
  /** Someone holding the service's own credentials, talking to S3 directly. */
  readonly direct: S3Client;
  close(): Promise<void>;
}

export async function openLockAndPlainBuckets(lockedBucket: string, plainBucket: string, settings: S3TestSettings = requireS3Settings()): Promise<LockAndPlainBuckets> {
  const open = (bucket: string) => S3ObjectStore.open({ type: 's3', endpoint: settings.endpoint, bucket, prefix: 'repo' });
  const locked = await open(lockedBucket);
  await locked.createBucket({ objectLock: true });
  const plain = await open(plainBucket);
  await plain.createBucket();
  const direct = s3TestClient(settings);
  return {
    locked,
    plain,
    direct,
    async close() {
      await locked.close();
      await plain.close();
      direct.destroy();
    },
  };
}

/** The names of the lock objects of the S3 repository at `location`. */
export async function s3LockObjects(location: StoreLocation & { type: 's3' }): Promise<string[]> {
  const store = await S3ObjectStore.open(location);
  try {
    const names: string[] = [];
    for await (const { name } of store.list('lock')) names.push(name);
    return names;
  } finally {
    await store.close();
  }
}
