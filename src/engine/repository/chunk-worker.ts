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
import { writeFully } from './files.js';
import { packPath } from './layout.js';
import { readExactly } from './packs.js';
import { seal, unseal, UnsealError } from './sealing.js';
import { transferables, type ChunkReply, type ChunkTask, type ChunkWorkerData, type LoadPiece, type PieceProblem, type SequencedTask } from './chunk-pool.js';

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

function loadPiece(piece: LoadPiece): Buffer | Omit<PieceProblem, 'slot' | 'id'> {
  let stored: Buffer;
  try {
    stored = readExactly(packFile(piece.pack), piece.length, piece.offset);
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

/** A restore's unit, assembled here before it is written (reused from task to task). */
let unit = Buffer.alloc(0);

function load(task: Extract<ChunkTask, { kind: 'load' }>): ChunkReply {
  const problems: PieceProblem[] = [];
  if (task.writeTo && task.pieces.length > 0) {
    const size = (task.pieces[task.pieces.length - 1]!.slot + 1) * task.chunkSize;
    if (unit.length < size) unit = Buffer.alloc(size);
  }
  try {
    for (const piece of task.pieces) {
      const result = loadPiece(piece);
      if (!Buffer.isBuffer(result)) problems.push({ slot: piece.slot, id: piece.id, ...result });
      else if (task.writeTo) result.copy(unit, piece.slot * task.chunkSize);
    }
  } finally {
    closePacks();
  }
  if (!task.writeTo || problems.length > 0) return { kind: 'loaded', problems, written: 0 };
  // Runs of stored chunks are written; the zero chunks between them stay holes.
  let written = 0;
  for (const [first, last] of runsOf(task.pieces.map((piece) => piece.slot))) {
    const start = first * task.chunkSize;
    const end = task.pieces.find((piece) => piece.slot === last)!.plainLength + last * task.chunkSize;
    writeFully(task.writeTo.fd, unit.subarray(start, end), task.writeTo.unitStart + start);
    written += end - start;
  }
  return { kind: 'loaded', problems, written };
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

parentPort!.on('message', (task: SequencedTask) => {
  let reply: ChunkReply;
  try {
    reply = task.kind === 'hash' ? hash(task) : task.kind === 'seal' ? sealPieces(task) : load(task);
  } catch (error) {
    reply = { kind: 'failed', message: (error as Error).message, code: (error as NodeJS.ErrnoException).code };
  }
  parentPort!.postMessage({ ...reply, sequence: task.sequence }, transferables(reply));
});
