/**
 * A backup repository in a directory (format: docs/REPOSITORY.md). Backups read an image in
 * fixed-size chunks and hand each to the chunk pool, which stores the chunks not already there;
 * the backup exists once its manifest is durable. Forgetting a backup deletes its manifest only;
 * garbage collection, alone in the repository, deletes the chunks no manifest names.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ChunkPool, type ChunkReply } from './chunk-pool.js';
import type {
  BackupOptions,
  BackupResult,
  BackupSummary,
  BadChunk,
  GcReport,
  OpenRepositoryOptions,
  ProgressListener,
  Repository,
  RestoreOptions,
  VerifyOptions,
  VerifyReport,
} from './contract.js';
import { RepositoryError } from './errors.js';
import { ensureDirectory, syncDirectory, TEMPORARY_PREFIX, temporaryPathFor, writeFileAtomically } from './files.js';
import { FORMAT_VERSION, newConfig, unlock, type RepositoryConfig, type RepositoryKeys } from './keys.js';
import { BACKUP_ID, BACKUPS_DIRECTORY, CHUNK_ID, CHUNKS_DIRECTORY, CONFIG_FILE, LOCKS_DIRECTORY, manifestPath } from './layout.js';
import { acquireBackupLock, acquireGcLock, removeStaleLocks } from './locks.js';
import { readManifest, sealManifest, summaryOf, type Manifest } from './manifest.js';

export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** Chunks in flight per worker: enough to keep every worker busy while the main thread reads. */
const IN_FLIGHT_PER_WORKER = 4;

export async function openRepository(options: OpenRepositoryOptions): Promise<Repository> {
  const root = options.path;
  const configPath = join(root, CONFIG_FILE);
  let config: RepositoryConfig;
  if (existsSync(configPath)) {
    config = readConfig(configPath);
  } else {
    if (!options.create) throw new RepositoryError('not_a_repository', `${root} is not a backup repository (it has no config file)`);
    if (existsSync(root) && readdirSync(root).length > 0) {
      throw new RepositoryError('not_a_repository', `${root} is not empty and not a backup repository; choose an empty or new directory`);
    }
    config = initialize(root, options.password, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  }
  const keys = unlock(config, options.password);
  return new DirectoryRepository(root, config, keys, new ChunkPool(root, keys, options.workers));
}

function initialize(root: string, password: string | null, chunkSize: number): RepositoryConfig {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 4096 || (chunkSize & (chunkSize - 1)) !== 0) {
    throw new RangeError('The chunk size must be a power of two of at least 4096 bytes');
  }
  ensureDirectory(root);
  for (const directory of [CHUNKS_DIRECTORY, BACKUPS_DIRECTORY, LOCKS_DIRECTORY]) ensureDirectory(join(root, directory));
  syncDirectory(root);
  const { config } = newConfig(password, chunkSize, Math.floor(Date.now() / 1000));
  // Written last: a directory with a config is a whole repository.
  writeFileAtomically(join(root, CONFIG_FILE), Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
  return config;
}

function readConfig(path: string): RepositoryConfig {
  let config: RepositoryConfig;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as RepositoryConfig;
  } catch (error) {
    throw new RepositoryError('not_a_repository', `${path} is not a repository config: ${(error as Error).message}`);
  }
  if (config.format !== FORMAT_VERSION) throw new RepositoryError('not_a_repository', `Unknown repository format ${String(config.format)}`);
  return config;
}

class DirectoryRepository implements Repository {
  readonly encrypted: boolean;

  constructor(
    readonly path: string,
    private readonly config: RepositoryConfig,
    private readonly keys: RepositoryKeys,
    private readonly pool: ChunkPool,
  ) {
    this.encrypted = config.encryption !== null;
  }

