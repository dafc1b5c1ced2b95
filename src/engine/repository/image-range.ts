/**
 * A backup's image read by byte range, whatever the range's alignment to chunks: the chunks the range
 * touches are found in the index, their sealed bytes read from their packs, and a worker opens and
 * checks them into one buffer (a zero chunk, named by no id, reads as zeros). Used where the image is
 * wanted as bytes rather than as a file: a copy's source (copy.ts) and a restore into an RBD image
 * (backup-changes.ts: readImage).
 */
import type { ChunkIndex } from './chunk-index.js';
import type { ReadPiece } from './chunk-pool.js';
import { RepositoryError } from './errors.js';
import type { ManifestHeader } from './manifest.js';
import { readSealedPieces } from './piece-reads.js';
import { expectReply, plainLengthOf, problemError, type RepositoryContext } from './unit-work.js';

/**
 * Bytes [start, start + length) of the image `header` describes, into `buffer` (returned, perhaps
 * moved). `chunkIdAt` names the chunk at an image position (null: all zeros). A chunk no index names,
 * or one that fails its check, is thrown as a RepositoryError (`missing_chunk`, `corrupt_chunk`).
 */
export async function readImageRange(
  context: RepositoryContext,
  index: ChunkIndex,
  header: ManifestHeader,
  chunkIdAt: (position: number) => string | null | Promise<string | null>,
  start: number,
  length: number,
  buffer: ArrayBuffer,
): Promise<ArrayBuffer> {
  const pieces: ReadPiece[] = [];
  const first = Math.floor(start / header.chunkSize);
  const last = Math.ceil((start + length) / header.chunkSize) - 1;
  for (let position = first; position <= last; position++) {
    const id = await chunkIdAt(position);
    if (id === null) continue;
    const location = await index.locateNeeded(id);
    if (!location) throw new RepositoryError('missing_chunk', `Chunk ${id}: no pack holds it (it is in no index)`);
    pieces.push({ slot: position, id, ...location, plainLength: plainLengthOf(header, position) });
  }
  const { sealed, movable } = await readSealedPieces(context.store, pieces);
  const reply = expectReply(await context.pool.run({ kind: 'read', pieces, sealed, movable, chunkSize: header.chunkSize, start, length, buffer }), 'read');
  if (reply.problems.length > 0) throw problemError(reply.problems[0]!);
  return reply.buffer;
}
