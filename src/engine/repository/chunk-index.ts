/**
 * The index: which pack holds each chunk, and where in it. Index files are written once (a backup
 * writes one for the packs it added; garbage collection writes one for every pack it keeps) and read
 * all together. A chunk may be listed more than once (two backups in two processes stored it at
 * once, or a collection was interrupted): every listed copy is whole, and the first one is used —
 * the first in a pack that is there: a collection on a full disk deletes unused packs before it
 * rewrites the index files naming them, so a listed pack may be gone (then no chunk is taken as
 * stored in it, and a chunk found nowhere else is located there, to be reported missing).
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RepositoryError } from './errors.js';
import { syncDirectory, writeFileAtomically } from './files.js';
import type { RepositoryKeys } from './keys.js';
import { INDEX_DIRECTORY, INDEX_ID, indexName, indexPath, PACK_ID } from './layout.js';
import { isBlobEntry, newObjectId, packIdsOnDisk, type BlobLocation, type PackRecord } from './packs.js';
import { seal, unseal, UnsealError } from './sealing.js';

interface IndexFile {
  readonly packs: readonly PackRecord[];
}

export class ChunkIndex {
  private readonly locations = new Map<string, BlobLocation>();
  /** Every pack an index file names, with all its blobs. */
  readonly packs = new Map<string, PackRecord>();

  private constructor(
    readonly indexIds: readonly string[],
    /** The packs there are on disk. */
    private readonly present: ReadonlySet<string>,
  ) {}

  /** Reads every index file; one that cannot be read makes the whole index unusable (corrupt_index). */
  static load(root: string, keys: RepositoryKeys): ChunkIndex {
    const ids = readdirSync(join(root, INDEX_DIRECTORY)).filter((name) => INDEX_ID.test(name)).sort();
    const index = new ChunkIndex(ids, packIdsOnDisk(root));
    for (const id of ids) for (const pack of readIndexFile(root, id, keys).packs) index.addPack(pack);
    return index;
  }

  has(chunkId: string): boolean {
    return this.locations.has(chunkId);
  }

  /** Whether the chunk is stored: listed, in a pack that is there (a backup need not store it again). */
  stored(chunkId: string): boolean {
    const location = this.locations.get(chunkId);
    return location !== undefined && this.present.has(location.pack);
  }

  locate(chunkId: string): BlobLocation | undefined {
    return this.locations.get(chunkId);
  }

  addPack(pack: PackRecord): void {
    if (!this.packs.has(pack.id)) this.packs.set(pack.id, pack);
    const present = this.present.has(pack.id);
    for (const [chunkId, offset, length] of pack.blobs) {
      const known = this.locations.get(chunkId);
      if (known === undefined || (present && !this.present.has(known.pack))) this.locations.set(chunkId, { pack: pack.id, offset, length });
    }
  }
}

/** Writes a new index file naming these packs (which must already be durable); answers its id. */
export function writeIndexFile(root: string, keys: RepositoryKeys, packs: readonly PackRecord[]): string {
  const id = newObjectId();
  const content: IndexFile = { packs };
  writeFileAtomically(indexPath(root, id), seal(Buffer.from(JSON.stringify(content)), indexName(id), keys.encryption));
  return id;
}

export function removeIndexFiles(root: string, ids: readonly string[]): void {
  for (const id of ids) rmSync(indexPath(root, id), { force: true });
  if (ids.length > 0) syncDirectory(join(root, INDEX_DIRECTORY));
}

function readIndexFile(root: string, id: string, keys: RepositoryKeys): IndexFile {
  let content: IndexFile;
  try {
    content = JSON.parse(unseal(readFileSync(indexPath(root, id)), indexName(id), keys.encryption).toString('utf8')) as IndexFile;
  } catch (error) {
    if (error instanceof UnsealError || error instanceof SyntaxError) {
      throw new RepositoryError('corrupt_index', `Index file ${id} cannot be read: ${error.message}`);
    }
    throw error;
  }
  const valid =
    content !== null &&
    typeof content === 'object' &&
    Array.isArray(content.packs) &&
    content.packs.every((pack) => typeof pack?.id === 'string' && PACK_ID.test(pack.id) && Array.isArray(pack.blobs) && pack.blobs.every(isBlobEntry));
  if (!valid) throw new RepositoryError('corrupt_index', `Index file ${id} is not valid`);
  return content;
}

/** The packs one index file names (garbage collection deletes the files that name only unused packs). */
export function readIndexPacks(root: string, keys: RepositoryKeys, indexId: string): readonly PackRecord[] {
  return readIndexFile(root, indexId, keys).packs;
}