  async backup(options: BackupOptions): Promise<BackupResult> {
    const startedAt = Math.floor(Date.now() / 1000);
    let source: FileHandle;
    try {
      source = await open(options.sourcePath, 'r');
    } catch (error) {
      throw new RepositoryError('source_unreadable', `Cannot read ${options.sourcePath}: ${(error as Error).message}`);
    }
    const lock = await acquireBackupLock(this.path, options.signal).catch(async (error) => {
      await source.close();
      throw error;
    });
    try {
      const stat = await source.stat();
      const chunks: (string | null)[] = [];
      const storedSizes: Record<string, number> = {};
      let newChunks = 0;
      let newStoredBytes = 0;
      let diskSize = 0;
      await this.readInChunks(source, stat.size, options, (index, reply) => {
        if (reply.kind !== 'stored') throw chunkFailure(reply);
        chunks[index] = reply.id;
        if (reply.id !== null) storedSizes[reply.id] = reply.storedSize;
        if (reply.isNew) {
          newChunks += 1;
          newStoredBytes += reply.storedSize;
        }
      }, (bytes) => {
        diskSize = bytes;
      });
      // Chunk renames are made durable here, once, rather than once per chunk: before any manifest names them.
      syncChunkDirectories(this.path);
      const manifest: Manifest = {
        format: 1,
        id: randomBytes(16).toString('hex'),
        startedAt,
        createdAt: Math.floor(Date.now() / 1000),
        diskSize,
        chunkSize: this.config.chunkSize,
        tags: { ...options.tags },
        chunks,
        storedSizes,
      };
      writeFileAtomically(manifestPath(this.path, manifest.id), sealManifest(manifest, this.keys));
      return { ...summaryOf(manifest), newChunks, newStoredBytes };
    } finally {
      lock.release();
      await source.close();
    }
  }

