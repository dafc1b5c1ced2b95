/**
 * A small pool of worker threads (chunk-worker.ts) that hash, seal and load chunks, so that hashing,
 * compression and encryption use every core while the main thread reads and writes images. Tasks
 * go to the first idle worker; buffers move between threads without copies (transferred).
 */
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RepositoryKeys } from './keys.js';

export interface ChunkWorkerData {
  readonly encryptionKey: Uint8Array | null;
  readonly idKey: Uint8Array;
}

/** A chunk of a unit to seal: its place in the unit (slot × chunk size) and its id. */
export interface SealPiece {
  readonly slot: number;
  readonly id: string;
}

/** A chunk to load from its pack into its place of a unit. */
export interface LoadPiece {
  readonly slot: number;
  readonly id: string;
  readonly pack: string;
  readonly offset: number;
  readonly length: number;
  readonly plainLength: number;
}

/** Why a piece's sealed bytes could not be read: the message, and the store's error code (StoreError). */
export interface PieceReadFailure {
  readonly failure: string;
  readonly code?: string;
}

/** A piece's sealed bytes as read from its pack, or why they could not be read. */
export type SealedPiece = Uint8Array | PieceReadFailure;

export interface PieceProblem {
  readonly slot: number;
  readonly id: string;
  readonly problem: 'missing' | 'unreadable' | 'corrupt';
  readonly detail: string;
}

/**
 * Work is handed out a unit at a time (several chunks of the image: fewer messages between threads):
 * `hash` answers the unit's chunk ids (null: all zero); `seal` compresses and encrypts the chunks
 * named into `output`, back to back (it has room for every chunk of the unit, sealed); `load` authenticates
 * and decompresses chunks (their sealed bytes read by the main thread: piece-reads.ts) and, for a restore, writes them at their places in the target
 * file itself (zero chunks are left as holes), so that the bytes never cross between threads.
 * Buffers go back and forth, so that a fixed set is reused.
 */
export type ChunkTask =
  | { readonly kind: 'hash'; readonly buffer: ArrayBuffer; readonly length: number; readonly chunkSize: number }
  | {
      readonly kind: 'seal';
      readonly buffer: ArrayBuffer;
      readonly length: number;
      readonly chunkSize: number;
      readonly pieces: readonly SealPiece[];
      readonly output: ArrayBuffer;
    }
  | {
      readonly kind: 'load';
      readonly pieces: readonly LoadPiece[];
      /** Each piece's sealed bytes (or why they could not be read), and the buffers that move with them. */
      readonly sealed: readonly SealedPiece[];
      readonly movable: readonly ArrayBuffer[];
      readonly chunkSize: number;
      /** Restore: write the chunks into this open file, each at its positions; verify: null. */
      readonly writeTo: RestoreTarget | null;
    }
  | {
      /** Copy: the image bytes [start, start + length) assembled in `buffer` from the chunks that cover them (zeros elsewhere). */
      readonly kind: 'read';
      readonly pieces: readonly ReadPiece[];
      readonly sealed: readonly SealedPiece[];
      readonly movable: readonly ArrayBuffer[];
      readonly chunkSize: number;
      readonly start: number;
      readonly length: number;
      readonly buffer: ArrayBuffer;
    };

/** A chunk to read for a copy: `slot` is its position in the image (chunk number), not in a unit. */
export type ReadPiece = LoadPiece;

/**
 * The file a restore writes, open twice: `fd` through the page cache, and `directFd` (when the file
 * system allows it) with O_DIRECT, which the block-aligned runs of chunks take straight to the disk.
 */
export interface RestoreTarget {
  readonly fd: number;
  readonly directFd: number | null;
  /** For each piece of the task, the positions (chunk numbers) in the image it is written at. */
  readonly positions: readonly (readonly number[])[];
}

export type ChunkReply =
  /** `buffer` (the unit) comes back for reuse. */
  | { readonly kind: 'hashed'; readonly ids: (string | null)[]; readonly buffer: ArrayBuffer }
  | { readonly kind: 'sealed'; readonly output: ArrayBuffer; readonly lengths: number[]; readonly buffer: ArrayBuffer }
  /**
   * Nothing is written into `writeTo` once a problem is found. `buffered`: the bytes written into it
   * through the page cache (see RestoreTarget), which the restore flushes as it goes.
   */
  | { readonly kind: 'loaded'; readonly problems: PieceProblem[]; readonly buffered: number }
  /** `buffer` holds the bytes asked for unless there are problems. */
  | { readonly kind: 'read'; readonly problems: PieceProblem[]; readonly buffer: ArrayBuffer }
  | { readonly kind: 'failed'; readonly message: string; readonly code?: string | undefined };

