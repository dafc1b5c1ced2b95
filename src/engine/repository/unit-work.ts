/**
 * What the backup, restore and verification modules share: the repository's store, keys and worker
 * pool, the unit size chunks are handed to workers in, and running units in parallel lanes.
 */
import type { ObjectStore } from '../storage/object-store.js';
import type { ChunkIndex } from './chunk-index.js';
import type { ChunkPool, ChunkReply, PieceProblem } from './chunk-pool.js';
import { RepositoryError } from './errors.js';
import type { RepositoryKeys } from './keys.js';
import type { ManifestHeader } from './manifest.js';

/** A backup reads, and a restore writes, this much at a time per worker task (several chunks). */
export const UNIT_BYTES = 1024 * 1024;
/** Units in flight per worker: enough to keep every worker busy while the main thread reads or writes. */
export const UNITS_IN_FLIGHT_PER_WORKER = 4;

export interface RepositoryContext {
  readonly store: ObjectStore;
  readonly keys: RepositoryKeys;
  readonly pool: ChunkPool;
  readonly chunkSize: number;
  /** Bytes read and handed to a worker at once: whole chunks, at least UNIT_BYTES. */
  readonly unitBytes: number;
  readonly chunksPerUnit: number;
  /** The index; a damaged index file is reported and rebuilt from the packs (chunk-index.ts). */
  loadIndex(): Promise<ChunkIndex>;
  /** The ids of the backups whose manifests are there. */
  backupIds(): Promise<string[]>;
}

/**
 * Runs `work(0 … count − 1)`, `lanes` at a time (by default enough to keep every worker busy). After a failure no new item starts, and
 * the first error is thrown only once every item under way has finished: a restore's writes into
 * its target are then all done before the target is closed (a write after the close could land in
 * whatever file is opened next under the same descriptor number).
 */
export async function inLanes(
  context: RepositoryContext,
  count: number,
  signal: AbortSignal | undefined,
  work: (item: number) => Promise<void>,
  lanes = context.pool.size * UNITS_IN_FLIGHT_PER_WORKER,
): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < count && !failed) {
      if (signal?.aborted) throw new RepositoryError('aborted', 'Stopped before the end (interrupted)');
      try {
        await work(next++);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: lanes }, lane));
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Bytes of the chunk at `position` of the manifest's image (the last one may be short). */
export function plainLengthOf(header: ManifestHeader, position: number): number {
  return Math.min(header.chunkSize, header.diskSize - position * header.chunkSize);
}

/** The reply of the kind asked for, or the worker's failure as an error. */
export function expectReply<K extends ChunkReply['kind']>(reply: ChunkReply, kind: K): Extract<ChunkReply, { kind: K }> {
  if (reply.kind === kind) return reply as Extract<ChunkReply, { kind: K }>;
  if (reply.kind === 'failed') throw Object.assign(new Error(reply.message), { code: reply.code });
  throw new Error(`Unexpected answer "${reply.kind}" from a chunk worker`);
}

export function problemError(problem: PieceProblem): RepositoryError {
  return new RepositoryError(problem.problem === 'missing' ? 'missing_chunk' : 'corrupt_chunk', `Chunk ${problem.id}: ${problem.detail}`);
}
