/**
 * A worker thread of the chunk pool (chunk-pool.ts): the CPU-heavy part of every chunk — the
 * zero test, the keyed hash, compression and encryption, and writing a new chunk file — or, to read
 * one back, decryption, decompression and the check of its hash against its id.
 */
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { writeFileAtomicallyInBackground } from './files.js';
import { chunkPath } from './layout.js';
import { seal, unseal, UnsealError } from './sealing.js';
import type { ChunkReply, ChunkTask, ChunkWorkerData, SequencedTask } from './chunk-pool.js';

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

async function store(task: Extract<ChunkTask, { kind: 'store' }>): Promise<ChunkReply> {
  const data = Buffer.from(task.buffer, 0, task.length);
  if (isAllZero(data)) return { kind: 'stored', id: null, storedSize: 0, isNew: false, buffer: task.buffer };
  const id = chunkId(data);
  const path = chunkPath(root, id);
  if (existsSync(path)) return { kind: 'stored', id, storedSize: statSync(path).size, isNew: false, buffer: task.buffer };
  const parts = seal(data, id, encryption);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // The chunk directory is synced once per backup, before its manifest (see repository.ts). Written
  // in the background: this worker takes its next chunk while the disk syncs this one.
  await writeFileAtomicallyInBackground(path, parts);
  const storedSize = parts.reduce((sum, part) => sum + part.length, 0);
  return { kind: 'stored', id, storedSize, isNew: true, buffer: task.buffer };
}

function load(task: Extract<ChunkTask, { kind: 'load' }>): ChunkReply {
  let stored: Buffer;
  try {
    stored = readFileSync(chunkPath(root, task.id));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return { kind: 'bad', problem: missing ? 'missing' : 'unreadable', detail: missing ? 'the chunk file is missing' : (error as Error).message };
  }
  let plain: Buffer;
  try {
    plain = unseal(stored, task.id, encryption);
  } catch (error) {
    if (error instanceof UnsealError) return { kind: 'bad', problem: 'corrupt', detail: error.message };
    throw error;
  }
  // AES-GCM has already authenticated an encrypted chunk together with its id; a plain one is checked by its hash.
  if (!encryption && chunkId(plain) !== task.id) return { kind: 'bad', problem: 'corrupt', detail: 'the content does not hash to the chunk id' };
  if (task.expectedLength !== undefined && plain.length !== task.expectedLength) {
    return { kind: 'bad', problem: 'corrupt', detail: `the chunk holds ${plain.length} bytes, ${task.expectedLength} expected` };
  }
  return { kind: 'loaded', buffer: ownArrayBuffer(plain), length: plain.length };
}

/** The bytes as an ArrayBuffer of their own (to transfer): the buffer's own when it has it to itself, else a copy. */
function ownArrayBuffer(bytes: Buffer): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return copy;
}

parentPort!.on('message', async (task: SequencedTask) => {
  let reply: ChunkReply;
  try {
    reply = task.kind === 'store' ? await store(task) : load(task);
  } catch (error) {
    reply = { kind: 'failed', message: (error as Error).message, code: (error as NodeJS.ErrnoException).code };
  }
  const transfer = 'buffer' in reply && reply.buffer ? [reply.buffer] : [];
  parentPort!.postMessage({ ...reply, sequence: task.sequence }, transfer);
});
