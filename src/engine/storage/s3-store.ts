/**
 * The S3 object store: a repository's objects in a bucket (AWS S3, Ceph RGW, MinIO…), through
 * @aws-sdk/client-s3. The key layout mirrors the local directory (s3-keys.ts); docs/S3.md is the
 * operator's side of this file (URL, credentials, the S3 operations used, retries, Object Lock).
 *
 * Every request goes through one RequestLimiter (at most `maxInFlight` at once per store), so packs
 * upload in parallel while memory and connections stay bounded. Bodies are Buffers of known length
 * with a Content-MD5, so the SDK can resend them on a retry and the store rejects a body damaged on the
 * way. The SDK retries throttling, 5xx, timeouts and dropped connections with backoff; a stalled
 * connection is abandoned after `socketTimeoutMs` of silence and retried, never waited on for ever.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type ObjectIdentifier,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { formatRepositoryLocation } from './location.js';
import {
  StoreError,
  type ByteRange,
  type ObjectInfo,
  type ObjectKind,
  type ObjectStore,
  type ObjectWriter,
  type PutOptions,
  type StoreLocation,
} from './object-store.js';
import { RequestLimiter } from './request-limiter.js';
import { httpStatusOf, s3ErrorCode, storeErrorFromS3 } from './s3-errors.js';
import { S3KeyLayout } from './s3-keys.js';
import { backoffDelay, retryPolicyFromEnvironment, S3RetryStrategy, type RetryPolicy } from './s3-retry.js';

export type S3Location = Extract<StoreLocation, { type: 's3' }>;

/** Every S3 operation the store sends, with the IAM action that allows it (docs/S3.md shows a policy). */
export const S3_OPERATIONS: readonly { readonly operation: string; readonly iamAction: string; readonly use: string }[] = [
  { operation: 'PutObject', iamAction: 's3:PutObject', use: 'writes an object of up to one part size' },
  { operation: 'CreateMultipartUpload', iamAction: 's3:PutObject', use: 'starts a larger object (a manifest of a large disk)' },
  { operation: 'UploadPart', iamAction: 's3:PutObject', use: 'one part of a larger object' },
  { operation: 'CompleteMultipartUpload', iamAction: 's3:PutObject', use: 'makes a larger object visible' },
  { operation: 'AbortMultipartUpload', iamAction: 's3:AbortMultipartUpload', use: 'forgets an unfinished larger object' },
  { operation: 'GetObject', iamAction: 's3:GetObject', use: 'reads an object or a byte range of it' },
  { operation: 'HeadObject', iamAction: 's3:GetObject', use: 'size and time of an object; exclusive creation' },
  { operation: 'ListObjectsV2', iamAction: 's3:ListBucket', use: 'lists the objects of a kind' },
  { operation: 'DeleteObjects', iamAction: 's3:DeleteObject', use: 'removes objects, up to 1000 a request' },
  { operation: 'GetBucketVersioning', iamAction: 's3:GetBucketVersioning', use: 'once per store, before the first removal' },
  { operation: 'ListObjectVersions', iamAction: 's3:ListBucketVersions', use: 'versions of an object to remove (versioned buckets only)' },
  { operation: 'DeleteObjects (with version ids)', iamAction: 's3:DeleteObjectVersion', use: 'removes every version (versioned buckets only)' },
  { operation: 'PutObject (with retention)', iamAction: 's3:PutObjectRetention', use: 'Object Lock retention of an immutable repository' },
  { operation: 'PutObjectRetention', iamAction: 's3:PutObjectRetention', use: 'retention of an object written in parts (immutable repositories)' },
  { operation: 'GetObjectLockConfiguration', iamAction: 's3:GetBucketObjectLockConfiguration', use: 'whether the bucket has Object Lock (repository init)' },
];

