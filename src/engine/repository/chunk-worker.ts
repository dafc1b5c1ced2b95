/**
 * A worker thread of the chunk pool (chunk-pool.ts): the CPU-heavy part of every chunk — the zero
 * test, the keyed hash, compression and encryption — or, to read chunks back, reading them from their
 * packs, decryption, decompression and the check against their ids. No file is written here: the
 * main thread gathers sealed chunks into packs.
 */
import { createHmac } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { RepositoryError } from './errors.js';
import { writeFullyInBackground } from './files.js';
import { packPath } from './layout.js';
import { readExactly } from './packs.js';
import { seal, unseal, UnsealError } from './sealing.js';
import { transferables, type ChunkReply, type ChunkTask, type ChunkWorkerData, type LoadPiece, type PieceProblem, type RestoreTarget, type SequencedTask } from './chunk-pool.js';

const { root, encryptionKey, idKey } = workerData as ChunkWorkerData;
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

/** The pack files a task has opened (its chunks are mostly in one pack); closed when the task is done. */
const openPacks = new Map<string, number>();

function packFile(packId: string): number {
  let fd = openPacks.get(packId);
  if (fd === undefined) {
    fd = openSync(packPath(root, packId), 'r');
    openPacks.set(packId, fd);
  }
  return fd;
}

function closePacks(): void {
  for (const fd of openPacks.values()) closeSync(fd);
  openPacks.clear();
}

/** Sealed chunks are read into this buffer, reused: what loadPiece returns must be used before it is called again. */
let sealedChunk = Buffer.alloc(0);

