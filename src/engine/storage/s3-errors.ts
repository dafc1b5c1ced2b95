/**
 * What the AWS SDK throws, turned into StoreErrors whose messages name the bucket, the key and the S3
 * error code (and never carry the SDK's stack into a user's terminal; the original is kept as `cause`).
 */
import { StoreError, type StoreErrorCode } from './object-store.js';

interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function shape(error: unknown): SdkErrorShape {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape) : {};
}

/** The S3 error code (`NoSuchKey`, `SlowDown`…) or the Node.js network code (`ECONNREFUSED`…), if any. */
export function s3ErrorCode(error: unknown): string | undefined {
  const { name, Code, code } = shape(error);
  if (typeof Code === 'string') return Code;
  if (typeof code === 'string') return code;
  if (typeof name === 'string' && name !== 'Error' && name !== 'S3ServiceException') return name;
  return undefined;
}

export function httpStatusOf(error: unknown): number | undefined {
  const status = shape(error).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchVersion', 'NoSuchUpload']);
const DENIED = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
  'NoSuchBucket',
  'InvalidBucketName',
  'CredentialsProviderError',
  'ExpiredToken',
]);
const UNSUPPORTED = new Set([
  'NotImplemented',
  'InvalidRequest',
  'ObjectLockConfigurationNotFoundError',
  'InvalidBucketState',
  'EntityTooSmall',
]);

function codeFor(error: unknown): StoreErrorCode {
  const code = s3ErrorCode(error);
  const status = httpStatusOf(error);
  if (code !== undefined && NOT_FOUND.has(code)) return 'not_found';
  if (code === 'InvalidRange' || status === 416) return 'out_of_range';
  if (code === 'PreconditionFailed' || status === 412) return 'exists';
  if ((code !== undefined && DENIED.has(code)) || status === 401 || status === 403) return 'denied';
  if (code !== undefined && UNSUPPORTED.has(code)) return 'unsupported';
  if (status === 404) return 'not_found';
  // Network failures, timeouts, throttling and 5xx that outlived the SDK's retries, and anything unknown.
  return 'unavailable';
}

const HINTS: Partial<Record<string, string>> = {
  NoSuchBucket: 'the bucket does not exist',
  InvalidAccessKeyId: 'the access key is unknown to the store (check AWS_ACCESS_KEY_ID or the profile)',
  SignatureDoesNotMatch: 'the secret key does not match the access key (check AWS_SECRET_ACCESS_KEY)',
  CredentialsProviderError: 'no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)',
  ECONNREFUSED: 'the store refused the connection (is it running, and is the endpoint right?)',
  TimeoutError: 'the store did not answer in time',
  SlowDown: 'the store kept asking us to slow down',
};

/**
 * A StoreError for a failed S3 request: `what` is the operation and its target, e.g.
 * `GetObject s3:http://host/bucket/key`. A StoreError passes through unchanged.
 */
export function storeErrorFromS3(error: unknown, what: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = s3ErrorCode(error);
  const status = httpStatusOf(error);
  const hint = code !== undefined ? HINTS[code] : undefined;
  const rawMessage = shape(error).message;
  // The SDK's own message for a network failure is useful; for S3 errors the code says it better.
  const detail =
    hint ?? (typeof rawMessage === 'string' && rawMessage !== '' && rawMessage !== code && rawMessage !== 'UnknownError' ? firstLine(rawMessage) : undefined);
  const label = [code, status !== undefined ? `HTTP ${status}` : undefined].filter((part) => part !== undefined).join(', ');
  const message = `${what} failed${label ? ` (${label})` : ''}${detail ? `: ${detail}` : ''}`;
  return new StoreError(codeFor(error), message, { cause: error });
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? text;
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
