/**
 * A worker thread of the chunk pool (chunk-pool.ts): the CPU-heavy part of every chunk — the zero
 * test, the keyed hash, compression and encryption — or, to read chunks back, decryption,
 * decompression and the check against their ids (the main thread reads their sealed bytes). A backup's chunks go back to the
 * main thread, which gathers them into packs; a restore's are written into the target image here
 * (restore-writes.ts), so that no image bytes cross between threads.
 */
import { createHmac } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { writePlacements, type Placement } from './restore-writes.js';
import { seal, unseal, UnsealError } from './sealing.js';
import { transferables, type ChunkReply, type ChunkTask, type ChunkWorkerData, type LoadPiece, type PieceProblem, type RestoreTarget, type SealedPiece, type SequencedTask } from './chunk-pool.js';

const { encryptionKey, idKey } = workerData as ChunkWorkerData;
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

/** Authenticates and checks a chunk's sealed bytes (or why they could not be read): its plain bytes, or what is wrong. */
function openPiece(piece: LoadPiece, stored: SealedPiece): Buffer | Omit<PieceProblem, 'slot' | 'id'> {
  if (!(stored instanceof Uint8Array)) {
    if (stored.code === 'not_found') return { problem: 'missing', detail: `its pack ${piece.pack} is missing` };
    if (stored.code === 'out_of_range') return { problem: 'corrupt', detail: `its pack ${piece.pack} is truncated` };
    return { problem: 'unreadable', detail: stored.failure };
  }
  let plain: Buffer;
  try {
    plain = unseal(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength), piece.id, encryption);
  } catch (error) {
    if (error instanceof UnsealError) return { problem: 'corrupt', detail: error.message };
    throw error;
  }
  // AES-GCM has already authenticated an encrypted chunk together with its id; a plain one is checked by its hash.
  if (!encryption && chunkId(plain) !== piece.id) return { problem: 'corrupt', detail: 'the content does not hash to the chunk id' };
  if (plain.length !== piece.plainLength) return { problem: 'corrupt', detail: `the chunk holds ${plain.length} bytes, ${piece.plainLength} expected` };
  return plain;
}

/** Verify: every piece checked; only the problems are answered. */
function check(pieces: readonly LoadPiece[], sealed: readonly SealedPiece[]): PieceProblem[] {
  const problems: PieceProblem[] = [];
  pieces.forEach((piece, index) => {
    const result = openPiece(piece, sealed[index]!);
    if (!Buffer.isBuffer(result)) problems.push({ slot: piece.slot, id: piece.id, ...result });
  });
  return problems;
}

/** Restore: every piece authenticated, then written at each of its positions (nothing is written once a piece has a problem). */
async function restore(pieces: readonly LoadPiece[], sealed: readonly SealedPiece[], chunkSize: number, target: RestoreTarget): Promise<ChunkReply> {
  const problems: PieceProblem[] = [];
  const placements: Placement[] = [];
  pieces.forEach((piece, index) => {
    const plain = openPiece(piece, sealed[index]!);
    if (!Buffer.isBuffer(plain)) problems.push({ slot: piece.slot, id: piece.id, ...plain });
    else for (const position of target.positions[index]!) placements.push({ position, plain });
  });
  if (problems.length > 0) return { kind: 'loaded', problems, buffered: 0 };
  return { kind: 'loaded', problems, buffered: await writePlacements(target, placements, chunkSize) };
}

async function load({ pieces, sealed, chunkSize, writeTo }: Extract<ChunkTask, { kind: 'load' }>): Promise<ChunkReply> {
  if (writeTo === null || pieces.length === 0) return { kind: 'loaded', problems: check(pieces, sealed), buffered: 0 };
  return restore(pieces, sealed, chunkSize, writeTo);
}

/** Copy: the stored chunks covering part of the image, placed in the buffer (which starts at image byte `start`). */
function read({ pieces, sealed, chunkSize, start, length, buffer }: Extract<ChunkTask, { kind: 'read' }>): ChunkReply {
  const unit = new Uint8Array(buffer, 0, length);
  unit.fill(0); // zero chunks are not stored: their bytes stay zero
  const problems: PieceProblem[] = [];
  pieces.forEach((piece, index) => {
    const plain = openPiece(piece, sealed[index]!);
    if (!Buffer.isBuffer(plain)) {
      problems.push({ slot: piece.slot, id: piece.id, ...plain });
      return;
    }
    // The part of the chunk inside [start, start + length): a chunk may be larger than the buffer.
    const chunkStart = piece.slot * chunkSize;
    const from = Math.max(start, chunkStart);
    const to = Math.min(start + length, chunkStart + plain.length);
    if (to > from) unit.set(plain.subarray(from - chunkStart, to - chunkStart), from - start);
  });
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
