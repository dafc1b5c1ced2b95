/**
 * A worker thread of the chunk pool (chunk-pool.ts): the CPU-heavy part of every chunk — the zero
 * test, the keyed hash, compression and encryption — or, to read chunks back, reading them from their
 * packs, decryption, decompression and the check against their ids. A backup's chunks go back to the
 * main thread, which gathers them into packs; a restore's are written into the target image here
 * (restore-writes.ts), so that no image bytes cross between threads.
 */
import { createHmac } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from '../storage/object-store.js';
import { openStore } from '../storage/open-store.js';
import { closeRanges, pieceOf } from './pack-ranges.js';
import { releaseUnit, takeUnit, writeUnit } from './restore-writes.js';
import { seal, unseal, UnsealError } from './sealing.js';
import { transferables, type ChunkReply, type ChunkTask, type ChunkWorkerData, type LoadPiece, type PieceProblem, type RestoreTarget, type SequencedTask } from './chunk-pool.js';

const { location, encryptionKey, idKey } = workerData as ChunkWorkerData;
/** This thread's own store of the repository, opened when the thread starts (packs are read through it). */
const store = openStore(location);
// Read failures are answered per chunk; an open that failed is not to be reported as unhandled.
store.catch(() => {});
const encryption = encryptionKey ? Buffer.from(encryptionKey) : null;
const hmacKey = Buffer.from(idKey);
let zeros = Buffer.alloc(0);

function chunkId(data: Uint8Array): string {
  return createHmac('sha256', hmacKey).update(data).digest('hex');
}

function isAllZero(data: Buffer): boolean {
  if (zeros.length < data.length) zeros = Buffer.alloc(data.length);
  return data.equals(zeros.subarray(0, data.length));
}

/** The chunk at `slot` of a unit held in `buffer` (`length` bytes). */
function chunkAt(buffer: ArrayBuffer, length: number, chunkSize: number, slot: number): Buffer {
  const start = slot * chunkSize;
  return Buffer.from(buffer, start, Math.min(chunkSize, length - start));
}

function hash(task: Extract<ChunkTask, { kind: 'hash' }>): ChunkReply {
  const ids: (string | null)[] = [];
  for (let slot = 0; slot * task.chunkSize < task.length; slot++) {
    const chunk = chunkAt(task.buffer, task.length, task.chunkSize, slot);
    ids.push(isAllZero(chunk) ? null : chunkId(chunk));
  }
  return { kind: 'hashed', ids, buffer: task.buffer };
}

function sealPieces(task: Extract<ChunkTask, { kind: 'seal' }>): ChunkReply {
  const output = new Uint8Array(task.output);
  const lengths: number[] = [];
  let offset = 0;
  for (const { slot, id } of task.pieces) {
    const start = offset;
    for (const part of seal(chunkAt(task.buffer, task.length, task.chunkSize, slot), id, encryption)) {
      output.set(part, offset);
      offset += part.length;
    }
    lengths.push(offset - start);
  }
  return { kind: 'sealed', output: task.output, lengths, buffer: task.buffer };
}

/**
 * The sealed bytes of a task's pieces, read with few requests — pieces of one pack that lie close
 * together as one range, the ranges at once — since a request to an object store costs far more than
 * the bytes between two chunks. A range that fails is read again piece by piece, so that each piece
 * gets its own answer (a truncated pack spoils only the chunks past its end).
 */
async function fetchSealed(pieces: readonly LoadPiece[]): Promise<Map<LoadPiece, Buffer | unknown>> {
  const ranges = closeRanges(pieces);
  const sealed = new Map<LoadPiece, Buffer | unknown>();
  const read = async (pack: string, offset: number, length: number) => (await store).get('pack', pack, { offset, length });
  await Promise.all(
    ranges.map(async (range) => {
      try {
        const bytes = await read(range.pack, range.offset, range.end - range.offset);
        for (const piece of range.pieces) sealed.set(piece, pieceOf(range, bytes, piece));
      } catch (error) {
        if (range.pieces.length === 1) return void sealed.set(range.pieces[0]!, error);
        await Promise.all(range.pieces.map((piece) => read(piece.pack, piece.offset, piece.length).then((bytes) => sealed.set(piece, bytes), (failure: unknown) => sealed.set(piece, failure))));
      }
    }),
  );
  return sealed;
}

/** Authenticates and checks a chunk's sealed bytes (or the error reading them): its plain bytes, or what is wrong. */
function openPiece(piece: LoadPiece, stored: Buffer | unknown): Buffer | Omit<PieceProblem, 'slot' | 'id'> {
  if (!Buffer.isBuffer(stored)) {
    const error = stored;
    if (error instanceof StoreError && error.code === 'not_found') return { problem: 'missing', detail: `its pack ${piece.pack} is missing` };
    if (error instanceof StoreError && error.code === 'out_of_range') return { problem: 'corrupt', detail: `its pack ${piece.pack} is truncated` };
    return { problem: 'unreadable', detail: (error as Error).message };
  }
  let plain: Buffer;
  try {
    plain = unseal(stored, piece.id, encryption);
  } catch (error) {
    if (error instanceof UnsealError) return { problem: 'corrupt', detail: error.message };
    throw error;
  }
  // AES-GCM has already authenticated an encrypted chunk together with its id; a plain one is checked by its hash.
  if (!encryption && chunkId(plain) !== piece.id) return { problem: 'corrupt', detail: 'the content does not hash to the chunk id' };
  if (plain.length !== piece.plainLength) return { problem: 'corrupt', detail: `the chunk holds ${plain.length} bytes, ${piece.plainLength} expected` };
  return plain;
}

