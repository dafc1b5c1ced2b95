/**
 * How a chunk worker writes restored chunks into the target image (see chunk-worker.ts): runs of
 * chunks at consecutive positions, each written in the thread pool while the worker goes on; the zero
 * chunks stay holes. Block-aligned parts go straight to the disk (O_DIRECT) where the
 * target allows it: no page cache to fill and then flush, and nothing of the machine's other work
 * pushed out of it. The rest, and everything on a file system that refuses direct writes, goes
 * through the page cache.
 */
import { writeFullyInBackground } from './files.js';
import type { RestoreTarget } from './chunk-pool.js';

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
 * Run buffers not in use. A buffer is in use until its write is done, so there are as many as the
 * worker has runs being written (a few per task), each reused from run to run.
 */
const freeUnits: Buffer[] = [];

function takeUnit(bytes: number): Buffer {
  const unit = freeUnits.pop();
  return unit !== undefined && unit.length >= bytes ? unit : pageAlignedBuffer(bytes);
}

function releaseUnit(unit: Buffer): void {
  freeUnits.push(unit);
}

/** Set when the file system refused a direct write (EINVAL): this worker then writes through the page cache only. */
let directRefused = false;

/** A chunk's plain bytes and one position (chunk number) of the image it is written at. */
export interface Placement {
  readonly position: number;
  readonly plain: Buffer;
}

/** A run of consecutive chunks is written from one buffer of at most this size. */
const RUN_BYTES = 1024 * 1024;
/** Runs being written at once by one task (each holds a unit buffer). */
const RUNS_AT_ONCE = 4;

/**
 * Writes every placement: consecutive positions as one run, copied into a page-aligned unit buffer
 * (see writeRun), a few runs at a time. Resolves, once every write has settled, to the bytes written
 * through the page cache; the first failure is thrown after all have settled.
 */
export async function writePlacements(target: RestoreTarget, placements: Placement[], chunkSize: number): Promise<number> {
  placements.sort((a, b) => a.position - b.position);
  const writes = new Set<Promise<number>>();
  const settled: Promise<PromiseSettledResult<number>>[] = [];
  const maxRunChunks = Math.max(1, Math.floor(RUN_BYTES / chunkSize));
  for (let first = 0; first < placements.length; ) {
    let end = first + 1;
    while (end < placements.length && end - first < maxRunChunks && placements[end]!.position === placements[end - 1]!.position + 1) end++;
    const run = placements.slice(first, end);
    first = end;
    const length = run.reduce((sum, placement) => sum + placement.plain.length, 0);
    const unit = takeUnit(maxRunChunks * chunkSize); // one size, so that every buffer can be reused
    run.forEach((placement, at) => unit.set(placement.plain, at * chunkSize));
    while (writes.size >= RUNS_AT_ONCE) await Promise.race(writes).catch(() => {});
    const write = writeRun(target, unit.subarray(0, length), run[0]!.position * chunkSize).finally(() => {
      releaseUnit(unit); // only once its write has settled: nothing reads it any more
      writes.delete(write);
    });
    writes.add(write);
    settled.push(Promise.allSettled([write]).then(([result]) => result!));
  }
  let buffered = 0;
  for (const result of await Promise.all(settled)) {
    if (result.status === 'rejected') throw result.reason;
    buffered += result.value;
  }
  return buffered;
}

/** One run of chunks: its block-aligned part directly where allowed, the rest through the page cache. */
async function writeRun(target: Pick<RestoreTarget, 'fd' | 'directFd'>, run: Buffer, position: number): Promise<number> {
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