export interface S3StoreOptions {
  /** Requests in flight at once (uploads, downloads, listings); default 8. */
  readonly maxInFlight?: number;
  /** Objects larger than this are written in parts of this size; default 16 MiB, at least 5 MiB (S3's minimum). */
  readonly partSize?: number;
  /** Attempts per request, the first included, with backoff (s3-retry.ts); default DBP_S3_MAX_ATTEMPTS, else 8. */
  readonly maxAttempts?: number;
  /** The ceiling of the first wait before a retry, doubled at each; default DBP_S3_RETRY_BASE_MS, else 200 ms. */
  readonly retryBaseDelayMs?: number;
  /** Giving up on a TCP connection that does not open; default 5 s. */
  readonly connectionTimeoutMs?: number;
  /** Giving up on a connection silent for this long (a stalled server), then retrying; default 30 s. */
  readonly socketTimeoutMs?: number;
  /** Otherwise the SDK's standard chain (environment, profile, web identity, instance metadata…). */
  readonly credentials?: NonNullable<S3ClientConfig['credentials']>;
  /** Otherwise the SDK's standard chain (AWS_REGION, profile), and `us-east-1` when none is configured. */
  readonly region?: string;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;
const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
/** Parts of one writer uploading at once: with the one being filled, at most 3 part sizes of memory. */
const PARTS_IN_FLIGHT_PER_WRITER = 2;
const DELETE_BATCH = 1000;

/** The region as the SDK's chain finds it, or undefined when none is configured. */
async function configuredRegion(endpoint: string): Promise<string | undefined> {
  const probe = new S3Client({ endpoint });
  try {
    return await probe.config.region();
  } catch {
    return undefined;
  } finally {
    probe.destroy();
  }
}

function s3Client(location: S3Location, region: string, options: S3StoreOptions, maxInFlight: number, retry: Required<RetryPolicy>): S3Client {
  return new S3Client({
    endpoint: location.endpoint,
    region,
    forcePathStyle: true,
    // RGW (Ceph 16) refuses the SDK's default streaming checksums (MissingContentLength); we send a
    // Content-MD5 ourselves instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    retryStrategy: new S3RetryStrategy(retry),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    requestHandler: new NodeHttpHandler({
      connectionTimeout: options.connectionTimeoutMs ?? 5_000,
      socketTimeout: options.socketTimeoutMs ?? 30_000,
      httpAgent: { keepAlive: true, maxSockets: maxInFlight },
      httpsAgent: { keepAlive: true, maxSockets: maxInFlight },
    }),
  });
}

/** The options' retry settings, else the environment's (DBP_S3_MAX_ATTEMPTS, DBP_S3_RETRY_BASE_MS), else the defaults. */
function retryPolicyOf(options: S3StoreOptions): Required<RetryPolicy> {
  const fromEnvironment = retryPolicyFromEnvironment();
  return {
    maxAttempts: options.maxAttempts ?? fromEnvironment.maxAttempts,
    baseDelayMs: options.retryBaseDelayMs ?? fromEnvironment.baseDelayMs,
    maxDelayMs: fromEnvironment.maxDelayMs,
  };
}

function md5Hex(body: Uint8Array): string {
  return createHash('md5').update(body).digest('hex');
}

function concat(parts: readonly Uint8Array[]): Buffer {
  return parts.length === 1 ? Buffer.from(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.byteLength) : Buffer.concat(parts);
}

function checkRange(range: ByteRange): void {
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`invalid byte range: offset ${offset}, length ${length} (integers, length ≥ 0)`);
  }
  if (offset < 0 && length > -offset) throw new RangeError(`invalid byte range: ${length} bytes from ${-offset} before the end`);
}

/** The connection failed or fell short while a response's body was streaming (after the SDK's retries). */
class BodyReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BodyReadError';
  }
}

/**
 * A response's body as one Buffer. With its length known, the bytes are copied into one buffer of
 * that size as they arrive: the SDK's own collector keeps every piece and then joins them, holding
 * each answer twice until the garbage collector frees the pieces (on a restore, the largest part of
 * the process's memory). The Buffer owns its ArrayBuffer, so it can move to a worker thread.
 */