function loadPiece(piece: LoadPiece): Buffer | Omit<PieceProblem, 'slot' | 'id'> {
  let stored: Buffer;
  try {
    if (sealedChunk.length < piece.length) sealedChunk = Buffer.allocUnsafe(piece.length);
    stored = readExactly(packFile(piece.pack), piece.length, piece.offset, sealedChunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'missing', detail: `its pack ${piece.pack} is missing` };
    if (error instanceof RepositoryError) return { problem: 'corrupt', detail: `its pack ${piece.pack} is truncated` };
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
 * Direct writes need their memory, file offset and length aligned to the device's block; the page
 * size covers every block size in use. Unit buffers come from WebAssembly memories, whose start V8
 * places on a page boundary (an ordinary Buffer's start is only 16-byte aligned).
 */
const DIRECT_ALIGNMENT = 4096;
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer } };
const WASM_PAGE = 65_536;

function pageAlignedBuffer(bytes: number): Buffer {
  const pages = Math.ceil(bytes / WASM_PAGE);
  return Buffer.from(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer, 0, bytes);
}

/**
 * A restore's units are assembled in these buffers and written from them. Writes run in the thread
 * pool while this worker decrypts its next unit, so a unit's buffer is in use until its writes are
 * done; there are as many as the worker holds tasks (a few), each reused from task to task.
 */
const freeUnits: Buffer[] = [];

function takeUnit(bytes: number): Buffer {
  const unit = freeUnits.pop();
  return unit !== undefined && unit.length >= bytes ? unit : pageAlignedBuffer(bytes);
}

/**
 * Restore: the plain bytes of chunks that occur more than once in the image (`LoadPiece.recurs`), so
 * that a repeated chunk is read and decrypted once rather than at every place it occurs. The oldest
 * use goes first when the budget is spent.
 */
const RECURRING_CHUNKS_BYTES = 16 * 1024 * 1024;
const recurringChunks = new Map<string, Buffer>();
let recurringChunksBytes = 0;
/** The restore the kept chunks were read for: each restore reads its chunks from the packs afresh. */
let recurringChunksRestore = -1;

function forgetRecurringChunksUnless(restore: number): void {
  if (restore === recurringChunksRestore) return;
  recurringChunks.clear();
  recurringChunksBytes = 0;
  recurringChunksRestore = restore;
}

function recurringChunk(id: string): Buffer | undefined {
  const plain = recurringChunks.get(id);
  if (plain !== undefined) {
    recurringChunks.delete(id); // to the end of the map's order: the newest use
    recurringChunks.set(id, plain);
  }
  return plain;
}

function keepRecurringChunk(id: string, plain: Buffer): void {
  if (plain.length > RECURRING_CHUNKS_BYTES) return;
  for (const [oldest, bytes] of recurringChunks) {
    if (recurringChunksBytes + plain.length <= RECURRING_CHUNKS_BYTES) break;
    recurringChunks.delete(oldest);
    recurringChunksBytes -= bytes.length;
  }
  recurringChunks.set(id, Buffer.from(plain)); // a copy: `plain` may be a reused buffer
  recurringChunksBytes += plain.length;
}

/** Set when the file system refused a direct write (EINVAL): this worker then writes through the page cache only. */
let directRefused = false;

function load(task: Extract<ChunkTask, { kind: 'load' }>): ChunkReply | Promise<ChunkReply> {
  const problems: PieceProblem[] = [];
  const { writeTo, pieces, chunkSize } = task;
  const unit = writeTo && pieces.length > 0 ? takeUnit((pieces[pieces.length - 1]!.slot + 1) * chunkSize) : null;
  if (writeTo) forgetRecurringChunksUnless(writeTo.restore);
  try {
    for (const piece of pieces) {
      const kept = piece.recurs ? recurringChunk(piece.id) : undefined;
      const result = kept ?? loadPiece(piece);
      if (!Buffer.isBuffer(result)) {
        problems.push({ slot: piece.slot, id: piece.id, ...result });
        continue;
      }
      if (piece.recurs && !kept) keepRecurringChunk(piece.id, result);
      unit?.set(result, piece.slot * chunkSize);
    }
  } catch (error) {
    if (unit) freeUnits.push(unit);
    throw error;
  } finally {
    closePacks();
  }
  if (!writeTo || !unit || problems.length > 0) {
    if (unit) freeUnits.push(unit);
    return { kind: 'loaded', problems, buffered: 0 };
  }
  // Runs of stored chunks are written; the zero chunks between them stay holes.
  const writes = runsOf(pieces.map((piece) => piece.slot)).map(([first, last]) => {
    const start = first * chunkSize;
    const end = pieces.find((piece) => piece.slot === last)!.plainLength + last * chunkSize;
    return writeRun(writeTo, unit.subarray(start, end), writeTo.unitStart + start);
  });
  // Settled, not all: on a failure the unit is not reused while another of its writes still reads it.
  return Promise.allSettled(writes).then((settled): ChunkReply => {
    freeUnits.push(unit);
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    return { kind: 'loaded', problems, buffered: settled.reduce((sum, result) => sum + (result.status === 'fulfilled' ? result.value : 0), 0) };
  });
}

/**
 * Writes one run of chunks: its block-aligned part directly when the target allows it (no page
 * cache to fill and then flush, and nothing of the machine's other work pushed out of it), the rest
 * through the page cache. Resolves to the bytes written through the page cache.
 */
async function writeRun(target: RestoreTarget, run: Buffer, position: number): Promise<number> {
  const directLength = run.length - (run.length % DIRECT_ALIGNMENT);
  if (target.directFd !== null && !directRefused && position % DIRECT_ALIGNMENT === 0 && directLength > 0) {
    try {
      await writeFullyInBackground(target.directFd, run.subarray(0, directLength), position);
      await writeFullyInBackground(target.fd, run.subarray(directLength), position + directLength);
      return run.length - directLength;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      directRefused = true; // written again below, through the page cache
    }
  }
  await writeFullyInBackground(target.fd, run, position);
  return run.length;
}

/** Sorted slot numbers as runs of consecutive ones: [first, last] pairs. */
function runsOf(slots: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const slot of slots) {
    const last = runs[runs.length - 1];
    if (last && last[1] === slot - 1) last[1] = slot;
    else runs.push([slot, slot]);
  }
  return runs;
}

function failed(error: unknown): ChunkReply {
  return { kind: 'failed', message: (error as Error).message, code: (error as NodeJS.ErrnoException).code };
}

parentPort!.on('message', (task: SequencedTask) => {
  const answer = (reply: ChunkReply) => parentPort!.postMessage({ ...reply, sequence: task.sequence }, transferables(reply));
  let reply: ChunkReply | Promise<ChunkReply>;
  try {
    reply = task.kind === 'hash' ? hash(task) : task.kind === 'seal' ? sealPieces(task) : load(task);
  } catch (error) {
    reply = failed(error);
  }
  // A restore's writes finish later, while the next task is already being worked on.
  if (reply instanceof Promise) reply.then(answer, (error: unknown) => answer(failed(error)));
  else answer(reply);
});
