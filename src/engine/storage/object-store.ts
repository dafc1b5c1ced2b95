/**
 * The storage seam under the repository (in the spirit of restic's backends): a repository is a set of
 * named objects of a few kinds, and a store keeps them — a local directory or an S3 bucket. The
 * repository format (docs/REPOSITORY.md) is written in these terms only; nothing above this seam
 * knows whether bytes live in files or in a bucket.
 *
 * Every object is written whole: it is visible under its name only once complete (a reader never sees
 * half of one), and objects are never changed in place — a new content gets a new name.
 */

/** What an object is; a store keeps each kind apart (a directory or a key prefix per kind). */
export type ObjectKind = 'config' | 'pack' | 'index' | 'manifest' | 'lock';

export const OBJECT_KINDS: readonly ObjectKind[] = ['config', 'pack', 'index', 'manifest', 'lock'];

export interface ObjectInfo {
  readonly name: string;
  /** Bytes. */
  readonly size: number;
  /** When the object was written (milliseconds since the epoch), as the store reports it. */
  readonly modifiedAt: number;
}

export interface PutOptions {
  /** Fail with StoreError('exists') when an object of that name is already there (exclusive create). */
  readonly ifAbsent?: boolean;
  /**
   * Immutable until then: the store refuses to delete or overwrite the object before this instant
   * (S3 Object Lock, compliance mode). The local store cannot promise this and refuses the option.
   */
  readonly retainUntil?: Date;
}

/** A byte range of an object; a negative offset counts from the object's end (the last -offset bytes). */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** An object written in pieces (a manifest of a large disk): visible only after `commit`. */
export interface ObjectWriter {
  write(data: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  /** Forgets what was written; the object never appears. Safe to call after a failure. */
  abort(): Promise<void>;
}

export interface ObjectStore {
  /** Where the objects live, for messages and logs (a path or an s3: URL; never a secret). */
  readonly description: string;
  /** Enough to open the same store again in another thread or process (openStore). */
  readonly location: StoreLocation;
  /** Writes an object whole; the parts are concatenated. */
  put(kind: ObjectKind, name: string, parts: readonly Uint8Array[], options?: PutOptions): Promise<void>;
  writer(kind: ObjectKind, name: string, options?: PutOptions): Promise<ObjectWriter>;
  /** The whole object or a range of it; StoreError('not_found') when absent, StoreError('out_of_range')
   * when the range reaches past the end; a short answer never. */
  get(kind: ObjectKind, name: string, range?: ByteRange): Promise<Buffer>;
  /** undefined when absent. */
  stat(kind: ObjectKind, name: string): Promise<ObjectInfo | undefined>;
  /** Every object of a kind, in no promised order. */
  list(kind: ObjectKind): AsyncIterable<ObjectInfo>;
  /** Deletes these objects; absent ones are ignored. StoreError('locked') when retention forbids it. */
  remove(kind: ObjectKind, names: readonly string[]): Promise<void>;
  /**
   * Makes every put of this kind so far durable against a crash of this machine (local: sync the
   * directories; S3: nothing, a completed PUT is durable). Put objects are visible before it.
   */
  barrier(kind: ObjectKind): Promise<void>;
  /** Releases connections and handles. */
  close(): Promise<void>;
  /**
   * Every request goes over a network and costs a round trip (S3), so the repository writes larger
   * packs and reads more per request than it does from a local directory. Absent: false.
   */
  readonly remote?: boolean;
  /**
   * Bytes the store can still take, for a store that can fill up (a local file system): garbage
   * collection rewrites packs only when there is room. Absent: no such limit worth checking.
   */
  freeBytes?(): Promise<number>;
  /**
   * Deletes what interrupted writes of this kind left behind (local: temporary files; S3: incomplete
   * multipart uploads); answers how many. Called only by garbage collection, which runs alone, and
   * only for packs, index and manifests (a lock may be being put by a process about to see gc's lock).
   */
  removeIncomplete?(kind: ObjectKind): Promise<number>;
  /**
   * Whether the store can keep objects immutable (retainUntil): an S3 bucket with Object Lock enabled.
   * Absent: it cannot (a local directory).
   */
  checkObjectLock?(): Promise<boolean>;
}

export type StoreErrorCode =
  /** No such object. */
  | 'not_found'
  /** put with ifAbsent found one. */
  | 'exists'
  /** Retention (Object Lock) forbids deleting or overwriting it. */
  | 'locked'
  /** The store cannot be reached or keeps failing after retries (network, 5xx, throttling). */
  | 'unavailable'
  /** Credentials refused, or the bucket or directory is not ours to use. */
  | 'denied'
  /** The store lacks something asked of it (e.g. Object Lock not enabled on the bucket). */
  | 'unsupported'
  /** A byte range reaches past the object's end (the object is shorter than its reader expects: truncated). */
  | 'out_of_range';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** Where a repository's objects live: parsed from `--repository` (location.ts). */
export type StoreLocation =
  | { readonly type: 'local'; readonly path: string }
  | {
      readonly type: 's3';
      /** The endpoint URL as written, without the bucket: `http://127.0.0.1:7480`. */
      readonly endpoint: string;
      readonly bucket: string;
      /** Key prefix inside the bucket, without leading or trailing slash; '' for the bucket's root. */
      readonly prefix: string;
    };