  /**
   * Reads the source to its end in chunks, through a fixed set of buffers (memory does not grow
   * with the image), handing each chunk to the pool; `onStored` hears of each in any order.
   */
  private async readInChunks(
    source: FileHandle,
    expectedSize: number,
    options: BackupOptions,
    onStored: (index: number, reply: ChunkReply) => void,
    onEnd: (totalBytes: number) => void,
  ): Promise<void> {
    const chunkSize = this.config.chunkSize;
    const free: ArrayBuffer[] = [];
    for (let i = 0; i < this.pool.size * IN_FLIGHT_PER_WORKER; i++) free.push(new ArrayBuffer(chunkSize));
    const inFlight = new Set<Promise<void>>();
    let firstError: unknown;
    let position = 0;
    let index = 0;
    for (;;) {
      if (options.signal?.aborted) throw new RepositoryError('aborted', 'The backup was stopped');
      while (free.length === 0) await Promise.race(inFlight);
      if (firstError !== undefined) break;
      const buffer = free.pop()!;
      const view = new Uint8Array(buffer);
      let length = 0;
      while (length < chunkSize) {
        const { bytesRead } = await source.read(view, length, chunkSize - length, position + length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length === 0) {
        free.push(buffer);
        break;
      }
      const chunkIndex = index;
      // A failed chunk (or a reply onStored refuses) stops the reading; the first error is thrown at the end.
      const task = this.pool
        .run({ kind: 'store', buffer, length })
        .then((reply) => {
          if (reply.kind === 'stored') free.push(reply.buffer);
          onStored(chunkIndex, reply);
        })
        .catch((error: unknown) => {
          firstError ??= error;
        });
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      position += length;
      index += 1;
      options.onProgress?.({ bytesDone: position, bytesTotal: Math.max(expectedSize, position) });
      if (length < chunkSize) break;
    }
    await Promise.all(inFlight);
    if (firstError !== undefined) throw firstError;
    onEnd(position);
  }

  async listBackups(): Promise<BackupSummary[]> {
    return this.backupIds()
      .map((id) => summaryOf(readManifest(this.path, id, this.keys)))
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async getBackup(backupId: string): Promise<BackupSummary> {
    return summaryOf(readManifest(this.path, backupId, this.keys));
  }

  async restore(backupId: string, options: RestoreOptions): Promise<void> {
    const manifest = readManifest(this.path, backupId, this.keys);
    if (!options.overwrite && existsSync(options.toPath)) {
      throw new RepositoryError('target_exists', `${options.toPath} exists; restore to a new path (or allow overwriting)`);
    }
    const temporary = temporaryPathFor(options.toPath);
    const target = await open(temporary, 'wx', 0o600);
    try {
      // The disk writes the image back while later chunks are decrypted, rather than all at the end.
      const flusher = new BackgroundFlusher(target);
      await this.forEachChunk(manifest, options.onProgress, async (id, index, length) => {
        const reply = await this.pool.run({ kind: 'load', id, expectedLength: length });
        if (reply.kind !== 'loaded') throw chunkFailure(reply, id);
        await target.write(new Uint8Array(reply.buffer, 0, reply.length), 0, reply.length, index * manifest.chunkSize);
        flusher.wrote(reply.length);
      }, options.signal);
      await flusher.idle();
      // Zero chunks were skipped: they are holes, and the length makes the last of them.
      await target.truncate(manifest.diskSize);
      await target.sync();
    } catch (error) {
      await target.close();
      rmSync(temporary, { force: true });
      throw error;
    }
    await target.close();
    renameSync(temporary, options.toPath);
    syncDirectory(dirname(options.toPath));
  }

  /** Runs `work` for each stored chunk of the manifest, a pool's worth at a time. */
  private async forEachChunk(
    manifest: Manifest,
    onProgress: ProgressListener | undefined,
    work: (id: string, index: number, length: number) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<void> {
    const limit = this.pool.size * IN_FLIGHT_PER_WORKER;
    let next = 0;
    let done = 0;
    const lane = async () => {
      while (next < manifest.chunks.length) {
        if (signal?.aborted) throw new RepositoryError('aborted', 'Stopped');
        const index = next++;
        const id = manifest.chunks[index];
        const length = Math.min(manifest.chunkSize, manifest.diskSize - index * manifest.chunkSize);
        if (id !== null && id !== undefined) await work(id, index, length);
        done += length;
        onProgress?.({ bytesDone: done, bytesTotal: manifest.diskSize });
      }
    };
    await Promise.all(Array.from({ length: limit }, lane));
  }

  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    const ids = options.backupIds ?? this.backupIds();
    const backupsOfChunk = new Map<string, string[]>();
    const lengthOfChunk = new Map<string, number>();
    const badManifests: { backupId: string; detail: string }[] = [];
    for (const backupId of ids) {
      let manifest: Manifest;
      try {
        manifest = readManifest(this.path, backupId, this.keys);
      } catch (error) {
        if (!(error instanceof RepositoryError)) throw error;
        badManifests.push({ backupId, detail: error.message });
        continue;
      }
      manifest.chunks.forEach((id, index) => {
        if (id === null) return;
        const owners = backupsOfChunk.get(id) ?? [];
        if (!owners.includes(backupId)) owners.push(backupId);
        backupsOfChunk.set(id, owners);
        lengthOfChunk.set(id, Math.min(manifest.chunkSize, manifest.diskSize - index * manifest.chunkSize));
      });
    }
    const chunkIds = [...backupsOfChunk.keys()];
    const badChunks: BadChunk[] = [];
    let next = 0;
    let checkedBytes = 0;
    const totalBytes = chunkIds.reduce((sum, id) => sum + lengthOfChunk.get(id)!, 0);
    const lane = async () => {
      while (next < chunkIds.length) {
        if (options.signal?.aborted) throw new RepositoryError('aborted', 'The verification was stopped');
        const id = chunkIds[next++]!;
        const reply = await this.pool.run({ kind: 'load', id, expectedLength: lengthOfChunk.get(id) });
        if (reply.kind === 'bad') badChunks.push({ chunkId: id, problem: reply.problem, detail: reply.detail, backupIds: backupsOfChunk.get(id)! });
        else if (reply.kind === 'failed') badChunks.push({ chunkId: id, problem: 'unreadable', detail: reply.message, backupIds: backupsOfChunk.get(id)! });
        checkedBytes += lengthOfChunk.get(id)!;
        options.onProgress?.({ bytesDone: checkedBytes, bytesTotal: totalBytes });
      }
    };
    await Promise.all(Array.from({ length: this.pool.size * IN_FLIGHT_PER_WORKER }, lane));
    badChunks.sort((a, b) => a.chunkId.localeCompare(b.chunkId));
    return {
      backupsChecked: ids.length,
      chunksChecked: chunkIds.length,
      badChunks,
      badManifests,
      ok: badChunks.length === 0 && badManifests.length === 0,
    };
  }

  async forget(backupIds: readonly string[]): Promise<void> {
    let removed = false;
    for (const id of backupIds) {
      if (!BACKUP_ID.test(id)) continue;
      const path = manifestPath(this.path, id);
      if (existsSync(path)) {
        rmSync(path, { force: true });
        removed = true;
      }
    }
    if (removed) syncDirectory(join(this.path, BACKUPS_DIRECTORY));
  }

  async gc(options: { signal?: AbortSignal; onProgress?: ProgressListener } = {}): Promise<GcReport> {
    const lock = acquireGcLock(this.path);
    try {
      removeStaleLocks(this.path);
      removeTemporaryFiles(join(this.path, BACKUPS_DIRECTORY));
      // Every manifest must be read: a chunk named by one that cannot be read might still be needed.
      const referenced = new Set<string>();
      for (const id of this.backupIds()) {
        for (const chunkId of readManifest(this.path, id, this.keys).chunks) if (chunkId !== null) referenced.add(chunkId);
      }
      let chunksRemoved = 0;
      let bytesRemoved = 0;
      let chunksKept = 0;
      const chunksRoot = join(this.path, CHUNKS_DIRECTORY);
      const directories = readdirSync(chunksRoot);
      directories.forEach((directory, position) => {
        if (options.signal?.aborted) throw new RepositoryError('aborted', 'The garbage collection was stopped');
        const path = join(chunksRoot, directory);
        let removedHere = false;
        for (const name of readdirSync(path)) {
          if (referenced.has(name)) {
            chunksKept += 1;
            continue;
          }
          // Neither a referenced chunk nor a chunk being written (no backup runs beside a collection).
          if (!CHUNK_ID.test(name) && !name.startsWith(TEMPORARY_PREFIX)) continue;
          const file = join(path, name);
          bytesRemoved += statSync(file).size;
          rmSync(file, { force: true });
          if (CHUNK_ID.test(name)) chunksRemoved += 1;
          removedHere = true;
        }
        if (removedHere) syncDirectory(path);
        options.onProgress?.({ bytesDone: position + 1, bytesTotal: directories.length });
      });
      return { chunksRemoved, bytesRemoved, chunksKept };
    } finally {
      lock.release();
    }
  }

  async storedBytes(backupIds: readonly string[]): Promise<number> {
    const sizes = new Map<string, number>();
    for (const id of backupIds) {
      const manifest = readManifest(this.path, id, this.keys);
      for (const [chunkId, size] of Object.entries(manifest.storedSizes)) sizes.set(chunkId, size);
    }
    let total = 0;
    for (const size of sizes.values()) total += size;
    return total;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private backupIds(): string[] {
    return readdirSync(join(this.path, BACKUPS_DIRECTORY)).filter((name) => BACKUP_ID.test(name));
  }
}

/** Starts a `fdatasync` of the file every FLUSH_EVERY_BYTES written (one at a time), so that the final sync has little left. */
class BackgroundFlusher {
  private unflushed = 0;
  private flushing: Promise<void> | undefined;

  constructor(private readonly file: FileHandle) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_EVERY_BYTES || this.flushing) return;
    this.unflushed = 0;
    this.flushing = this.file.datasync().finally(() => {
      this.flushing = undefined;
    });
  }

  async idle(): Promise<void> {
    await this.flushing;
  }
}

const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;

function syncChunkDirectories(root: string): void {
  const chunks = join(root, CHUNKS_DIRECTORY);
  for (const directory of readdirSync(chunks)) syncDirectory(join(chunks, directory));
  syncDirectory(chunks);
}

function removeTemporaryFiles(directory: string): void {
  for (const name of readdirSync(directory)) if (name.startsWith(TEMPORARY_PREFIX)) rmSync(join(directory, name), { force: true });
}

/** A chunk worker's answer that is not what was asked for, as an error. */
function chunkFailure(reply: ChunkReply, id?: string): Error {
  if (reply.kind === 'bad') {
    return new RepositoryError(reply.problem === 'missing' ? 'missing_chunk' : 'corrupt_chunk', `Chunk ${id ?? ''}: ${reply.detail}`);
  }
  if (reply.kind === 'failed') return Object.assign(new Error(reply.message), { code: reply.code });
  return new Error(`Unexpected answer "${reply.kind}" from a chunk worker`);
}
