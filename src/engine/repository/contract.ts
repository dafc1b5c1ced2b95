/**
 * The backup repository's public contract: what the rest of the product (runner, CLI, extension API)
 * may use. The repository is a set of objects in a store (a local directory or an S3 bucket):
 * content-addressed, compressed, encrypted chunks gathered in packs, index objects that say where each
 * chunk is, and one manifest per backup; its format is written down in docs/REPOSITORY.md.
 * Nothing here knows of HTTP, the database or policies: backups carry free-form string tags
 * (the runner uses policy_id, disk_id, run_id) so that a catalogue can be rebuilt from the repository.
 */

import type { ObjectStore, StoreLocation } from '../storage/object-store.js';

export interface Progress {
  /** Bytes of the source (backup) or image (restore, verify) handled so far. */
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export type ProgressListener = (progress: Progress) => void;

export interface BackupSummary {
  readonly id: string;
  /** Unix seconds when the backup's manifest became durable. */
  readonly createdAt: number;
  readonly startedAt: number;
  /** Size of the backed-up image in bytes. */
  readonly diskSize: number;
  readonly chunkSize: number;
  /** Number of chunks in the image (zero chunks included; they are not stored). */
  readonly chunkCount: number;
  readonly tags: Readonly<Record<string, string>>;
}

export interface BackupResult extends BackupSummary {
  /** Chunks this backup added to the repository (not already there, not all-zero). */
  readonly newChunks: number;
  /** Stored (compressed + encrypted) bytes those new chunks occupy. */
  readonly newStoredBytes: number;
}

export interface BadChunk {
  readonly chunkId: string;
  readonly problem: 'missing' | 'unreadable' | 'corrupt';
  readonly detail: string;
  /** Every backup whose manifest names the chunk. */
  readonly backupIds: readonly string[];
}

export interface VerifyReport {
  readonly backupsChecked: number;
  readonly chunksChecked: number;
  /** Plain bytes of the chunks read and authenticated (each chunk once). */
  readonly bytesChecked: number;
  /** Per backup checked (repository id): plain bytes of its distinct chunks. */
  readonly bytesByBackup: Readonly<Record<string, number>>;
  readonly badChunks: readonly BadChunk[];
  /** Manifests that could not be read or authenticated. */
  readonly badManifests: readonly { readonly backupId: string; readonly detail: string }[];
  /**
   * What was wrong with the index (damaged index files — `file` is `index/<id>` — or packs a backup
   * needs that no index file named, `file` null). Already mended when reported: the index was rebuilt
   * from the packs' own tables, so a later verify is clean unless the packs themselves are damaged.
   */
  readonly indexProblems: readonly { readonly file: string | null; readonly detail: string }[];
  readonly ok: boolean;
}

/** What `repairIndex` did. */
export interface IndexRepairReport {
  /** Packs the new index file names (read from their own tables). */
  readonly packsIndexed: number;
  readonly chunksIndexed: number;
  /** The new index file (`index/<id>`), or null when there are no packs. */
  readonly indexFile: string | null;
  /** Old index files removed (damaged or not). */
  readonly indexFilesReplaced: number;
  readonly damagedIndexFiles: readonly string[];
  /** Packs whose own table cannot be read (kept as an old index file described them, if one did). */
  readonly unreadablePacks: readonly string[];
}

export interface GcReport {
  readonly chunksRemoved: number;
  readonly bytesRemoved: number;
  readonly chunksKept: number;
  /** Present when a step was skipped (e.g. packs partly in use not rewritten for want of disk space). */
  readonly notes?: readonly string[];
}

/** A pack as its own table of contents describes it (not the index). */
export interface PackContents {
  /** The pack's id, which is also its object name. */
  readonly id: string;
  /** Size of the object (its blobs, its table and the table's length). */
  readonly fileBytes: number;
  readonly blobs: readonly { readonly chunkId: string; readonly offset: number; readonly length: number }[];
}

export interface BackupOptions {
  /** Path of a readable image file or block device: already the point-in-time view the caller chose. */
  readonly sourcePath: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
}

/**
 * A backup that reads only part of the image (an RBD snapshot: what its diff names, docs/RBD.md):
 * the extents given are rounded out to whole chunks and read; every other chunk is the base backup's
 * (its id taken from the base's manifest, nothing read), or zero when there is no base.
 */
export interface ChangesBackupOptions {
  /** The image's size in bytes (the base backup's must be the same). */
  readonly diskSize: number;
  /** Byte ranges of the image to read, in any order; overlapping is fine. */
  readonly extents: readonly { readonly offset: number; readonly length: number }[];
  /** The repository id of the backup whose chunks stand for those not read; none: they are zero. */
  readonly baseBackupId?: string;
  /**
   * Reads image bytes [position, position + length) (whole chunks; the image's last may be short)
   * into `into` (exactly that long), every byte of it: zeros too (the buffer is reused).
   */
  read(position: number, length: number, into: Uint8Array): Promise<void>;
  readonly tags?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** bytesDone/bytesTotal count the bytes to read, not the image. */
  readonly onProgress?: ProgressListener;
}

export interface ChangesBackupResult extends BackupResult {
  /** Chunks read from the image, and their bytes. */
  readonly chunksRead: number;
  readonly bytesRead: number;
}

export interface RestoreOptions {
  /** Written atomically (temporary file beside it, then rename); zero chunks become holes. Refuses to overwrite an existing file unless `overwrite`. */
  readonly toPath: string;
  readonly overwrite?: boolean;
  /**
   * Default true: block-aligned writes bypass the page cache (O_DIRECT) where the file system allows
   * it. False: every write goes through the page cache, as on a file system without direct writes.
   */
  readonly directWrites?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
}

export interface VerifyOptions {
  /** Only these backups (default: all). */
  readonly backupIds?: readonly string[];
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
}

export interface CopyOptions {
  /** Only these backups of the source (default: all). */
  readonly backupIds?: readonly string[];
  /** Only backups with every one of these tags (e.g. `{ policy_id: … }`). */
  readonly tags?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** Progress through the image of the backup being copied. */
  readonly onProgress?: (progress: Progress & { readonly backupId: string }) => void;
}

export interface CopiedBackup {
  readonly backupId: string;
  readonly diskSize: number;
  /** Chunks the target lacked, sealed under its keys and stored there, and their stored bytes. */
  readonly chunksSent: number;
  readonly bytesSent: number;
  /** Non-zero chunks (each occurrence) the target already held: named in the manifest only. Plain bytes. */
  readonly chunksSkipped: number;
  readonly bytesSkipped: number;
}

export interface CopyReport {
  /** Source backups the selection names. */
  readonly backupsSelected: number;
  /** Of those, the ones the target already holds (same backup id): not copied again. */
  readonly backupsAlreadyThere: number;
  readonly copied: readonly CopiedBackup[];
  /** Backups that could not be read whole from the source (damaged or missing chunks): no manifest written for them. */
  readonly failed: readonly { readonly backupId: string; readonly code: string; readonly message: string }[];
  readonly chunksSent: number;
  readonly bytesSent: number;
  readonly chunksSkipped: number;
  readonly bytesSkipped: number;
}

export interface Repository {
  /** The repository's identity: its config's random `id`, the same from every process and location. */
  readonly id: string;
  /** Where the repository's objects are (give it to openRepository to open it again). */
  readonly location: StoreLocation;
  /** The location as `--repository` takes it, for messages and logs. */
  readonly description: string;
  readonly encrypted: boolean;
  /** Days every object (but locks) is retained for once written; undefined: not an immutable repository. */
  readonly immutableDays: number | undefined;
  /** The bytes of a chunk: images are cut, read back and deduplicated in chunks of this size. */
  readonly chunkSize: number;
  backup(options: BackupOptions): Promise<BackupResult>;
  /** A backup that reads only the extents given (see ChangesBackupOptions); throws base_mismatch when the base's image is another size. */
  backupChanges(options: ChangesBackupOptions): Promise<ChangesBackupResult>;
  /**
   * Calls `write` with every run of non-zero chunks of the backup's image, in image order (the
   * all-zero chunks are skipped: a thin target needs nothing written there). Under a read lock.
   */
  readImage(backupId: string, write: (position: number, bytes: Uint8Array) => Promise<void>, options?: { signal?: AbortSignal; onProgress?: ProgressListener }): Promise<BackupSummary>;
  listBackups(): Promise<BackupSummary[]>;
  /** Throws BackupNotFound. */
  getBackup(backupId: string): Promise<BackupSummary>;
  restore(backupId: string, options: RestoreOptions): Promise<void>;
  verify(options?: VerifyOptions): Promise<VerifyReport>;
  /**
   * Deletes these backups' manifests (durably). Chunks stay until gc. Unknown ids are ignored. In an
   * immutable repository a manifest still retained is marked forgotten instead (no longer listed) and
   * deleted by a gc after its retention ends.
   */
  forget(backupIds: readonly string[]): Promise<void>;
  /** Removes chunks no manifest references, never one an in-flight backup (any process) may use. */
  gc(options?: { signal?: AbortSignal; onProgress?: ProgressListener }): Promise<GcReport>;
  /**
   * Rebuilds the whole index from the packs' own tables and replaces every index file (alone in the
   * repository, like gc: throws repository_locked while a backup, restore or verify runs).
   */
  repairIndex(): Promise<IndexRepairReport>;
  /**
   * Copies the backups (of `options`' selection) that `target` does not hold under the same id: each
   * chunk decrypted here, re-identified and sealed under the target's keys, and sent only when the
   * target lacks it. Holds a read lock here and a backup lock on the target. `target` must be a
   * repository opened by openRepository.
   */
  copyTo(target: Repository, options?: CopyOptions): Promise<CopyReport>;
  /**
   * Asks the store for the config object's size (one small request, nothing listed): throws when the
   * store cannot be reached or no longer holds the repository. For monitoring.
   */
  probe(): Promise<void>;
  /** Stored bytes of the distinct chunks these backups reference (each chunk counted once). */
  storedBytes(backupIds: readonly string[]): Promise<number>;
  /** Every pack and the chunks it holds, read from the packs themselves (inspection, tests). */
  packs(): Promise<PackContents[]>;
  /** Stops the worker threads and closes the store. */
  close(): Promise<void>;
}

export type OpenRepositoryOptions = RepositorySettings &
  (
    | { readonly location: StoreLocation }
    /** A store already open: the repository closes it when closed (not when opening fails). */
    | { readonly store: ObjectStore }
  );

export interface RepositorySettings {
  /** The passphrase; null opens or creates an unencrypted repository (only by explicit choice). */
  readonly password: string | null;
  /** Create the repository when the store holds none (a local directory: missing or empty). */
  readonly create?: boolean;
  /** Chunk size for a new repository (bytes, a power of two). */
  readonly chunkSize?: number;
  /** Worker threads for hashing, compression and encryption (default: the number of cores). */
  readonly workers?: number;
  /** Told of damage found and mended on the way (a damaged index file rebuilt); default: one line on stderr. */
  readonly onWarning?: (message: string) => void;
}

/** Errors a caller can tell apart (each a subclass of RepositoryError with a clear message). */
export type RepositoryErrorCode =
  | 'not_a_repository'
  /** `dbp repository init` found a repository there already. */
  | 'repository_exists'
  /** An immutability period asked of a store that cannot keep objects immutable. */
  | 'immutability_unsupported'
  | 'wrong_password'
  | 'password_required'
  | 'backup_not_found'
  | 'corrupt_manifest'
  | 'corrupt_index'
  | 'corrupt_pack'
  | 'corrupt_chunk'
  | 'missing_chunk'
  | 'target_exists'
  | 'source_unreadable'
  /** An incremental's base backup holds an image of another size or chunk size. */
  | 'base_mismatch'
  | 'repository_locked'
  | 'aborted';