async function readBody(body: { transformToByteArray(): Promise<Uint8Array> } | undefined, expected: number | undefined): Promise<Buffer> {
  if (body === undefined) return Buffer.alloc(0);
  let bytes: Buffer;
  let received = 0;
  try {
    if (expected !== undefined && body instanceof Readable) {
      bytes = Buffer.allocUnsafeSlow(expected);
      for await (const piece of body as AsyncIterable<Buffer>) {
        if (received + piece.byteLength > expected) throw new BodyReadError(`the answer carried more than its ${expected} bytes`);
        piece.copy(bytes, received);
        received += piece.byteLength;
      }
    } else {
      const all = await body.transformToByteArray();
      bytes = Buffer.from(all.buffer, all.byteOffset, all.byteLength);
      received = bytes.byteLength;
    }
  } catch (error) {
    if (error instanceof BodyReadError) throw error;
    throw new BodyReadError(`the answer broke off: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (expected !== undefined && received !== expected) {
    throw new BodyReadError(`the answer carried ${received} of its ${expected} bytes`);
  }
  return bytes;
}

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly keys: S3KeyLayout;
  private readonly limiter: RequestLimiter;
  private readonly partSize: number;
  private readonly retry: Required<RetryPolicy>;
  private versioned: Promise<boolean> | undefined;
  readonly remote = true;

  /** Use `S3ObjectStore.open`, which finds the region; this takes a ready client (tests, tools). */
  constructor(
    readonly location: S3Location,
    private readonly client: S3Client,
    options: S3StoreOptions = {},
  ) {
    this.description = formatRepositoryLocation(location);
    this.keys = new S3KeyLayout(location.prefix);
    this.limiter = new RequestLimiter(options.maxInFlight ?? 8);
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new RangeError(`the S3 part size must be at least 5 MiB (S3's smallest part), not ${this.partSize} bytes`);
    }
    this.retry = retryPolicyOf(options);
  }

  static async open(location: S3Location, options: S3StoreOptions = {}): Promise<S3ObjectStore> {
    // The SDK warns on every Node.js below 22 on stderr; this project supports Node.js 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const region = options.region ?? (await configuredRegion(location.endpoint)) ?? 'us-east-1';
    const maxInFlight = options.maxInFlight ?? 8;
    return new S3ObjectStore(location, s3Client(location, region, options, maxInFlight, retryPolicyOf(options)), options);
  }

  /** Requests running now (tests prove the bound with it). */
  get requestsInFlight(): number {
    return this.limiter.inFlight;
  }

  private target(key: string): string {
    return `s3:${this.location.endpoint}/${this.location.bucket}/${key}`;
  }

  /** One request under the in-flight limit; failures become StoreErrors naming the operation and key. */
  private async send<T>(what: string, key: string, request: () => Promise<T>): Promise<T> {
    try {
      return await this.limiter.run(request);
    } catch (error) {
      throw storeErrorFromS3(error, `${what} ${this.target(key)}`);
    }
  }

  async put(kind: ObjectKind, name: string, parts: readonly Uint8Array[], options: PutOptions = {}): Promise<void> {
    const key = this.keys.key(kind, name);
    await this.putBody(key, concat(parts), options);
  }

  private async putBody(key: string, body: Buffer, options: PutOptions): Promise<void> {
    const md5 = md5Hex(body);
    if ((options.ifAbsent || options.retainUntil) && (await this.checkReplace(key, options, md5)) === 'same') return;
    const input: PutObjectCommandInput = {
      Bucket: this.location.bucket,
      Key: key,
      Body: body,
      ContentLength: body.byteLength,
      ContentMD5: Buffer.from(md5, 'hex').toString('base64'),
      ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
      ...retention(options),
    };
    try {
      await this.send('PutObject', key, () => this.client.send(new PutObjectCommand(input)));
    } catch (error) {
      if (options.ifAbsent && error instanceof StoreError && error.code === 'exists') {
        // Refused on a retry: perhaps by our own first attempt, which landed but whose answer was lost;
        // then the object holds our bytes. Refused on the first attempt: someone else's object.
        const attempts = (error.cause as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? 1;
        if (attempts > 1 && (await this.head(key))?.etag === md5) return;
        throw new StoreError('exists', `${this.target(key)} already exists`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * Before a put that must not replace an object (ifAbsent, or one written with retention): HEAD the
   * key. 'same' when a retained object already holds these bytes (a repeated put: nothing to do);
   * StoreError('locked') when it is retained, 'exists' when ifAbsent and it is there.
   * If-None-Match then makes ifAbsent atomic where the store honours it (RGW 16 does in unversioned
   * buckets only; in a versioned one this HEAD is all there is: docs/S3.md).
   */
  private async checkReplace(key: string, options: PutOptions, md5?: string): Promise<'absent' | 'same' | 'replaceable'> {
    const existing = await this.head(key);
    if (existing === undefined) return 'absent';
    // Before our first attempt, an object there is never ours: for ifAbsent, the same bytes are no excuse.
    if (!options.ifAbsent && md5 !== undefined && existing.etag === md5) return 'same';
    if (existing.retainUntil !== undefined && existing.retainUntil.getTime() > Date.now()) {
      throw new StoreError('locked', `${this.target(key)} is retained until ${existing.retainUntil.toISOString()} (Object Lock): it cannot be replaced`);
    }
    if (options.ifAbsent) throw new StoreError('exists', `${this.target(key)} already exists`);
    return 'replaceable';
  }

  async writer(kind: ObjectKind, name: string, options: PutOptions = {}): Promise<ObjectWriter> {
    const key = this.keys.key(kind, name);
    return new S3ObjectWriter(this, key, options);
  }

  async get(kind: ObjectKind, name: string, range?: ByteRange): Promise<Buffer> {
    const key = this.keys.key(kind, name);
    if (range) checkRange(range);
    if (range && range.length === 0) {
      const info = await this.head(key);
      if (!info) throw new StoreError('not_found', `${this.target(key)} does not exist`);
      const start = range.offset < 0 ? info.size + range.offset : range.offset;
      if (start < 0 || start > info.size) throw this.pastTheEnd(key, range, info.size);
      return Buffer.alloc(0);
    }
    const header = range ? (range.offset < 0 ? `bytes=${range.offset}` : `bytes=${range.offset}-${range.offset + range.length - 1}`) : undefined;
    // The SDK retries a request until its answer begins; a connection lost while the body streams is
    // retried here (only that: the SDK's own retries are not multiplied), with the same attempts.
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.send('GetObject', key, async () => {
          const answer = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key, ...(header ? { Range: header } : {}) }));
          const body = await readBody(answer.Body, answer.ContentLength);
          if (!range) return body;
          const wanted = range.offset < 0 ? -range.offset : range.length;
          if (body.byteLength < wanted) throw this.pastTheEnd(key, range, totalFromContentRange(answer.ContentRange));
          return range.offset < 0 ? body.subarray(0, range.length) : body;
        });
      } catch (error) {
        const cause = error instanceof StoreError ? error.cause : error;
        if (error instanceof StoreError && error.code === 'out_of_range' && httpStatusOf(cause) === 416) {
          throw this.pastTheEnd(key, range!, undefined);
        }
        if (cause instanceof BodyReadError && attempt < this.retry.maxAttempts) {
          await sleep(backoffDelay(attempt, this.retry.baseDelayMs, this.retry.maxDelayMs));
          continue;
        }
        throw error;
      }
    }
  }

  private pastTheEnd(key: string, range: ByteRange, size: number | undefined): StoreError {
    const what = range.offset < 0 ? `the last ${-range.offset} bytes` : `bytes ${range.offset}–${range.offset + range.length - 1}`;
    return new StoreError('out_of_range', `${what} of ${this.target(key)} are past its end${size !== undefined ? ` (it has ${size} bytes)` : ''}`);
  }

  async stat(kind: ObjectKind, name: string): Promise<ObjectInfo | undefined> {
    const info = await this.head(this.keys.key(kind, name));
    return info && { name, size: info.size, modifiedAt: info.modifiedAt };
  }

  /** HeadObject: undefined when absent. */
  async head(key: string): Promise<{ size: number; modifiedAt: number; etag: string; retainUntil?: Date } | undefined> {
    try {
      const answer = await this.send('HeadObject', key, () => this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: key })));
      return {
        size: answer.ContentLength ?? 0,
        modifiedAt: answer.LastModified?.getTime() ?? 0,
        etag: (answer.ETag ?? '').replace(/"/g, ''),
        ...(answer.ObjectLockRetainUntilDate ? { retainUntil: answer.ObjectLockRetainUntilDate } : {}),
      };
    } catch (error) {
      if (error instanceof StoreError && error.code === 'not_found') return undefined;
      throw error;
    }
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    const { prefix, delimiter } = this.keys.listing(kind);
    let token: string | undefined;
    do {
      const page = await this.send('ListObjectsV2', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: prefix,
            ...(delimiter ? { Delimiter: delimiter } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const entry of page.Contents ?? []) {
        const name = entry.Key === undefined ? undefined : this.keys.nameOf(kind, entry.Key);
        if (name !== undefined) yield { name, size: entry.Size ?? 0, modifiedAt: entry.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async remove(kind: ObjectKind, names: readonly string[]): Promise<void> {
    const keys = [...new Set(names.map((name) => this.keys.key(kind, name)))];
    if (keys.length === 0) return;
    // In a versioned bucket (Object Lock needs one) deleting a key only hides it behind a delete marker;
    // its bytes go only when each version is deleted, and a retained version is refused then.
    const identifiers = (await this.isVersioned()) ? (await Promise.all(keys.map((key) => this.versionsOf(key)))).flat() : keys.map((Key) => ({ Key }));
    const locked: string[] = [];
    const failed: string[] = [];
    for (let start = 0; start < identifiers.length; start += DELETE_BATCH) {
      const batch = identifiers.slice(start, start + DELETE_BATCH);
      const answer = await this.send('DeleteObjects', batch[0]!.Key!, () =>
        this.client.send(new DeleteObjectsCommand({ Bucket: this.location.bucket, Delete: { Objects: batch, Quiet: true } })),
      );
      for (const error of answer.Errors ?? []) {
        if (error.Code === 'NoSuchKey' || error.Code === 'NoSuchVersion') continue;
        const label = `${error.Key ?? '?'}${error.VersionId ? ` (version ${error.VersionId})` : ''}`;
        if (error.Code === 'AccessDenied') locked.push(label);
        else failed.push(`${label}: ${error.Code ?? 'unknown error'}`);
      }
    }
    if (failed.length > 0) {
      throw new StoreError('unavailable', `DeleteObjects in ${this.description} failed for ${failed.length} object(s): ${failed.slice(0, 5).join('; ')}`);
    }
    if (locked.length > 0) {
      throw new StoreError('locked', `${this.description}: ${locked.length} object(s) are retained (Object Lock) or not ours to delete: ${locked.slice(0, 5).join(', ')}`);
    }
  }

  private isVersioned(): Promise<boolean> {
    this.versioned ??= this.send('GetBucketVersioning', '', () => this.client.send(new GetBucketVersioningCommand({ Bucket: this.location.bucket })))
      .then((answer) => answer.Status === 'Enabled' || answer.Status === 'Suspended')
      .catch((error: unknown) => {
        this.versioned = undefined; // asked again next time
        // Without the permission to ask, the bucket is taken for unversioned (docs/S3.md).
        if (error instanceof StoreError && error.code === 'denied') return false;
        throw error;
      });
    return this.versioned;
  }

  /** Every version and delete marker of exactly this key. */
  private async versionsOf(key: string): Promise<ObjectIdentifier[]> {
    const found: ObjectIdentifier[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const page = await this.send('ListObjectVersions', key, () =>
        this.client.send(
          new ListObjectVersionsCommand({
            Bucket: this.location.bucket,
            Prefix: key,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
          }),
        ),
      );
      for (const entry of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (entry.Key === key) found.push({ Key: key, ...(entry.VersionId ? { VersionId: entry.VersionId } : {}) });
      }
      if (!page.IsTruncated) return found;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
  }

  async barrier(): Promise<void> {
    // A completed PUT is durable: nothing to do.
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /**
   * Whether the bucket has Object Lock enabled (GetObjectLockConfiguration): an immutable repository
   * needs it. False when the bucket has none; other failures (denied, unreachable) are thrown.
   */
  async checkObjectLock(): Promise<boolean> {
    try {
      const answer = await this.send('GetObjectLockConfiguration', '', () =>
        this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.location.bucket })),
      );
      return answer.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (error) {
      const code = error instanceof StoreError ? s3ErrorCode(error.cause) : undefined;
      if (code === 'ObjectLockConfigurationNotFoundError' || code === 'InvalidRequest') return false;
      throw error;
    }
  }

  /**
   * Creates the location's bucket (with Object Lock enabled, and so versioning, when asked). Not used
   * by the repository itself (it never creates buckets): for tests and for operators' tooling.
   * A bucket we already own is left as it is.
   */
  async createBucket(options: { objectLock?: boolean } = {}): Promise<void> {
    try {
      await this.send('CreateBucket', '', () =>
        this.client.send(new CreateBucketCommand({ Bucket: this.location.bucket, ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}) })),
      );
    } catch (error) {
      const code = error instanceof StoreError ? s3ErrorCode(error.cause) : undefined;
      if (code !== 'BucketAlreadyOwnedByYou') throw error;
    }
  }

  // Multipart upload steps, for S3ObjectWriter (not part of the ObjectStore interface).

  /** @internal */
  get multipartPartSize(): number {
    return this.partSize;
  }

  /** @internal */
  async putWhole(key: string, body: Buffer, options: PutOptions): Promise<void> {
    await this.putBody(key, body, options);
  }

  /** @internal */
  async startMultipart(key: string, options: PutOptions): Promise<string> {
    if (options.ifAbsent || options.retainUntil) await this.checkReplace(key, options);
    const answer = await this.send('CreateMultipartUpload', key, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.location.bucket, Key: key, ...retention(options) })),
    );
    if (!answer.UploadId) throw new StoreError('unavailable', `CreateMultipartUpload ${this.target(key)} answered no upload id`);
    return answer.UploadId;
  }

  /** @internal */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<CompletedPart> {
    const answer = await this.send(`UploadPart ${partNumber} of`, key, () =>
      this.client.send(
        new UploadPartCommand({
          Bucket: this.location.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.byteLength,
          ContentMD5: createHash('md5').update(body).digest('base64'),
        }),
      ),
    );
    return { PartNumber: partNumber, ETag: answer.ETag ?? `"${md5Hex(body)}"` };
  }

  /** @internal */
  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[], options: PutOptions): Promise<void> {
    // Exclusive creation of a multipart object is best effort (HEAD just before completing): RGW 16
    // has no conditional CompleteMultipartUpload. Only large manifests are written this way.
    if (options.ifAbsent || options.retainUntil) await this.checkReplace(key, options);
    // RGW answers an empty ETag here (Ceph tracker 58879): nothing below relies on it.
    const completed = await this.send('CompleteMultipartUpload', key, () =>
      this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.location.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } })),
    );
    // RGW 16 ignores the retention given to CreateMultipartUpload: set it on the finished object (on
    // AWS this repeats the same date, which compliance mode allows).
    if (options.retainUntil) {
      const retainUntil = options.retainUntil;
      await this.send('PutObjectRetention', key, () =>
        this.client.send(
          new PutObjectRetentionCommand({
            Bucket: this.location.bucket,
            Key: key,
            ...(completed.VersionId ? { VersionId: completed.VersionId } : {}),
            Retention: { Mode: 'COMPLIANCE', RetainUntilDate: retainUntil },
          }),
        ),
      );
    }
  }

  /** @internal */
  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.send('AbortMultipartUpload', key, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: key, UploadId: uploadId })),
      );
    } catch (error) {
      if (!(error instanceof StoreError && error.code === 'not_found')) throw error;
    }
  }
}

