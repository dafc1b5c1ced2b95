/**
 * Restoring a backup into an image file: a segment of the manifest at a time, its stored chunks read
 * in pack order (each once, neighbours in one request), then authenticated and written to every place
 * they take in the target by a worker thread; the target is a temporary file beside its name, synced
 * and renamed into place only when complete.
 */
import { closeSync, constants as fsConstants, existsSync, openSync, renameSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ChunkIndex } from './chunk-index.js';
import type { LoadPiece } from './chunk-pool.js';
import type { RestoreOptions } from './contract.js';
import { RepositoryError } from './errors.js';
import { syncDirectory, temporaryPathFor } from './files.js';
import { acquireSharedLock } from './locks.js';
import { ManifestReader, SEGMENT_CHUNKS, type ManifestHeader } from './manifest.js';
import { BATCHES_IN_FLIGHT_PER_WORKER, inBatches, readingWorkers, readSealedPieces } from './piece-reads.js';
import { expectReply, inLanes, plainLengthOf, problemError, type RepositoryContext } from './unit-work.js';

/** Restores a backup into `options.toPath`. */
export async function restore(context: RepositoryContext, backupId: string, options: RestoreOptions): Promise<void> {
  const lock = await acquireSharedLock(context.store, 'read', options.signal);
  try {
    const manifest = await ManifestReader.open(context.store, backupId, context.keys);
    if (!options.overwrite && existsSync(options.toPath)) {
      throw new RepositoryError('target_exists', `${options.toPath} exists; restore to a new path (or allow overwriting)`);
    }
    await restoreInto(context, manifest, await context.loadIndex(), options);
  } finally {
    await lock.release();
  }
}

async function restoreInto(context: RepositoryContext, manifest: ManifestReader, index: ChunkIndex, options: RestoreOptions): Promise<void> {
  const { header } = manifest;
  if (options.toPath.trim() === '') throw new RangeError('The restore target path is empty');
  const temporary = temporaryPathFor(options.toPath);
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
      const firstPosition = segment * SEGMENT_CHUNKS;
      // Zero chunks are holes of the file, already there.
      ids.forEach((id, at) => (done += id === null ? plainLengthOf(header, firstPosition + at) : 0));
      const tasks = restoreTasks(await chunksOfSegment(header, index, ids, firstPosition));
      const workers = readingWorkers(context.store, context.pool.size);
      await inLanes(
        context,
        tasks.length,
        options.signal,
        async (task) => {
          const { pieces, positions } = tasks[task]!;
          const { sealed, movable } = await readSealedPieces(context.store, pieces);
          const writeTo = { fd: target.fd, directFd, positions };
          const reply = expectReply(await context.pool.run({ kind: 'load', pieces, sealed, movable, chunkSize: header.chunkSize, writeTo }, workers), 'loaded');
          if (reply.problems.length > 0) throw problemError(reply.problems[0]!);
          flusher.wrote(reply.buffered);
          pieces.forEach((piece, at) => (done += piece.plainLength * positions[at]!.length));
          options.onProgress?.({ bytesDone: done, bytesTotal: header.diskSize });
        },
        workers * BATCHES_IN_FLIGHT_PER_WORKER,
      );
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


/** A stored chunk of a segment: where it lies in its pack, and every position (chunk number) it takes in the image. */
interface SegmentChunk {
  readonly piece: LoadPiece;
  readonly positions: number[];
}

/** Each stored chunk among `ids` (a segment's, the first at image position `firstPosition`) once, in pack order. */
async function chunksOfSegment(header: ManifestHeader, index: ChunkIndex, ids: readonly (string | null)[], firstPosition: number): Promise<SegmentChunk[]> {
  const positionsOf = new Map<string, number[]>();
  ids.forEach((id, at) => {
    if (id === null) return;
    const positions = positionsOf.get(id);
    if (positions) positions.push(firstPosition + at);
    else positionsOf.set(id, [firstPosition + at]);
  });
  const chunks: SegmentChunk[] = [];
  for (const [id, positions] of positionsOf) {
    const location = await index.locateNeeded(id);
    if (!location) throw new RepositoryError('missing_chunk', `Chunk ${id}: no pack holds it (it is in no index)`);
    // `slot`: the chunk's number in its task (chunk-pool.ts), set by restoreTasks.
    chunks.push({ piece: { slot: 0, id, ...location, plainLength: plainLengthOf(header, positions[0]!) }, positions });
  }
  return chunks.sort((a, b) => a.piece.pack.localeCompare(b.piece.pack) || a.piece.offset - b.piece.offset);
}

/** The chunks in batches (piece-reads.ts), each a worker's task: its pieces numbered within it, and each piece's positions. */
function restoreTasks(chunks: readonly SegmentChunk[]): { pieces: LoadPiece[]; positions: number[][] }[] {
  return inBatches(chunks, (chunk) => chunk.piece).map((batch) => ({
    pieces: batch.map(({ piece }, slot) => ({ ...piece, slot })),
    positions: batch.map(({ positions }) => positions),
  }));
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

