/**
 * Reading many pieces of packs with few requests: pieces of one pack that lie close together are read
 * as one byte range, since a request to an object store costs far more than the bytes between two
 * chunks. Used by restore, verify and copy (piece-reads.ts) and by gc's rewrite of packs partly in use.
 */

/** Pieces of one pack this close together (bytes between them) are read in one request. */
export const MAX_GAP_BYTES = 256 * 1024;
/** A merged read is at most this long. */
export const MAX_RANGE_BYTES = 8 * 1024 * 1024;

export interface PackPiece {
  readonly pack: string;
  readonly offset: number;
  readonly length: number;
}

export interface PackRange<P extends PackPiece> {
  readonly pack: string;
  readonly offset: number;
  end: number;
  readonly pieces: P[];
}

/** The pieces grouped into ranges of one pack each (sorted by pack, then offset). */
export function closeRanges<P extends PackPiece>(pieces: readonly P[]): PackRange<P>[] {
  const ranges: PackRange<P>[] = [];
  const sorted = [...pieces].sort((a, b) => a.pack.localeCompare(b.pack) || a.offset - b.offset);
  for (const piece of sorted) {
    const last = ranges.at(-1);
    const end = piece.offset + piece.length;
    if (last && last.pack === piece.pack && piece.offset - last.end <= MAX_GAP_BYTES && end - last.offset <= MAX_RANGE_BYTES) {
      last.end = Math.max(last.end, end);
      last.pieces.push(piece);
    } else {
      ranges.push({ pack: piece.pack, offset: piece.offset, end, pieces: [piece] });
    }
  }
  return ranges;
}

/** A piece's bytes out of the bytes of the range that holds it. */
export function pieceOf(range: { readonly offset: number }, bytes: Buffer, piece: PackPiece): Buffer {
  return bytes.subarray(piece.offset - range.offset, piece.offset - range.offset + piece.length);
}
