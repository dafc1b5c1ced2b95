/**
 * How a chunk worker writes a restored unit into the target image (see chunk-worker.ts): the runs of
 * stored chunks, each written in the thread pool while the worker decrypts its next unit; the zero
 * chunks between them stay holes. Block-aligned parts go straight to the disk (O_DIRECT) where the
 * target allows it: no page cache to fill and then flush, and nothing of the machine's other work
 * pushed out of it. The rest, and everything on a file system that refuses direct writes, goes
 * through the page cache.
 */
import { writeFullyInBackground } from './files.js';
import type { LoadPiece, RestoreTarget } from './chunk-pool.js';

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
 * Unit buffers not in use. A unit's buffer is in use until its writes are done, so there are as many
 * as the worker holds tasks (a few), each reused from task to task.
 */
const freeUnits: Buffer[] = [];

/** A buffer for a unit of `bytes`; give it back with `writeUnit` or `releaseUnit`. */
export function takeUnit(bytes: number): Buffer {
  const unit = freeUnits.pop();
  return unit !== undefined && unit.length >= bytes ? unit : pageAlignedBuffer(bytes);
}

export function releaseUnit(unit: Buffer): void {
  freeUnits.push(unit);
}

/** Set when the file system refused a direct write (EINVAL): this worker then writes through the page cache only. */
let directRefused = false;

/**
 * Writes the stored chunks of a unit assembled in `unit` (piece `slot` at `slot × chunkSize`) and
 * releases the unit. Resolves to the bytes written through the page cache.
 */
export async function writeUnit(target: RestoreTarget, unit: Buffer, pieces: readonly LoadPiece[], chunkSize: number): Promise<number> {
  const writes = runsOf(pieces.map((piece) => piece.slot)).map(([first, last]) => {
    const start = first * chunkSize;
    const end = pieces.find((piece) => piece.slot === last)!.plainLength + last * chunkSize;
    return writeRun(target, unit.subarray(start, end), target.unitStart + start);
  });
  // Settled, not all: on a failure the unit is not reused while another of its writes still reads it.
  const settled = await Promise.allSettled(writes);
  releaseUnit(unit);
  let buffered = 0;
  for (const result of settled) {
    if (result.status === 'rejected') throw result.reason;
    buffered += result.value;
  }
  return buffered;
}

/** One run of chunks: its block-aligned part directly where allowed, the rest through the page cache. */
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
