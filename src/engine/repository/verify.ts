/**
 * Verifying backups: every manifest read and authenticated, then every chunk they name read from its
 * pack, authenticated and checked by the worker threads, in pack order; what is wrong is reported
 * chunk by chunk with the backups it affects.
 */
import type { LoadPiece } from './chunk-pool.js';
import type { BadChunk, VerifyOptions, VerifyReport } from './contract.js';
import { RepositoryError } from './errors.js';
import { acquireSharedLock } from './locks.js';
import { ManifestReader } from './manifest.js';
import { BATCHES_IN_FLIGHT_PER_WORKER, inBatches, readingWorkers, readSealedPieces } from './piece-reads.js';
import { expectReply, inLanes, plainLengthOf, type RepositoryContext } from './unit-work.js';

/** Reads and checks every chunk the chosen backups name (see Repository.verify). */
export async function verify(context: RepositoryContext, options: VerifyOptions = {}): Promise<VerifyReport> {
  const lock = await acquireSharedLock(context.store, 'read', options.signal);
  try {
    const ids = options.backupIds ?? (await context.backupIds());
    const backupsOfChunk = new Map<string, string[]>();
    const lengthOfChunk = new Map<string, number>();
    const badManifests: { backupId: string; detail: string }[] = [];
    // Per backup, the plain bytes of its distinct chunks: what checking it alone would read.
    const bytesByBackup: Record<string, number> = {};
    for (const backupId of ids) {
      try {
        const manifest = await ManifestReader.open(context.store, backupId, context.keys);
        await manifest.forEachChunk((id, position) => {
          if (id === null) return;
          const owners = backupsOfChunk.get(id) ?? [];
          const length = plainLengthOf(manifest.header, position);
          if (!owners.includes(backupId)) {
            owners.push(backupId);
            bytesByBackup[backupId] = (bytesByBackup[backupId] ?? 0) + length;
          }
          backupsOfChunk.set(id, owners);
          lengthOfChunk.set(id, length);
        });
      } catch (error) {
        if (!(error instanceof RepositoryError)) throw error;
        badManifests.push({ backupId, detail: error.message });
      }
    }
    const index = await context.loadIndex();
    const badChunks: BadChunk[] = [];
    const pieces: LoadPiece[] = [];
    for (const [id, backupIds] of backupsOfChunk) {
      const location = await index.locateNeeded(id);
      if (location) pieces.push({ slot: 0, id, ...location, plainLength: lengthOfChunk.get(id)! });
      else badChunks.push({ chunkId: id, problem: 'missing', detail: 'no pack holds it (it is in no index)', backupIds });
    }
    // In pack order, so that each pack is read from start to end.
    pieces.sort((a, b) => a.pack.localeCompare(b.pack) || a.offset - b.offset);
    const totalBytes = pieces.reduce((sum, piece) => sum + piece.plainLength, 0);
    let checkedBytes = 0;
    const batches = inBatches(pieces, (piece) => piece);
    const workers = readingWorkers(context.store, context.pool.size);
    await inLanes(context, batches.length, options.signal, async (batchIndex) => {
      const batch = batches[batchIndex]!;
      const { sealed, movable } = await readSealedPieces(context.store, batch);
      const reply = expectReply(await context.pool.run({ kind: 'load', pieces: batch, sealed, movable, chunkSize: context.chunkSize, writeTo: null }, workers), 'loaded');
      for (const problem of reply.problems) {
        badChunks.push({ chunkId: problem.id, problem: problem.problem, detail: problem.detail, backupIds: backupsOfChunk.get(problem.id)! });
      }
      checkedBytes += batch.reduce((sum, piece) => sum + piece.plainLength, 0);
      options.onProgress?.({ bytesDone: checkedBytes, bytesTotal: totalBytes });
    }, workers * BATCHES_IN_FLIGHT_PER_WORKER);
    badChunks.sort((a, b) => a.chunkId.localeCompare(b.chunkId));
    return {
      backupsChecked: ids.length,
      chunksChecked: backupsOfChunk.size,
      bytesChecked: checkedBytes,
      bytesByBackup,
      badChunks,
      badManifests,
      indexProblems: index.problems,
      ok: badChunks.length === 0 && badManifests.length === 0 && index.problems.length === 0,
    };
  } finally {
    await lock.release();
  }
}