/**
 * Restore: the plain bytes of chunks that occur more than once in the image (`LoadPiece.recurs`), so
 * that a repeated chunk is read and decrypted once rather than at every place it occurs. Kept for one
 * restore (each reads its chunks from the packs afresh), within a budget; the oldest use goes first.
 */
class RecurringChunks {
  private readonly chunks = new Map<string, Buffer>();
  private bytes = 0;
  private restore = -1;

  constructor(private readonly budget: number) {}

  /** The chunks kept so far, if they were kept for this restore; else none. */
  forRestore(restore: number): this {
    if (restore !== this.restore) {
      this.chunks.clear();
      this.bytes = 0;
      this.restore = restore;
    }
    return this;
  }

  has(id: string): boolean {
    return this.chunks.has(id);
  }

  get(id: string): Buffer | undefined {
    const plain = this.chunks.get(id);
    if (plain !== undefined) {
      this.chunks.delete(id); // to the end of the map's order: the newest use
      this.chunks.set(id, plain);
    }
    return plain;
  }

  keep(id: string, plain: Buffer): void {
    if (plain.length > this.budget) return;
    for (const [oldest, bytes] of this.chunks) {
      if (this.bytes + plain.length <= this.budget) break;
      this.chunks.delete(oldest);
      this.bytes -= bytes.length;
    }
    this.chunks.set(id, Buffer.from(plain)); // a copy: `plain` may be a reused buffer
    this.bytes += plain.length;
  }
}

const recurringChunks = new RecurringChunks(16 * 1024 * 1024);

/** Verify: every piece read and checked; only the problems are answered. */
async function check(pieces: readonly LoadPiece[]): Promise<PieceProblem[]> {
  const problems: PieceProblem[] = [];
  const sealed = await fetchSealed(pieces);
  for (const piece of pieces) {
    const result = openPiece(piece, sealed.get(piece));
    if (!Buffer.isBuffer(result)) problems.push({ slot: piece.slot, id: piece.id, ...result });
  }
  return problems;
}

/** Restore: the unit's pieces assembled in a unit buffer, then written (unless a piece has a problem). */
async function restore(pieces: readonly LoadPiece[], chunkSize: number, target: RestoreTarget): Promise<ChunkReply> {
  const problems: PieceProblem[] = [];
  const kept = recurringChunks.forRestore(target.restore);
  const unit = takeUnit((pieces[pieces.length - 1]!.slot + 1) * chunkSize);
  try {
    const sealed = await fetchSealed(pieces.filter((piece) => !(piece.recurs && kept.has(piece.id))));
    for (const piece of pieces) {
      const keptPlain = piece.recurs ? kept.get(piece.id) : undefined;
      const plain = keptPlain ?? openPiece(piece, sealed.get(piece) ?? (await fetchSealed([piece])).get(piece));
      if (!Buffer.isBuffer(plain)) {
        problems.push({ slot: piece.slot, id: piece.id, ...plain });
        continue;
      }
      if (piece.recurs && keptPlain === undefined) kept.keep(piece.id, plain);
      unit.set(plain, piece.slot * chunkSize);
    }
  } catch (error) {
    releaseUnit(unit);
    throw error;
  }
  if (problems.length > 0) {
    releaseUnit(unit);
    return { kind: 'loaded', problems, buffered: 0 };
  }
  return { kind: 'loaded', problems, buffered: await writeUnit(target, unit, pieces, chunkSize) };
}

async function load({ pieces, chunkSize, writeTo }: Extract<ChunkTask, { kind: 'load' }>): Promise<ChunkReply> {
  if (writeTo === null || pieces.length === 0) return { kind: 'loaded', problems: await check(pieces), buffered: 0 };
  return restore(pieces, chunkSize, writeTo);
}

/** Copy: the stored chunks covering part of the image, placed in the buffer (which starts at image byte `start`). */
async function read({ pieces, chunkSize, start, length, buffer }: Extract<ChunkTask, { kind: 'read' }>): Promise<ChunkReply> {
  const unit = new Uint8Array(buffer, 0, length);
  unit.fill(0); // zero chunks are not stored: their bytes stay zero
  const problems: PieceProblem[] = [];
  const sealed = await fetchSealed(pieces);
  for (const piece of pieces) {
    const plain = openPiece(piece, sealed.get(piece));
    if (!Buffer.isBuffer(plain)) {
      problems.push({ slot: piece.slot, id: piece.id, ...plain });
      continue;
    }
    // The part of the chunk inside [start, start + length): a chunk may be larger than the buffer.
    const chunkStart = piece.slot * chunkSize;
    const from = Math.max(start, chunkStart);
    const to = Math.min(start + length, chunkStart + plain.length);
    if (to > from) unit.set(plain.subarray(from - chunkStart, to - chunkStart), from - start);
  }
  return { kind: 'read', problems, buffer };
}

function failed(error: unknown): ChunkReply {
  return { kind: 'failed', message: (error as Error).message, code: (error as NodeJS.ErrnoException).code };
}

parentPort!.on('message', (task: SequencedTask) => {
  const answer = (reply: ChunkReply) => parentPort!.postMessage({ ...reply, sequence: task.sequence }, transferables(reply));
  let reply: ChunkReply | Promise<ChunkReply>;
  try {
    reply = task.kind === 'hash' ? hash(task) : task.kind === 'seal' ? sealPieces(task) : task.kind === 'read' ? read(task) : load(task);
  } catch (error) {
    reply = failed(error);
  }
  // A restore's writes finish later, while the next task is already being worked on.
  if (reply instanceof Promise) reply.then(answer, (error: unknown) => answer(failed(error)));
  else answer(reply);
});
