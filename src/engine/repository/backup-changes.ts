/**
 * Backups that read only part of the image (an RBD snapshot's changed or allocated extents), and
 * reading a backup's image back as runs of non-zero chunks (a restore into an RBD image).
 *
 * A partial backup goes a manifest segment at a time: the segment's chunk ids are the base backup's
 * (or all zero without a base); the chunks the extents touch are read, packed back to back into
 * units, hashed and sealed like any backup's (backup.ts: UnitStorer) and their new ids put in place.
 * The manifest it writes names every chunk of the image, so a restore, a verification or a copy
 * never needs to know it was partial.
 */
import { storeBackup } from './backup.js';
import type { BackupSummary, ChangesBackupOptions, ChangesBackupResult, ProgressListener } from './contract.js';
import { RepositoryError } from './errors.js';
import { acquireSharedLock } from './locks.js';
import { ManifestReader, SEGMENT_CHUNKS, summaryOf } from './manifest.js';
import { readImageRange } from './image-range.js';
import { inLanes, type RepositoryContext } from './unit-work.js';

/** [first chunk, end chunk) runs, sorted, merged and within the image. */
export function chunkRuns(extents: ChangesBackupOptions['extents'], chunkSize: number, chunkCount: number): [number, number][] {
  const runs = extents
    .filter((extent) => extent.length > 0)
    .map((extent): [number, number] => [Math.floor(extent.offset / chunkSize), Math.min(chunkCount, Math.ceil((extent.offset + extent.length) / chunkSize))])
    .filter(([first, end]) => first < end)
    .sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const run of runs) {
    const last = merged.at(-1);
    if (last && run[0] <= last[1]) last[1] = Math.max(last[1], run[1]);
    else merged.push([run[0], run[1]]);
  }
  return merged;
}

/** The runs inside [first, end), cut into batches of at most `perBatch` chunks (one unit each). */
function batchesIn(runs: readonly [number, number][], first: number, end: number, perBatch: number): [number, number][][] {
  const batches: [number, number][][] = [];
  let batch: [number, number][] = [];
  let inBatch = 0;
  for (const [from, to] of runs) {
    for (let at = Math.max(from, first); at < Math.min(to, end); ) {
      const take = Math.min(perBatch - inBatch, Math.min(to, end) - at);
      batch.push([at, at + take]);
      inBatch += take;
      at += take;
      if (inBatch === perBatch) {
        batches.push(batch);
        batch = [];
        inBatch = 0;
      }
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export async function backUpChanges(context: RepositoryContext, options: ChangesBackupOptions): Promise<ChangesBackupResult> {
  const { chunkSize } = context;
  const { diskSize } = options;
  if (!Number.isSafeInteger(diskSize) || diskSize < 0) throw new RangeError(`Bad image size ${diskSize}`);
  const chunkCount = Math.ceil(diskSize / chunkSize);
  const runs = chunkRuns(options.extents, chunkSize, chunkCount);
  const base = options.baseBackupId === undefined ? undefined : await ManifestReader.open(context.store, options.baseBackupId, context.keys);
  if (base && (base.header.chunkSize !== chunkSize || base.header.diskSize !== diskSize)) {
    throw new RepositoryError(
      'base_mismatch',
      `Backup ${base.header.id} holds an image of ${base.header.diskSize} bytes in ${base.header.chunkSize}-byte chunks, not ${diskSize} in ${chunkSize}: it cannot be the base`,
    );
  }
  const bytesTotal = runs.reduce((sum, [first, end]) => sum + Math.min(end * chunkSize, diskSize) - first * chunkSize, 0);
  let chunksRead = 0;
  let bytesRead = 0;
  const stored = await storeBackup(context, options, async (units, manifest) => {
    const free: ArrayBuffer[] = [];
    for (let segment = 0; segment * SEGMENT_CHUNKS < chunkCount; segment++) {
      const first = segment * SEGMENT_CHUNKS;
      const end = Math.min(chunkCount, first + SEGMENT_CHUNKS);
      const ids = base ? await base.segmentIds(segment) : new Array<string | null>(end - first).fill(null);
      const batches = batchesIn(runs, first, end, context.chunksPerUnit);
      await inLanes(context, batches.length, options.signal, async (b) => {
        const buffer = free.pop() ?? new ArrayBuffer(context.unitBytes);
        const unit = new Uint8Array(buffer);
        // The batch's runs are asked for all at once, each into its place in the unit: each read waits
        // on the source, not on this process.
        let length = 0;
        const reads: Promise<void>[] = [];
        for (const [from, to] of batches[b]!) {
          const position = from * chunkSize;
          const bytes = Math.min(to * chunkSize, diskSize) - position;
          reads.push(options.read(position, bytes, unit.subarray(length, length + bytes)));
          length += bytes;
        }
        await Promise.all(reads);
        const result = await units.store(buffer, length);
        let k = 0;
        for (const [from, to] of batches[b]!) for (let chunk = from; chunk < to; chunk++) ids[chunk - first] = result.ids[k++]!;
        free.push(result.buffer);
        chunksRead += k;
        bytesRead += length;
        options.onProgress?.({ bytesDone: bytesRead, bytesTotal });
      });
      manifest.addUnit(segment, ids);
    }
    return diskSize;
  });
  return { ...stored, chunksRead, bytesRead };
}

/** See Repository.readImage. */
export async function readImage(
  context: RepositoryContext,
  backupId: string,
  write: (position: number, bytes: Uint8Array) => Promise<void>,
  options: { signal?: AbortSignal; onProgress?: ProgressListener } = {},
): Promise<BackupSummary> {
  const lock = await acquireSharedLock(context.store, 'read', options.signal);
  try {
    const manifest = await ManifestReader.open(context.store, backupId, context.keys);
    const { header } = manifest;
    const index = await context.loadIndex();
    let done = 0;
    for (let segment = 0; segment < header.segments.length; segment++) {
      const ids = await manifest.segmentIds(segment);
      const first = segment * SEGMENT_CHUNKS;
      const present: [number, number][] = [];
      ids.forEach((id, at) => {
        if (id === null) return;
        const last = present.at(-1);
        if (last && last[1] === first + at) last[1] += 1;
        else present.push([first + at, first + at + 1]);
      });
      const batches = batchesIn(present, first, first + ids.length, context.chunksPerUnit);
      await inLanes(context, batches.length, options.signal, async (b) => {
        for (const [from, to] of batches[b]!) {
          const start = from * header.chunkSize;
          const length = Math.min(to * header.chunkSize, header.diskSize) - start;
          const buffer = await readImageRange(context, index, header, (position) => ids[position - first] ?? null, start, length, new ArrayBuffer(length));
          await write(start, new Uint8Array(buffer, 0, length));
          done += length;
          options.onProgress?.({ bytesDone: done, bytesTotal: header.diskSize });
        }
      });
    }
    return summaryOf(header);
  } finally {
    await lock.release();
  }
}
