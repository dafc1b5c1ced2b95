/**
 * Restoring a backup into an image file: a segment of the manifest at a time, each unit's stored
 * chunks read, authenticated and written into the target by a worker thread; the target is a
 * temporary file beside its name, synced and renamed into place only when complete.
 */
import { closeSync, constants as fsConstants, existsSync, openSync, renameSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { ChunkIndex } from './chunk-index.js';
import type { LoadPiece, SealedPiece } from './chunk-pool.js';
import type { RestoreOptions } from './contract.js';
import { RepositoryError } from './errors.js';
import { syncDirectory, temporaryPathFor } from './files.js';
import { acquireSharedLock } from './locks.js';
import { ManifestReader, SEGMENT_CHUNKS, type ManifestHeader } from './manifest.js';
import { readSealedPieces } from './piece-reads.js';
import { expectReply, inLanes, plainLengthOf, problemError, type RepositoryContext } from './unit-work.js';

/** Sealed bytes of chunks that recur in the image kept at most this long, so that each is read once (see restoreInto). */
const RECURRING_BUDGET_BYTES = 8 * 1024 * 1024;
/**
 * From a remote store (ObjectStore.remote), the chunks of this many units are read together, so that
 * neighbouring chunks of a pack come in one request rather than one per unit; such reads in flight per
 * worker (each holds its sealed bytes until its units are written).
 */
const REMOTE_UNITS_PER_READ = 8;
const REMOTE_READS_PER_WORKER = 1;

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
  // The sealed bytes of chunks that occur more than once in a segment, kept (copies) once read, so that
  // a repeated chunk is not fetched again from its pack at every place it occurs; the oldest use goes first.
  const kept = new LRUCache<string, Buffer>({ maxSize: RECURRING_BUDGET_BYTES, sizeCalculation: (bytes) => bytes.length });
  try {
    // The whole length at once (zero chunks stay holes), so no write extends the file.
    await target.truncate(header.diskSize);
    directFd = options.directWrites === false ? null : openForDirectWrites(temporary);
    let done = 0;
    // A segment of the chunk list at a time: memory does not grow with the image.
    for (let segment = 0; segment < header.segments.length; segment++) {
      const ids = await manifest.segmentIds(segment);
      const recurring = recurringIds(ids);
      const firstUnit = (segment * SEGMENT_CHUNKS) / context.chunksPerUnit;
      const units = Math.ceil(ids.length / context.chunksPerUnit);
      const unitsPerRead = context.store.remote ? REMOTE_UNITS_PER_READ : 1;
      const lanes = context.store.remote ? context.pool.size * REMOTE_READS_PER_WORKER : undefined;
      await inLanes(context, Math.ceil(units / unitsPerRead), options.signal, async (read) => {
        const unitsOfRead = Array.from({ length: Math.min(unitsPerRead, units - read * unitsPerRead) }, (_, i) => firstUnit + read * unitsPerRead + i);
        const piecesByUnit = await Promise.all(
          unitsOfRead.map((unitIndex) => {
            const firstId = (unitIndex - firstUnit) * context.chunksPerUnit;
            return piecesOfUnit(header, index, ids.slice(firstId, firstId + context.chunksPerUnit), unitIndex * context.chunksPerUnit);
          }),
        );
        const { sealed, movable } = await readSealedPieces(context.store, piecesByUnit.flat(), (piece) => (recurring.has(piece.id) ? kept.get(piece.id) : undefined));
        piecesByUnit.flat().forEach((piece, at) => {
          const bytes = sealed[at]!;
          // A copy: the bytes read move to a worker (and a kept chunk's are sent as a copy).
          if (recurring.has(piece.id) && bytes instanceof Uint8Array && !kept.has(piece.id)) kept.set(piece.id, Buffer.from(bytes));
        });
        let first = 0;
        const restores = unitsOfRead.map(async (unitIndex, i) => {
          const pieces = piecesByUnit[i]!;
          const ofUnit = sealed.slice(first, (first += pieces.length));
          if (pieces.length > 0) {
            // One unit's bytes move alone when the read was its own; else each unit gets a copy of its pieces.
            const moving = unitsOfRead.length === 1 ? { sealed: ofUnit, movable } : ownCopy(ofUnit);
            const writeTo = { fd: target.fd, directFd, unitStart: unitIndex * context.unitBytes };
            const reply = expectReply(await context.pool.run({ kind: 'load', pieces, ...moving, chunkSize: header.chunkSize, writeTo }), 'loaded');
            if (reply.problems.length > 0) throw problemError(reply.problems[0]!);
            flusher.wrote(reply.buffered);
          }
          done += Math.min(context.unitBytes, header.diskSize - unitIndex * context.unitBytes);
          options.onProgress?.({ bytesDone: done, bytesTotal: header.diskSize });
        });
        // Every unit's writes are done before a failure is passed on (the target is closed after it).
        const failure = (await Promise.allSettled(restores)).find((result) => result.status === 'rejected');
        if (failure) throw failure.reason;
      }, lanes);
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


/** The stored chunks among `ids` (a unit's, the first at image position `firstPosition`), with their places in packs. */
async function piecesOfUnit(header: ManifestHeader, index: ChunkIndex, ids: readonly (string | null)[], firstPosition: number): Promise<LoadPiece[]> {
  const pieces: LoadPiece[] = [];
  for (const [slot, id] of ids.entries()) {
    if (id === null) continue;
    const location = await index.locateNeeded(id);
    if (!location) throw new RepositoryError('missing_chunk', `Chunk ${id}: no pack holds it (it is in no index)`);
    pieces.push({ slot, id, ...location, plainLength: plainLengthOf(header, firstPosition + slot) });
  }
  return pieces;
}


/** Sealed pieces copied into one buffer of their own, which can move to a worker without taking others' bytes along. */
function ownCopy(sealed: readonly SealedPiece[]): { sealed: SealedPiece[]; movable: ArrayBuffer[] } {
  const bytes = sealed.reduce((sum, piece) => sum + (piece instanceof Uint8Array ? piece.length : 0), 0);
  const buffer = Buffer.allocUnsafeSlow(bytes); // never a slab of the shared pool
  let at = 0;
  const copies = sealed.map((piece) => {
    if (!(piece instanceof Uint8Array)) return piece;
    buffer.set(piece, at);
    return buffer.subarray(at, (at += piece.length));
  });
  return { sealed: copies, movable: [buffer.buffer] };
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

