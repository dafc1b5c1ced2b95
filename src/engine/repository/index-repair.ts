/**
 * `dbp repair index`: the index rebuilt from the packs' own tables. Run alone in the repository (it
 * holds the collection lock): one new index file naming every pack there is whose table can be read —
 * plus, for a pack whose table cannot be read, what a readable old index file says of it — is written
 * durably first, and only then are the old index files removed. A crash at any point leaves either
 * the old files, or the old and the new (duplicates are allowed), or the new one.
 */
import { StoreError, type ObjectStore } from '../storage/object-store.js';
import { indexFileLabel, indexIds, rebuildPacks, readIndexFile, removeIndexFiles, writeIndexFile } from './chunk-index.js';
import type { IndexRepairReport } from './contract.js';
import { RepositoryError } from './errors.js';
import type { RepositoryKeys } from './keys.js';
import type { PackRecord } from './packs.js';

export async function rebuildIndex(store: ObjectStore, keys: RepositoryKeys): Promise<IndexRepairReport> {
  const oldIds = await indexIds(store);
  const damagedIndexFiles: string[] = [];
  const fromOldFiles = new Map<string, PackRecord>();
  for (const id of oldIds) {
    try {
      for (const pack of (await readIndexFile(store, id, keys)).packs) if (!fromOldFiles.has(pack.id)) fromOldFiles.set(pack.id, pack);
    } catch (error) {
      if (!(error instanceof RepositoryError)) throw error;
      damagedIndexFiles.push(indexFileLabel(id));
    }
  }
  const unreadable = new Set<string>();
  const packs = await rebuildPacks(store, keys, () => true, unreadable);
  // A pack whose own table is damaged keeps what an old index file says of it (its blobs may still be whole).
  for (const packId of unreadable) {
    const known = fromOldFiles.get(packId);
    if (known) packs.push(known);
  }
  const written = packs.length > 0 ? await writeIndexFile(store, keys, packs) : null;
  try {
    await removeIndexFiles(store, oldIds);
  } catch (error) {
    // Immutable repository: old index files still retained stay beside the new one (duplicates are allowed).
    if (!(error instanceof StoreError && error.code === 'locked')) throw error;
  }
  return {
    packsIndexed: packs.length,
    chunksIndexed: packs.reduce((sum, pack) => sum + pack.blobs.length, 0),
    indexFile: written === null ? null : indexFileLabel(written),
    indexFilesReplaced: oldIds.length,
    damagedIndexFiles,
    unreadablePacks: [...unreadable].sort(),
  };
}