/** What crosses between the threads: a task or its reply, with the task's sequence number. */
export type SequencedTask = ChunkTask & { readonly sequence: number };
export type SequencedReply = ChunkReply & { readonly sequence: number };

interface Job {
  readonly task: ChunkTask;
  /** It runs on one of the first `spread` workers. */
  readonly spread: number;
  readonly resolve: (reply: ChunkReply) => void;
  readonly reject: (error: Error) => void;
}

// The worker is this folder's chunk-worker, compiled (.js) or run from source (.ts, under tsx: a
// worker thread does not inherit the loader hooks, so a small bootstrap registers tsx there first).
const FROM_SOURCE = extname(fileURLToPath(import.meta.url)) === '.ts';
const WORKER_URL = new URL(`./chunk-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);
const SOURCE_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi).then((tsx) => { tsx.register(); return import(workerData.workerUrl); });
`;

function startWorker(workerData: ChunkWorkerData): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return new Worker(SOURCE_BOOTSTRAP, { eval: true, workerData: { ...workerData, tsxApi, workerUrl: WORKER_URL.href } });
}

/** Tasks one worker holds at once: the next is already there when one is done. */
const TASKS_PER_WORKER = 3;

interface PoolWorker {
  readonly thread: Worker;
  /** Its tasks in hand, by sequence number. */
  readonly jobs: Map<number, Job>;
}

export class ChunkPool {
  private readonly workers: PoolWorker[] = [];
  private readonly waiting: Job[] = [];
  private nextSequence = 0;
  private closed = false;

  private readonly workerData: ChunkWorkerData;

  /** `size` workers at most; each is started when a task first needs it. */
  constructor(keys: RepositoryKeys, readonly size = availableParallelism()) {
    this.workerData = { encryptionKey: keys.encryption, idKey: keys.id };
  }

  /**
   * Runs `task` on the least busy of the first `spread` workers (all of them by default): an
   * operation bound by something else than the CPU keeps to fewer threads, and the others are
   * never started for it.
   */
  run(task: ChunkTask, spread = this.size): Promise<ChunkReply> {
    if (this.closed) return Promise.reject(new Error('the chunk pool is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ task, spread: Math.max(1, Math.min(spread, this.size)), resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((worker) => worker.thread.terminate()));
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const job = this.waiting[0]!;
      const worker = this.leastBusy(job.spread);
      if (worker.jobs.size >= TASKS_PER_WORKER) return;
      this.waiting.shift();
      const sequence = this.nextSequence++;
      worker.jobs.set(sequence, job);
      worker.thread.ref(); // tasks in hand keep the process alive
      worker.thread.postMessage({ ...job.task, sequence }, transferables(job.task));
    }
  }

  /** The least busy of the first `spread` workers: an idle one not started yet is started. */
  private leastBusy(spread: number): PoolWorker {
    const started = this.workers.slice(0, spread);
    const best = started.reduce<PoolWorker | undefined>((best, candidate) => (best === undefined || candidate.jobs.size < best.jobs.size ? candidate : best), undefined);
    if (best !== undefined && (best.jobs.size === 0 || started.length === spread)) return best;
    const worker: PoolWorker = { thread: startWorker(this.workerData), jobs: new Map() };
    worker.thread.on('message', (reply: SequencedReply) => this.finished(worker, reply));
    worker.thread.on('error', (error) => this.crashed(error));
    worker.thread.unref();
    this.workers.push(worker);
    return worker;
  }

  private finished(worker: PoolWorker, reply: SequencedReply): void {
    const job = worker.jobs.get(reply.sequence);
    worker.jobs.delete(reply.sequence);
    if (worker.jobs.size === 0) worker.thread.unref();
    job?.resolve(reply);
    if (!this.closed) this.dispatch();
  }

  private crashed(error: Error): void {
    this.closed = true;
    for (const worker of this.workers) {
      for (const job of worker.jobs.values()) job.reject(error);
      worker.jobs.clear();
    }
    for (const waiting of this.waiting.splice(0)) waiting.reject(error);
  }
}

/** The buffers a message carries, moved to the other thread rather than copied. */
export function transferables(message: ChunkTask | ChunkReply): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  if ('buffer' in message && message.buffer) buffers.push(message.buffer);
  if ('output' in message) buffers.push(message.output);
  if ('movable' in message) buffers.push(...message.movable);
  return buffers;
}
