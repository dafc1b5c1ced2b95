/**
 * The index: which pack holds each chunk, and where in it. Index files are written once (a backup
 * writes one for the packs it added; garbage collection writes one for every pack it keeps) and read
 * all together. A chunk may be listed more than once (two backups in two processes stored it at
 * once, or a collection was interrupted): every listed copy is whole, and the first one is used.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RepositoryError } from './errors.js';
import { syncDirectory, writeFileAtomically } from './files.js';
import type { RepositoryKeys } from './keys.js';
import { INDEX_DIRECTORY, INDEX_ID, indexName, indexPath, PACK_ID } from './layout.js';
import { isBlobEntry, newObjectId, type BlobLocation, type PackRecord } from './packs.js';
import { seal, unseal, UnsealError } from './sealing.js';

interface IndexFile {
  readonly packs: readonly PackRecord[];
}

export class ChunkIndex {
  private readonly locations = new Map<string, BlobLocation>();
  /** Every pack an index file names, with all its blobs. */
  readonly packs = new Map<string, PackRecord>();

  private constructor(readonly indexIds: readonly string[]) {}

  /** Reads every index file; one that cannot be read makes the whole index unusable (corrupt_index). */
  static load(root: string, keys: RepositoryKeys): ChunkIndex {
    const ids = readdirSync(join(root, INDEX_DIRECTORY)).filter((name) => INDEX_ID.test(name)).sort();
    const index = new ChunkIndex(ids);
    for (const id of ids) for (const pack of readIndexFile(root, id, keys).packs) index.addPack(pack);
    return index;
  }

  has(chunkId: string): boolean {
    return this.locations.has(chunkId);
  }

  locate(chunkId: string): BlobLocation | undefined {
    return this.locations.get(chunkId);
  }

  addPack(pack: PackRecord): void {
    if (!this.packs.has(pack.id)) this.packs.set(pack.id, pack);
    for (const [chunkId, offset, length] of pack.blobs) {
      if (!this.locations.has(chunkId)) this.locations.set(chunkId, { pack: pack.id, offset, length });
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
