/**
 * Taking a backup: the image is read in units of several chunks; worker threads hash them, and seal
 * the ones the index does not know yet, which are gathered into packs. The backup exists once its
 * packs, then an index naming them, then its manifest are durable.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { writeIndexFile, type ChunkIndex } from './chunk-index.js';
import type { SealPiece } from './chunk-pool.js';
import type { BackupOptions, BackupResult } from './contract.js';
import { RepositoryError } from './errors.js';
import { acquireSharedLock } from './locks.js';
import { ManifestWriter, summaryOf } from './manifest.js';
import { newObjectId, PackWriter } from './packs.js';
import { SEAL_OVERHEAD } from './sealing.js';
import { expectReply, UNITS_IN_FLIGHT_PER_WORKER, type RepositoryContext } from './unit-work.js';

/** Where the bytes of an image to store come from: a file (a backup) or another repository's backup (a copy). */
export interface ImageSource {
  /** The image's size as known beforehand (progress; with `exactSize`, where reading stops). */
  readonly expectedSize: number;
  /** True when `expectedSize` is exact: units are then read in parallel, not one after the other. */
  readonly exactSize: boolean;
  /**
   * Fills `buffer` from image byte `position` with up to `length` bytes; answers the buffer (it may
   * come back as another ArrayBuffer after a trip to a worker thread) and how many bytes (fewer only at the end).
   */
  read(buffer: ArrayBuffer, position: number, length: number): Promise<{ buffer: ArrayBuffer; length: number }>;
}

