/**
 * A small pool of worker threads (chunk-worker.ts) that store and load chunks, so that hashing,
 * compression and encryption use every core while the main thread reads and writes images. Tasks
 * go to the first idle worker; buffers move between threads without copies (transferred).
 */
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RepositoryKeys } from './keys.js';

export interface ChunkWorkerData {
  readonly root: string;
  readonly encryptionKey: Uint8Array | null;
  readonly idKey: Uint8Array;
}

export type ChunkTask =
  | { readonly kind: 'store'; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly kind: 'load'; readonly id: string; readonly expectedLength?: number };

export type ChunkReply =
  /** id null: an all-zero chunk, not stored. `buffer` comes back for reuse. */
  | { readonly kind: 'stored'; readonly id: string | null; readonly storedSize: number; readonly isNew: boolean; readonly buffer: ArrayBuffer }
  | { readonly kind: 'loaded'; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly kind: 'bad'; readonly problem: 'missing' | 'unreadable' | 'corrupt'; readonly detail: string }
  | { readonly kind: 'failed'; readonly message: string; readonly code?: string | undefined };

interface Job {
  readonly task: ChunkTask;
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

export class ChunkPool {
  private readonly idle: Worker[] = [];
  private readonly waiting: Job[] = [];
  private readonly running = new Map<Worker, Job>();
  private closed = false;

  constructor(root: string, keys: RepositoryKeys, readonly size = availableParallelism()) {
    const workerData: ChunkWorkerData = { root, encryptionKey: keys.encryption, idKey: keys.id };
    for (let i = 0; i < size; i++) {
      const worker = startWorker(workerData);
      worker.on('message', (reply: ChunkReply) => this.finished(worker, reply));
      worker.on('error', (error) => this.crashed(worker, error));
      worker.unref();
      this.idle.push(worker);
    }
  }

  run(task: ChunkTask): Promise<ChunkReply> {
    if (this.closed) return Promise.reject(new Error('the chunk pool is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.idle, ...this.running.keys()];
    this.idle.length = 0;
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const worker = this.idle.pop()!;
      const job = this.waiting.shift()!;
      this.running.set(worker, job);
      worker.ref(); // a task in hand keeps the process alive
      const transfer = job.task.kind === 'store' ? [job.task.buffer] : [];
      worker.postMessage(job.task, transfer);
    }
  }

  private finished(worker: Worker, reply: ChunkReply): void {
    const job = this.running.get(worker);
    this.running.delete(worker);
    worker.unref();
    if (!this.closed) this.idle.push(worker);
    job?.resolve(reply);
    this.dispatch();
  }

  private crashed(worker: Worker, error: Error): void {
    const job = this.running.get(worker);
    this.running.delete(worker);
    job?.reject(error);
    for (const waiting of this.waiting.splice(0)) waiting.reject(error);
    this.closed = true;
  }
}