function retention(options: PutOptions): Pick<PutObjectCommandInput, 'ObjectLockMode' | 'ObjectLockRetainUntilDate'> {
  if (!options.retainUntil) return {};
  return { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: options.retainUntil };
}

function totalFromContentRange(header: string | undefined): number | undefined {
  const match = header ? /\/(\d+)$/.exec(header) : null;
  return match ? Number(match[1]) : undefined;
}

/**
 * Buffers writes up to one part; a small object becomes one PutObject at commit, a larger one a
 * multipart upload whose parts go up while the next fills (at most PARTS_IN_FLIGHT_PER_WRITER at once).
 */
class S3ObjectWriter implements ObjectWriter {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private uploadId: string | undefined;
  private readonly parts: Promise<CompletedPart>[] = [];
  private readonly pending = new Set<Promise<CompletedPart>>();
  private failure: unknown;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    private readonly store: S3ObjectStore,
    private readonly key: string,
    private readonly options: PutOptions,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    this.checkOpen('write to');
    if (data.byteLength === 0) return;
    this.buffered.push(Buffer.from(data)); // a copy: the caller may reuse its buffer
    this.bufferedBytes += data.byteLength;
    const partSize = this.store.multipartPartSize;
    while (this.bufferedBytes >= partSize) await this.sendPart(this.take(partSize));
  }

  async commit(): Promise<void> {
    this.checkOpen('commit');
    if (this.uploadId === undefined) {
      await this.store.putWhole(this.key, this.take(this.bufferedBytes), this.options);
    } else {
      if (this.bufferedBytes > 0) await this.sendPart(this.take(this.bufferedBytes));
      const parts = await Promise.all(this.parts);
      await this.store.completeMultipart(this.key, this.uploadId, parts, this.options);
    }
    this.state = 'committed';
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.buffered = [];
    await Promise.allSettled(this.pending);
    if (this.uploadId !== undefined) await this.store.abortMultipart(this.key, this.uploadId);
  }

  private checkOpen(action: string): void {
    if (this.state !== 'open') throw new Error(`cannot ${action} ${this.key}: the writer is ${this.state}`);
    if (this.failure !== undefined) throw this.failure;
  }

  /** The first `bytes` buffered bytes as one Buffer. */
  private take(bytes: number): Buffer {
    const all = Buffer.concat(this.buffered, this.bufferedBytes);
    const part = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.buffered = rest.byteLength > 0 ? [Buffer.from(rest)] : [];
    this.bufferedBytes = rest.byteLength;
    return part;
  }

  private async sendPart(body: Buffer): Promise<void> {
    this.uploadId ??= await this.store.startMultipart(this.key, this.options);
    while (this.pending.size >= PARTS_IN_FLIGHT_PER_WRITER) await Promise.race(this.pending).catch(() => {});
    if (this.failure !== undefined) throw this.failure;
    const uploading = this.store.uploadPart(this.key, this.uploadId, this.parts.length + 1, body);
    this.parts.push(uploading);
    this.pending.add(uploading);
    uploading.then(
      () => this.pending.delete(uploading),
      (error: unknown) => {
        this.pending.delete(uploading);
        this.failure ??= error;
      },
    );
  }
}
