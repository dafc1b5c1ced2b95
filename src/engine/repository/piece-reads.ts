/**
 * Reading the sealed bytes of chunks from their packs, on the main thread, for the chunk workers to
 * open (restore, verify, copy): pieces of one pack that lie close together as one range
 * (pack-ranges.ts), the ranges of a task at once. Workers only decrypt and write: they hold no
 * store, and no store client library is loaded once per thread.
 */
import { StoreError, type ObjectStore } from '../storage/object-store.js';
import type { LoadPiece, PieceReadFailure, SealedPiece } from './chunk-pool.js';
import { closeRanges, pieceOf } from './pack-ranges.js';

/** The sealed bytes of a task's pieces, and the buffers read for them (see `movable`). */
export interface SealedPieces {
  /** In the order of the pieces asked for. */
  readonly sealed: SealedPiece[];
  /**
   * The ArrayBuffers read here that may move to a worker rather than be copied: every one but a slab
   * of Node's buffer pool (a small read's Buffer shares one, which must never be moved away).
   */
  readonly movable: ArrayBuffer[];
}

/**
 * The sealed bytes of each of `pieces`, read with few requests. A range that fails is read again
 * piece by piece, so that each piece gets its own answer (a truncated pack spoils only the chunks
 * past its end).
 */
export async function readSealedPieces(store: ObjectStore, pieces: readonly LoadPiece[]): Promise<SealedPieces> {
  const sealed = new Array<SealedPiece | undefined>(pieces.length);
  const movable = new Set<ArrayBuffer>();
  const ranges = closeRanges(pieces.map((piece, index) => ({ pack: piece.pack, offset: piece.offset, length: piece.length, index })));
  const read = async (pack: string, offset: number, length: number) => {
    const bytes = await store.get('pack', pack, { offset, length });
    if (bytes.buffer instanceof ArrayBuffer && bytes.buffer.byteLength !== Buffer.poolSize) movable.add(bytes.buffer);
    return bytes;
  };
  const readOne = (index: number) =>
    read(pieces[index]!.pack, pieces[index]!.offset, pieces[index]!.length).then(
      (bytes) => void (sealed[index] = bytes),
      (error: unknown) => void (sealed[index] = failureOf(error)),
    );
  await Promise.all(
    ranges.map(async (range) => {
      let bytes: Buffer;
      try {
        bytes = await read(range.pack, range.offset, range.end - range.offset);
      } catch (error) {
        if (range.pieces.length === 1) return void (sealed[range.pieces[0]!.index] = failureOf(error));
        return void (await Promise.all(range.pieces.map(({ index }) => readOne(index))));
      }
      for (const piece of range.pieces) sealed[piece.index] = pieceOf(range, bytes, piece);
    }),
  );
  return { sealed: sealed as SealedPiece[], movable: [...movable] };
}

/** A task's pieces (restore, verify) hold at most this many bytes, sealed and plain alike. */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Batches in flight per worker: while one is opened (and written), the next one's pieces are read. */
export const BATCHES_IN_FLIGHT_PER_WORKER = 2;

/**
 * The chunk workers that open what a restore or verification reads: all of them from a local store;
 * one from a remote store, which delivers far slower than a worker decrypts (AES-GCM at over 1 GB/s),
 * while every further worker with its batches in flight holds about 60 MiB more (a restore of 1 GiB
 * from radosgw: peak RSS 199 MiB with one worker, 258–270 MiB with two, in the same time).
 */
export function readingWorkers(store: ObjectStore, poolSize: number): number {
  return store.remote ? 1 : poolSize;
}

/**
 * `items` (in pack order) cut into batches of at most BATCH_BYTES of their pieces, sealed and plain
 * alike (a piece larger than that is a batch of its own): each batch is one task for a worker, and
 * its neighbouring pieces of a pack are read in one request.
 */
export function inBatches<T>(items: readonly T[], pieceOf: (item: T) => LoadPiece): T[][] {
  const batches: T[][] = [];
  let sealedBytes = 0;
  let plainBytes = 0;
  for (const item of items) {
    const { length, plainLength } = pieceOf(item);
    let batch = batches.at(-1);
    if (!batch || sealedBytes + length > BATCH_BYTES || plainBytes + plainLength > BATCH_BYTES) {
      batches.push((batch = []));
      sealedBytes = plainBytes = 0;
    }
    batch.push(item);
    sealedBytes += length;
    plainBytes += plainLength;
  }
  return batches;
}

function failureOf(error: unknown): PieceReadFailure {
  return { failure: error instanceof Error ? error.message : String(error), ...(error instanceof StoreError ? { code: error.code } : {}) };
}
