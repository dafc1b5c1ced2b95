/**
 * Taking a backup: the image is read in units of several chunks; worker threads hash them, and seal
 * the ones the index does not know yet, which are gathered into packs. The backup exists once its
 * packs, then an index naming them, then its manifest are durable.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { writeIndexFile } from './chunk-index.js';
import type { SealPiece } from './chunk-pool.js';
import type { BackupOptions, BackupResult } from './contract.js';
import { RepositoryError } from './errors.js';
import { acquireSharedLock } from './locks.js';
import { ManifestWriter, summaryOf } from './manifest.js';
import { newObjectId, PackWriter } from './packs.js';
import { SEAL_OVERHEAD } from './sealing.js';
import { expectReply, UNITS_IN_FLIGHT_PER_WORKER, type RepositoryContext } from './unit-work.js';

/** Backs up the image at `options.sourcePath` under a `backup` lock (see Repository.backup). */
export async function backUp(context: RepositoryContext, options: BackupOptions): Promise<BackupResult> {
  const startedAt = Math.floor(Date.now() / 1000);
  let source: FileHandle;
  try {
    source = await open(options.sourcePath, 'r');
  } catch (error) {
    throw new RepositoryError('source_unreadable', `Cannot read ${options.sourcePath}: ${(error as Error).message}`);
  }
  const lock = await acquireSharedLock(context.store, 'backup', options.signal).catch(async (error) => {
    await source.close();
    throw error;
  });
  const packs = new PackWriter(context.store, context.keys, context.chunkSize + SEAL_OVERHEAD);
  const outputs: ArrayBuffer[] = [];
  let manifest: ManifestWriter | undefined;
  // Until an index names its packs no one else can use them: a failure before that deletes them.
  let indexed = false;
  try {
    const index = await context.loadIndex();
    const { size: expectedSize } = await source.stat();
    manifest = await ManifestWriter.create(context.store, context.keys, newObjectId());
    const chunkList = manifest;
    // Chunks this backup is storing: a later unit with the same chunk only names it.
    const storing = new Set<string>();
    let newChunks = 0;
    let newStoredBytes = 0;
    const diskSize = await readInUnits(context, source, expectedSize, options, async (unitIndex, buffer, length) => {
      const hashed = expectReply(await context.pool.run({ kind: 'hash', buffer, length, chunkSize: context.chunkSize }), 'hashed');
      chunkList.addUnit(unitIndex, hashed.ids);
      const pieces: SealPiece[] = [];
      hashed.ids.forEach((id, slot) => {
        if (id === null || index.stored(id) || storing.has(id)) return;
        storing.add(id);
        pieces.push({ slot, id });
      });
      if (pieces.length === 0) return hashed.buffer;
      const output = outputs.pop() ?? new ArrayBuffer(context.unitBytes + context.chunksPerUnit * SEAL_OVERHEAD);
      const sealed = expectReply(await context.pool.run({ kind: 'seal', buffer: hashed.buffer, length, chunkSize: context.chunkSize, pieces, output }), 'sealed');
      let offset = 0;
      for (const [k, piece] of pieces.entries()) {
        const blobLength = sealed.lengths[k]!;
        await packs.add(piece.id, new Uint8Array(sealed.output, offset, blobLength));
        offset += blobLength;
        newChunks += 1;
        newStoredBytes += blobLength;
      }
      outputs.push(sealed.output);
      return sealed.buffer;
    });
    // Packs, then the index naming them, then the manifest naming their chunks: each durable before the next.
    const written = await packs.finish();
    if (written.length > 0) {
      await writeIndexFile(context.store, context.keys, written);
      indexed = true;
    }
    const header = await manifest.finish({ startedAt, createdAt: Math.floor(Date.now() / 1000), diskSize, chunkSize: context.chunkSize, tags: { ...options.tags } });
    return { ...summaryOf(header), newChunks, newStoredBytes };
  } catch (error) {
    await manifest?.abandon().catch(() => {});
    // Once indexed, another backup may already name its chunks: then they stay, for gc to judge.
    if (indexed) await packs.settle();
    else await packs.discard();
    throw error;
  } finally {
    await lock.release();
    await source.close();
  }
}


/**
 * Reads the source to its end in units, through a fixed set of buffers (memory does not grow with
 * the image), several units in flight; `handle` gives each unit's buffer back when done with it.
 * Answers the number of bytes read.
 */
async function readInUnits(
  context: RepositoryContext,
  source: FileHandle,
  expectedSize: number,
  options: BackupOptions,
  handle: (unitIndex: number, buffer: ArrayBuffer, length: number) => Promise<ArrayBuffer>,
): Promise<number> {
  const free = Array.from({ length: context.pool.size * UNITS_IN_FLIGHT_PER_WORKER }, () => new ArrayBuffer(context.unitBytes));
  const inFlight = new Set<Promise<void>>();
  let firstError: unknown;
  let position = 0;
  for (let unitIndex = 0; ; unitIndex++) {
    if (options.signal?.aborted) firstError ??= new RepositoryError('aborted', 'The backup was stopped');
    while (free.length === 0 && firstError === undefined) await Promise.race(inFlight);
    if (firstError !== undefined) break;
    const buffer = free.pop()!;
    const view = new Uint8Array(buffer);
    let length = 0;
    while (length < context.unitBytes) {
      const { bytesRead } = await source.read(view, length, context.unitBytes - length, position + length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length === 0) break;
    // A failed unit stops the reading; the first error is thrown once every unit in flight is done.
    const task = handle(unitIndex, buffer, length).then(
      (returned) => void free.push(returned),
      (error: unknown) => void (firstError ??= error),
    );
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
    position += length;
    options.onProgress?.({ bytesDone: position, bytesTotal: Math.max(expectedSize, position) });
    if (length < context.unitBytes) break;
  }
  await Promise.all(inFlight);
  if (firstError !== undefined) throw firstError;
  return position;
}