/** What the manifest of a stored image says beyond its chunks. */
export interface StoreImageOptions {
  /** The backup's id (default: a new one). A copy keeps the source backup's. */
  readonly backupId?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Unix seconds; default now (a copy keeps the source backup's times). */
  readonly startedAt?: number;
  readonly createdAt?: number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: BackupOptions['onProgress'];
}

/** A stored image, and what of it the repository already held. */
export interface StoredImage extends BackupResult {
  /** Non-zero chunks of the image (each occurrence) that were already stored: only named, not sent. */
  readonly knownChunks: number;
  /** Their plain bytes. */
  readonly knownBytes: number;
}

/** Backs up the image at `options.sourcePath` under a `backup` lock (see Repository.backup). */
export async function backUp(context: RepositoryContext, options: BackupOptions): Promise<BackupResult> {
  let source: FileHandle;
  try {
    source = await open(options.sourcePath, 'r');
  } catch (error) {
    throw new RepositoryError('source_unreadable', `Cannot read ${options.sourcePath}: ${(error as Error).message}`);
  }
  try {
    const { size } = await source.stat();
    const file: ImageSource = {
      expectedSize: size,
      exactSize: false, // a device or a growing file: read to its end
      read: async (buffer, position, length) => {
        const view = new Uint8Array(buffer);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await source.read(view, done, length - done, position + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return { buffer, length: done };
      },
    };
    return await storeImage(context, file, { startedAt: Math.floor(Date.now() / 1000), ...options });
  } finally {
    await source.close();
  }
}

/**
 * Stores an image under a `backup` lock: units hashed by the workers, new chunks sealed into packs;
 * packs, then an index naming them, then the manifest, each durable before the next.
 */
export async function storeImage(context: RepositoryContext, source: ImageSource, options: StoreImageOptions): Promise<StoredImage> {
  return storeBackup(context, options, (units, manifest) =>
    readInUnits(context, source, options, async (unitIndex, buffer, length) => {
      const stored = await units.store(buffer, length);
      manifest.addUnit(unitIndex, stored.ids);
      return stored.buffer;
    }),
  );
}

/**
 * A backup's frame: under a `backup` lock, `fill` hands units to `units` and their chunk ids to the
 * manifest, and answers the image's size; then packs, the index naming them and the manifest are made
 * durable, each before the next. A failure leaves no manifest, and no pack an index does not name.
 */
export async function storeBackup(
  context: RepositoryContext,
  options: StoreImageOptions,
  fill: (units: UnitStorer, manifest: ManifestWriter) => Promise<number>,
): Promise<StoredImage> {
  const startedAt = options.startedAt ?? Math.floor(Date.now() / 1000);
  const lock = await acquireSharedLock(context.store, 'backup', options.signal);
  const packs = new PackWriter(context.store, context.keys, context.chunkSize + SEAL_OVERHEAD);
  let manifest: ManifestWriter | undefined;
  // Until an index names its packs no one else can use them: a failure before that deletes them.
  let indexed = false;
  try {
    const units = new UnitStorer(context, await context.loadIndex(), packs);
    manifest = await ManifestWriter.create(context.store, context.keys, options.backupId ?? newObjectId());
    const diskSize = await fill(units, manifest);
    // Packs, then the index naming them, then the manifest naming their chunks: each durable before the next.
    const written = await packs.finish();
    if (written.length > 0) {
      await writeIndexFile(context.store, context.keys, written);
      indexed = true;
    }
    const createdAt = options.createdAt ?? Math.floor(Date.now() / 1000);
    const header = await manifest.finish({ startedAt, createdAt, diskSize, chunkSize: context.chunkSize, tags: { ...options.tags } });
    const { newChunks, newStoredBytes, knownChunks, knownBytes } = units;
    return { ...summaryOf(header), newChunks, newStoredBytes, knownChunks, knownBytes };
  } catch (error) {
    await manifest?.abandon().catch(() => {});
    // Once indexed, another backup may already name its chunks: then they stay, for gc to judge.
    if (indexed) await packs.settle();
    else await packs.discard();
    throw error;
  } finally {
    await lock.release();
  }
}

/**
 * Hashes units of image bytes (whole chunks, the image's last one maybe short) in the workers, and
 * seals into packs the chunks neither the index nor this backup holds yet; counts what it stored.
 */
export class UnitStorer {
  newChunks = 0;
  newStoredBytes = 0;
  /** Non-zero chunks (each occurrence) already stored: only named. */
  knownChunks = 0;
  knownBytes = 0;
  /** Chunks this backup is storing: a later unit with the same chunk only names it. */
  private readonly storing = new Set<string>();
  private readonly outputs: ArrayBuffer[] = [];

  constructor(
    private readonly context: RepositoryContext,
    private readonly index: ChunkIndex,
    private readonly packs: PackWriter,
  ) {}

  /** The unit's chunk ids (null: all zero), and its buffer back for reuse. */
  async store(buffer: ArrayBuffer, length: number): Promise<{ ids: (string | null)[]; buffer: ArrayBuffer }> {
    const { context } = this;
    const hashed = expectReply(await context.pool.run({ kind: 'hash', buffer, length, chunkSize: context.chunkSize }), 'hashed');
    const pieces: SealPiece[] = [];
    hashed.ids.forEach((id, slot) => {
      if (id === null) return;
      if (this.index.stored(id) || this.storing.has(id)) {
        this.knownChunks += 1;
        this.knownBytes += Math.min(context.chunkSize, length - slot * context.chunkSize);
        return;
      }
      this.storing.add(id);
      pieces.push({ slot, id });
    });
    if (pieces.length === 0) return { ids: hashed.ids, buffer: hashed.buffer };
    const output = this.outputs.pop() ?? new ArrayBuffer(context.unitBytes + context.chunksPerUnit * SEAL_OVERHEAD);
    const sealed = expectReply(await context.pool.run({ kind: 'seal', buffer: hashed.buffer, length, chunkSize: context.chunkSize, pieces, output }), 'sealed');
    let offset = 0;
    for (const [k, piece] of pieces.entries()) {
      const blobLength = sealed.lengths[k]!;
      await this.packs.add(piece.id, new Uint8Array(sealed.output, offset, blobLength));
      offset += blobLength;
      this.newChunks += 1;
      this.newStoredBytes += blobLength;
    }
    this.outputs.push(sealed.output);
    return { ids: hashed.ids, buffer: sealed.buffer };
  }
}

/**
 * Reads the source to its end in units, through a fixed set of buffers (memory does not grow with
 * the image), several units in flight; `handle` gives each unit's buffer back when done with it.
 * Answers the number of bytes read.
 */
async function readInUnits(
  context: RepositoryContext,
  source: ImageSource,
  options: StoreImageOptions,
  handle: (unitIndex: number, buffer: ArrayBuffer, length: number) => Promise<ArrayBuffer>,
): Promise<number> {
  const free = Array.from({ length: context.pool.size * UNITS_IN_FLIGHT_PER_WORKER }, () => new ArrayBuffer(context.unitBytes));
  const inFlight = new Set<Promise<void>>();
  let firstError: unknown;
  let position = 0;
  for (let unitIndex = 0; ; unitIndex++) {
    if (options.signal?.aborted) firstError ??= new RepositoryError('aborted', 'The backup was stopped');
    while (free.length === 0 && firstError === undefined) await Promise.race(inFlight);
    if (firstError !== undefined) break;
    const buffer = free.pop()!;
    let length: number;
    let filled: Promise<ArrayBuffer>;
    if (source.exactSize) {
      // The unit's length is known: it is read inside the task, beside the others in flight.
      length = Math.min(context.unitBytes, source.expectedSize - position);
      if (length <= 0) break;
      const [at, unitLength, unit] = [position, length, unitIndex];
      filled = source.read(buffer, at, unitLength).then((got) => {
        if (got.length !== unitLength) throw new Error(`The image ended at byte ${at + got.length}, ${source.expectedSize} expected`);
        return handle(unit, got.buffer, unitLength);
      });
    } else {
      const got = await source.read(buffer, position, context.unitBytes);
      length = got.length;
      if (length === 0) {
        free.push(got.buffer);
        break;
      }
      filled = handle(unitIndex, got.buffer, length);
    }
    // A failed unit stops the reading; the first error is thrown once every unit in flight is done.
    const task = filled.then(
      (returned) => void free.push(returned),
      (error: unknown) => void (firstError ??= error),
    );
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    position += length;
    options.onProgress?.({ bytesDone: position, bytesTotal: Math.max(source.expectedSize, position) });
    if (length < context.unitBytes) break;
  }
  await Promise.all(inFlight);
  if (firstError !== undefined) throw firstError;
  return position;
}
