/**
 * `dbp repair index`: the index rebuilt from the packs' own tables. Run alone in the repository (it
 * holds the collection lock): one new index file naming every pack on disk whose table can be read —
 * plus, for a pack whose table cannot be read, what a readable old index file says of it — is written
 * durably first, and only then are the old index files removed. A crash at any point leaves either
 * the old files, or the old and the new (duplicates are allowed), or the new one.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rebuildPacks, readIndexFile, removeIndexFiles, writeIndexFile } from './chunk-index.js';
import type { IndexRepairReport } from './contract.js';
import { RepositoryError } from './errors.js';
import type { RepositoryKeys } from './keys.js';
import { INDEX_DIRECTORY, INDEX_ID } from './layout.js';
import type { PackRecord } from './packs.js';

export function rebuildIndex(root: string, keys: RepositoryKeys): IndexRepairReport {
  const oldIds = readdirSync(join(root, INDEX_DIRECTORY)).filter((name) => INDEX_ID.test(name)).sort();
  const damagedIndexFiles: string[] = [];
  const fromOldFiles = new Map<string, PackRecord>();
  for (const id of oldIds) {
    try {
      for (const pack of readIndexFile(root, id, keys).packs) if (!fromOldFiles.has(pack.id)) fromOldFiles.set(pack.id, pack);
    } catch (error) {
      if (!(error instanceof RepositoryError)) throw error;
      damagedIndexFiles.push(`${INDEX_DIRECTORY}/${id}`);
    }
  }
  const unreadable = new Set<string>();
  const packs = rebuildPacks(root, keys, () => true, unreadable);
  // A pack whose own table is damaged keeps what an old index file says of it (its blobs may still be whole).
  for (const packId of unreadable) {
    const known = fromOldFiles.get(packId);
    if (known) packs.push(known);
  }
  const written = packs.length > 0 ? writeIndexFile(root, keys, packs) : null;
  removeIndexFiles(root, oldIds);
  return {
    packsIndexed: packs.length,
    chunksIndexed: packs.reduce((sum, pack) => sum + pack.blobs.length, 0),
    indexFile: written === null ? null : `${INDEX_DIRECTORY}/${written}`,
    indexFilesReplaced: oldIds.length,
    damagedIndexFiles,
    unreadablePacks: [...unreadable].sort(),
  };
}
