/**
 * A backup repository in an object store (format: docs/REPOSITORY.md; stores: ../storage). Backups read an image in units of
 * several fixed-size chunks; worker threads hash them, and seal the ones the index does not know yet,
 * which are gathered into pack files. The backup exists once its packs, then an index naming them,
 * then its manifest are durable. Forgetting a backup deletes its manifest only; garbage collection,
 * alone in the repository, keeps exactly the chunks the manifests name.
 */
import { closeSync, constants as fsConstants, existsSync, openSync, renameSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatRepositoryLocation } from '../storage/location.js';
import type { ObjectStore, StoreLocation } from '../storage/object-store.js';
import { openStore } from '../storage/open-store.js';
import { ChunkIndex, writeIndexFile, type IndexWarning } from './chunk-index.js';
import { rebuildIndex } from './index-repair.js';
import { ChunkPool, type ChunkReply, type LoadPiece, type PieceProblem, type SealPiece } from './chunk-pool.js';
import type {
  BackupOptions,
  BackupResult,
  BackupSummary,
  BadChunk,
  GcReport,
  IndexRepairReport,
  OpenRepositoryOptions,
  PackContents,
  ProgressListener,
  Repository,
  RestoreOptions,
  VerifyOptions,
  VerifyReport,
} from './contract.js';
import { RepositoryError } from './errors.js';
import { syncDirectory, temporaryPathFor } from './files.js';
import { unlock, type RepositoryConfig, type RepositoryKeys } from './keys.js';
import { openOrCreateConfig } from './open.js';
import { BACKUP_ID } from './layout.js';
import { acquireGcLock, acquireSharedLock, removeStaleLocks } from './locks.js';
import { ManifestReader, ManifestWriter, readManifestHeader, SEGMENT_CHUNKS, summaryOf, type ManifestHeader } from './manifest.js';
import { SEAL_OVERHEAD } from './sealing.js';
import { collectGarbage } from './gc.js';
import { newObjectId, packSizes, PackWriter, readPackTable } from './packs.js';

/** Chosen by `npm run bench:backup -- --chunk-sizes …` (BENCHMARKS.md). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** A backup reads, and a restore writes, this much at a time per worker task (several chunks). */
const UNIT_BYTES = 1024 * 1024;
/** Units in flight per worker: enough to keep every worker busy while the main thread reads or writes. */
const UNITS_IN_FLIGHT_PER_WORKER = 4;

export async function openRepository(options: OpenRepositoryOptions): Promise<Repository> {
  const store = 'store' in options ? options.store : await openStore(options.location);
  try {
    const config = await openOrCreateConfig(store, options.password, options.create === true, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    const keys = unlock(config, options.password);
    const warn = options.onWarning ?? ((message: string) => void process.stderr.write(`warning: repository ${store.description}: ${message}\n`));
    return new StoreRepository(store, config, keys, new ChunkPool(store.location, keys, options.workers), warn);
  } catch (error) {
    // The caller's own store stays open; one opened here is closed.
    if (!('store' in options)) await store.close();
    throw error;
  }
}

class StoreRepository implements Repository {
  readonly location: StoreLocation;
  readonly description: string;
  readonly encrypted: boolean;
  private readonly chunkSize: number;
  /** Numbers the restores (see RestoreTarget.restore). */
  private restoresStarted = 0;
  /** Bytes read and handed to a worker at once: whole chunks, at least UNIT_BYTES. */
  private readonly unitBytes: number;

  constructor(
    private readonly store: ObjectStore,
    config: RepositoryConfig,
    private readonly keys: RepositoryKeys,
    private readonly pool: ChunkPool,
    private readonly warn: IndexWarning,
  ) {
    this.location = store.location;
    this.description = formatRepositoryLocation(store.location);
    this.encrypted = config.encryption !== null;
    this.chunkSize = config.chunkSize;
    this.unitBytes = Math.max(config.chunkSize, UNIT_BYTES);
  }

  /** The index; a damaged index file is reported and rebuilt from the packs (chunk-index.ts). */
  private loadIndex(): Promise<ChunkIndex> {
    return ChunkIndex.load(this.store, this.keys, this.warn);
  }

  private get chunksPerUnit(): number {
    return this.unitBytes / this.chunkSize;
  }

  async backup(options: BackupOptions): Promise<BackupResult> {
    const startedAt = Math.floor(Date.now() / 1000);
    let source: FileHandle;
    try {
      source = await open(options.sourcePath, 'r');
    } catch (error) {
      throw new RepositoryError('source_unreadable', `Cannot read ${options.sourcePath}: ${(error as Error).message}`);
    }
    const lock = await acquireSharedLock(this.store, 'backup', options.signal).catch(async (error) => {
      await source.close();
      throw error;
    });
    const packs = new PackWriter(this.store, this.keys, this.chunkSize + SEAL_OVERHEAD);
    const outputs: ArrayBuffer[] = [];
    let manifest: ManifestWriter | undefined;
    // Until an index names its packs no one else can use them: a failure before that deletes them.
    let indexed = false;
    try {
      const index = await this.loadIndex();
      const { size: expectedSize } = await source.stat();
      manifest = await ManifestWriter.create(this.store, this.keys, newObjectId());
      const chunkList = manifest;
      // Chunks this backup is storing: a later unit with the same chunk only names it.
      const storing = new Set<string>();
      let newChunks = 0;
      let newStoredBytes = 0;
      const diskSize = await this.readInUnits(source, expectedSize, options, async (unitIndex, buffer, length) => {
        const hashed = expectReply(await this.pool.run({ kind: 'hash', buffer, length, chunkSize: this.chunkSize }), 'hashed');
        chunkList.addUnit(unitIndex, hashed.ids);
        const pieces: SealPiece[] = [];
        hashed.ids.forEach((id, slot) => {
          if (id === null || index.stored(id) || storing.has(id)) return;
          storing.add(id);
          pieces.push({ slot, id });
        });
        if (pieces.length === 0) return hashed.buffer;
        const output = outputs.pop() ?? new ArrayBuffer(this.unitBytes + this.chunksPerUnit * SEAL_OVERHEAD);
        const sealed = expectReply(await this.pool.run({ kind: 'seal', buffer: hashed.buffer, length, chunkSize: this.chunkSize, pieces, output }), 'sealed');
        let offset = 0;
        for (const [k, piece] of pieces.entries()) {
          const blobLength = sealed.lengths[k]!;
          await packs.add(piece.id, new Uint8Array(sealed.output, offset, blobLength));
          offset += blobLength;
          newChunks += 1;
          newStoredBytes += blobLength;
        }
        outputs.push(sealed.output);
        return sealed.buffer;
      });
      // Packs, then the index naming them, then the manifest naming their chunks: each durable before the next.
      const written = await packs.finish();
      if (written.length > 0) {
        await writeIndexFile(this.store, this.keys, written);
        indexed = true;
      }
      const header = await manifest.finish({ startedAt, createdAt: Math.floor(Date.now() / 1000), diskSize, chunkSize: this.chunkSize, tags: { ...options.tags } });
      return { ...summaryOf(header), newChunks, newStoredBytes };
    } catch (error) {
      await manifest?.abandon().catch(() => {});
      // Once indexed, another backup may already name its chunks: then they stay, for gc to judge.
      if (indexed) await packs.settle();
      else await packs.discard();
      throw error;
    } finally {
      await lock.release();
      await source.close();
    }
  }

  /**
   * Reads the source to its end in units, through a fixed set of buffers (memory does not grow with
   * the image), several units in flight; `handle` gives each unit's buffer back when done with it.
   * Answers the number of bytes read.
   */
  private async readInUnits(
    source: FileHandle,
    expectedSize: number,
    options: BackupOptions,
    handle: (unitIndex: number, buffer: ArrayBuffer, length: number) => Promise<ArrayBuffer>,
  ): Promise<number> {
    const free = Array.from({ length: this.pool.size * UNITS_IN_FLIGHT_PER_WORKER }, () => new ArrayBuffer(this.unitBytes));
    const inFlight = new Set<Promise<void>>();
    let firstError: unknown;
    let position = 0;
    for (let unitIndex = 0; ; unitIndex++) {
      if (options.signal?.aborted) firstError ??= new RepositoryError('aborted', 'The backup was stopped');
      while (free.length === 0 && firstError === undefined) await Promise.race(inFlight);
      if (firstError !== undefined) break;
      const buffer = free.pop()!;
      const view = new Uint8Array(buffer);
      let length = 0;
      while (length < this.unitBytes) {
        const { bytesRead } = await source.read(view, length, this.unitBytes - length, position + length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length === 0) break;
      // A failed unit stops the reading; the first error is thrown once every unit in flight is done.
      const task = handle(unitIndex, buffer, length).then(
        (returned) => void free.push(returned),
        (error: unknown) => void (firstError ??= error),
      );
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      position += length;
      options.onProgress?.({ bytesDone: position, bytesTotal: Math.max(expectedSize, position) });
      if (length < this.unitBytes) break;
    }
    await Promise.all(inFlight);
    if (firstError !== undefined) throw firstError;
    return position;
  }

  async listBackups(): Promise<BackupSummary[]> {
    const summaries: BackupSummary[] = [];
    for (const id of await this.backupIds()) summaries.push(summaryOf(await readManifestHeader(this.store, id, this.keys)));
    return summaries.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async getBackup(backupId: string): Promise<BackupSummary> {
    return summaryOf(await readManifestHeader(this.store, backupId, this.keys));
  }

  async restore(backupId: string, options: RestoreOptions): Promise<void> {
    const lock = await acquireSharedLock(this.store, 'read', options.signal);
    try {
      const manifest = await ManifestReader.open(this.store, backupId, this.keys);
      if (!options.overwrite && existsSync(options.toPath)) {
        throw new RepositoryError('target_exists', `${options.toPath} exists; restore to a new path (or allow overwriting)`);
      }
      await this.restoreInto(manifest, await this.loadIndex(), options);
    } finally {
      await lock.release();
    }
  }

  private async restoreInto(manifest: ManifestReader, index: ChunkIndex, options: RestoreOptions): Promise<void> {
    const { header } = manifest;
    if (options.toPath.trim() === '') throw new RangeError('The restore target path is empty');
    const temporary = temporaryPathFor(options.toPath);
    const restore = this.restoresStarted++;
    const target = await open(temporary, 'wx', 0o600);
    let directFd: number | null = null;
    const closeTarget = async () => {
      if (directFd !== null) closeSync(directFd);
      await target.close();
    };
    // The disk writes back what went through the page cache while later chunks are decrypted, rather than all at the end.
    const flusher = new BackgroundFlusher(target);
    try {
      // The whole length at once (zero chunks stay holes), so no write extends the file.
      await target.truncate(header.diskSize);
      directFd = options.directWrites === false ? null : openForDirectWrites(temporary);
      let done = 0;
      // A segment of the chunk list at a time: memory does not grow with the image.
      for (let segment = 0; segment < header.segments.length; segment++) {
        const ids = await manifest.segmentIds(segment);
        const recurring = recurringIds(ids);
        const firstUnit = (segment * SEGMENT_CHUNKS) / this.chunksPerUnit;
        await this.inLanes(Math.ceil(ids.length / this.chunksPerUnit), options.signal, async (unitOfSegment) => {
          const unitIndex = firstUnit + unitOfSegment;
          const unitLength = Math.min(this.unitBytes, header.diskSize - unitIndex * this.unitBytes);
          const firstId = unitOfSegment * this.chunksPerUnit;
          const pieces = await this.piecesOfUnit(header, index, ids.slice(firstId, firstId + this.chunksPerUnit), unitIndex * this.chunksPerUnit, recurring);
          if (pieces.length > 0) {
            const writeTo = { restore, fd: target.fd, directFd, unitStart: unitIndex * this.unitBytes };
            const reply = expectReply(await this.pool.run({ kind: 'load', pieces, chunkSize: header.chunkSize, writeTo }), 'loaded');
            if (reply.problems.length > 0) throw problemError(reply.problems[0]!);
            flusher.wrote(reply.buffered);
          }
          done += unitLength;
          options.onProgress?.({ bytesDone: done, bytesTotal: header.diskSize });
        });
      }
      await flusher.idle();
      await target.sync();
    } catch (error) {
      // Every write has finished (inLanes waits for them), and so has the background flush.
      await flusher.idle().catch(() => {});
      await closeTarget();
      rmSync(temporary, { force: true });
      throw error;
    }
    await closeTarget();
    renameSync(temporary, options.toPath);
    syncDirectory(dirname(options.toPath));
  }

  /**
   * Runs `work(0 … count − 1)`, a pool's worth at a time. After a failure no new item starts, and
   * the first error is thrown only once every item under way has finished: a restore's writes into
   * its target are then all done before the target is closed (a write after the close could land in
   * whatever file is opened next under the same descriptor number).
   */
  private async inLanes(count: number, signal: AbortSignal | undefined, work: (item: number) => Promise<void>): Promise<void> {
    let next = 0;
    let failed = false;
    const lane = async () => {
      while (next < count && !failed) {
        if (signal?.aborted) throw new RepositoryError('aborted', 'Stopped before the end (interrupted)');
        try {
          await work(next++);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    const lanes = await Promise.allSettled(Array.from({ length: this.pool.size * UNITS_IN_FLIGHT_PER_WORKER }, lane));
    const failure = lanes.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /**
   * The stored chunks among `ids` (a unit's, the first at image position `firstPosition`), with their
   * places in packs; those in `recurring` are marked so that the worker keeps their plain bytes.
   */
  private async piecesOfUnit(
    header: ManifestHeader,
    index: ChunkIndex,
    ids: readonly (string | null)[],
    firstPosition: number,
    recurring: ReadonlySet<string>,
  ): Promise<LoadPiece[]> {
    const pieces: LoadPiece[] = [];
    for (const [slot, id] of ids.entries()) {
      if (id === null) continue;
      const location = await index.locateNeeded(id);
      if (!location) throw new RepositoryError('missing_chunk', `Chunk ${id}: no pack holds it (it is in no index)`);
      pieces.push({ slot, id, ...location, plainLength: plainLengthOf(header, firstPosition + slot), recurs: recurring.has(id) });
    }
    return pieces;
  }

  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    const lock = await acquireSharedLock(this.store, 'read', options.signal);
    try {
      const ids = options.backupIds ?? (await this.backupIds());
      const backupsOfChunk = new Map<string, string[]>();
      const lengthOfChunk = new Map<string, number>();
      const badManifests: { backupId: string; detail: string }[] = [];
      for (const backupId of ids) {
        try {
          const manifest = await ManifestReader.open(this.store, backupId, this.keys);
          await manifest.forEachChunk((id, position) => {
            if (id === null) return;
            const owners = backupsOfChunk.get(id) ?? [];
            if (!owners.includes(backupId)) owners.push(backupId);
            backupsOfChunk.set(id, owners);
            lengthOfChunk.set(id, plainLengthOf(manifest.header, position));
          });
        } catch (error) {
          if (!(error instanceof RepositoryError)) throw error;
          badManifests.push({ backupId, detail: error.message });
        }
      }
      const index = await this.loadIndex();
      const badChunks: BadChunk[] = [];
      const pieces: LoadPiece[] = [];
      for (const [id, backupIds] of backupsOfChunk) {
        const location = await index.locateNeeded(id);
        if (location) pieces.push({ slot: 0, id, ...location, plainLength: lengthOfChunk.get(id)! });
        else badChunks.push({ chunkId: id, problem: 'missing', detail: 'no pack holds it (it is in no index)', backupIds });
      }
      // In pack order, so that each pack is read from start to end.
      pieces.sort((a, b) => a.pack.localeCompare(b.pack) || a.offset - b.offset);
      const totalBytes = pieces.reduce((sum, piece) => sum + piece.plainLength, 0);
      let checkedBytes = 0;
      await this.inLanes(Math.ceil(pieces.length / this.chunksPerUnit), options.signal, async (batchIndex) => {
        const batch = pieces.slice(batchIndex * this.chunksPerUnit, (batchIndex + 1) * this.chunksPerUnit);
        const reply = expectReply(await this.pool.run({ kind: 'load', pieces: batch, chunkSize: this.chunkSize, writeTo: null }), 'loaded');
        for (const problem of reply.problems) {
          badChunks.push({ chunkId: problem.id, problem: problem.problem, detail: problem.detail, backupIds: backupsOfChunk.get(problem.id)! });
        }
        checkedBytes += batch.reduce((sum, piece) => sum + piece.plainLength, 0);
        options.onProgress?.({ bytesDone: checkedBytes, bytesTotal: totalBytes });
      });
      badChunks.sort((a, b) => a.chunkId.localeCompare(b.chunkId));
      return {
        backupsChecked: ids.length,
        chunksChecked: backupsOfChunk.size,
        badChunks,
        badManifests,
        indexProblems: index.problems,
        ok: badChunks.length === 0 && badManifests.length === 0 && index.problems.length === 0,
      };
    } finally {
      await lock.release();
    }
  }

  async forget(backupIds: readonly string[]): Promise<void> {
    const names = backupIds.filter((id) => BACKUP_ID.test(id));
    if (names.length === 0) return;
    await this.store.remove('manifest', names);
    await this.store.barrier('manifest');
  }

  /** Keeps exactly the chunks some manifest names, one copy each (gc.ts: the order, crash and full-disk guarantees). */
  async gc(options: { signal?: AbortSignal; onProgress?: ProgressListener } = {}): Promise<GcReport> {
    const lock = await acquireGcLock(this.store);
    try {
      await removeStaleLocks(this.store);
      return await collectGarbage({
        store: this.store,
        keys: this.keys,
        chunkSize: this.chunkSize,
        // Every manifest must be read: a chunk named by one that cannot be read might still be needed.
        referenced: async () => this.chunksNamedBy(await this.backupIds()),
        loadIndex: () => this.loadIndex(),
        ...options,
      });
    } finally {
      await lock.release();
    }
  }

  async repairIndex(): Promise<IndexRepairReport> {
    const lock = await acquireGcLock(this.store);
    try {
      const report = await rebuildIndex(this.store, this.keys);
      for (const file of report.damagedIndexFiles) this.warn(`index file ${file} was damaged; replaced`);
      return report;
    } finally {
      await lock.release();
    }
  }

  async storedBytes(backupIds: readonly string[]): Promise<number> {
    const index = await this.loadIndex();
    let total = 0;
    for (const chunkId of await this.chunksNamedBy(backupIds)) total += index.locate(chunkId)?.length ?? 0;
    return total;
  }

  async packs(): Promise<PackContents[]> {
    const packs: PackContents[] = [];
    for (const [id, fileBytes] of await packSizes(this.store)) {
      const table = await readPackTable(this.store, id, this.keys);
      packs.push({ id, fileBytes, blobs: table.map(([chunkId, offset, length]) => ({ chunkId, offset, length })) });
    }
    return packs;
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.store.close();
  }

  /** The distinct stored chunks these backups' manifests name (read a segment at a time). */
  private async chunksNamedBy(backupIds: readonly string[]): Promise<Set<string>> {
    const chunkIds = new Set<string>();
    for (const id of backupIds) {
      const manifest = await ManifestReader.open(this.store, id, this.keys);
      await manifest.forEachChunk((chunkId) => chunkId !== null && chunkIds.add(chunkId));
    }
    return chunkIds;
  }

  private async backupIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const { name } of this.store.list('manifest')) if (BACKUP_ID.test(name)) ids.push(name);
    return ids;
  }
}

/** Bytes of the chunk at `position` of the manifest's image (the last one may be short). */
function plainLengthOf(header: ManifestHeader, position: number): number {
  return Math.min(header.chunkSize, header.diskSize - position * header.chunkSize);
}

/** The chunk ids that occur more than once among `ids`. */
function recurringIds(ids: readonly (string | null)[]): Set<string> {
  const seen = new Set<string>();
  const recurring = new Set<string>();
  for (const id of ids) {
    if (id === null) continue;
    if (seen.has(id)) recurring.add(id);
    else seen.add(id);
  }
  return recurring;
}

/**
 * The restore target opened a second time for direct I/O (O_DIRECT), or null where the platform or
 * file system has none (tmpfs, macOS): then every write goes through the page cache. A restored image
 * is written once and not read back soon; written directly it neither fills the page cache with
 * gigabytes to flush at the end nor pushes out what the machine's other work has cached there.
 */
function openForDirectWrites(path: string): number | null {
  const { O_DIRECT, O_WRONLY } = fsConstants;
  if (O_DIRECT === undefined) return null;
  try {
    return openSync(path, O_WRONLY | O_DIRECT);
  } catch {
    return null;
  }
}

/** Starts a `fdatasync` of the file every FLUSH_EVERY_BYTES written (one at a time), so that the final sync has little left. */
class BackgroundFlusher {
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly file: FileHandle) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_EVERY_BYTES || this.flushing) return;
    this.unflushed = 0;
    this.flushing = this.file.datasync().then(
      () => {
        this.flushing = undefined;
      },
      (error: unknown) => {
        this.failure ??= error;
        this.flushing = undefined;
      },
    );
  }

  /** Waits for the flush under way; throws the first flush's failure. */
  async idle(): Promise<void> {
    await this.flushing;
    if (this.failure !== undefined) throw this.failure;
  }
}

const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;

/** The reply of the kind asked for, or the worker's failure as an error. */
function expectReply<K extends ChunkReply['kind']>(reply: ChunkReply, kind: K): Extract<ChunkReply, { kind: K }> {
  if (reply.kind === kind) return reply as Extract<ChunkReply, { kind: K }>;
  if (reply.kind === 'failed') throw Object.assign(new Error(reply.message), { code: reply.code });
  throw new Error(`Unexpected answer "${reply.kind}" from a chunk worker`);
}

function problemError(problem: PieceProblem): RepositoryError {
  return new RepositoryError(problem.problem === 'missing' ? 'missing_chunk' : 'corrupt_chunk', `Chunk ${problem.id}: ${problem.detail}`);
}
