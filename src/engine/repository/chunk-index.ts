/**
 * The index: which pack holds each chunk, and where in it. Index files are written once (a backup
 * writes one for the packs it added; garbage collection writes one for every pack it keeps) and read
 * all together. A chunk may be listed more than once (two backups in two processes stored it at
 * once, or a collection was interrupted): every listed copy is whole, and the first one is used.
 * Index files are derived data: each pack carries its own table, from which they can be rebuilt.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RepositoryError } from './errors.js';
import { syncDirectory, writeFileAtomically } from './files.js';
import type { RepositoryKeys } from './keys.js';
import { INDEX_DIRECTORY, INDEX_ID, indexName, indexPath, PACK_ID, packPath, PACKS_DIRECTORY } from './layout.js';
import { oldestLiveLock } from './locks.js';
import { isBlobEntry, newObjectId, readPackTable, type BlobLocation, type PackRecord } from './packs.js';
import { seal, unseal, UnsealError } from './sealing.js';

interface IndexFile {
  readonly packs: readonly PackRecord[];
}

/** Something wrong with the index that loading found (and mended where it could). */
export interface IndexProblem {
  /** The index file concerned (`index/<id>`), or null when a pack is in no index file at all. */
  readonly file: string | null;
  readonly detail: string;
}

/** Called with one line for each damaged index file found and each repair made. */
export type IndexWarning = (message: string) => void;

export class ChunkIndex {
  private readonly locations = new Map<string, BlobLocation>();
  /** Every pack an index file names, with all its blobs. */
  readonly packs = new Map<string, PackRecord>();
  /** What loading found wrong (damaged index files, packs in no index file that a backup needs). */
  readonly problems: IndexProblem[] = [];
  /** Packs in no index file whose own table cannot be read either (see recoverUnindexedPacks). */
  readonly unreadablePacks = new Set<string>();
  private unindexedScanned = false;

  private constructor(
    private readonly root: string,
    private readonly keys: RepositoryKeys,
    private readonly warn: IndexWarning,
    /** The index files read, and the one a repair wrote. */
    readonly indexIds: string[],
  ) {}

  /**
   * Reads every index file. Index files are derived data: a damaged one is reported (`warn`), the
   * packs it named are indexed again from their own tables in a new index file, and it is removed.
   */
  static load(root: string, keys: RepositoryKeys, warn: IndexWarning = () => {}): ChunkIndex {
    const ids = readdirSync(join(root, INDEX_DIRECTORY)).filter((name) => INDEX_ID.test(name)).sort();
    const index = new ChunkIndex(root, keys, warn, ids.slice());
    const damaged: string[] = [];
    for (const id of ids) {
      let file: IndexFile;
      try {
        file = readIndexFile(root, id, keys);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile (by a collection)
        if (!(error instanceof RepositoryError)) throw error;
        damaged.push(id);
        index.problems.push({ file: `${INDEX_DIRECTORY}/${id}`, detail: error.message });
        warn(`index file ${INDEX_DIRECTORY}/${id} is damaged (${error.message}); rebuilding its part of the index from the packs`);
        continue;
      }
      for (const pack of file.packs) index.addPack(pack);
    }
    if (damaged.length > 0) {
      index.recoverUnindexedPacks();
      removeIndexFiles(root, damaged);
      index.indexIds.splice(0, index.indexIds.length, ...index.indexIds.filter((id) => !damaged.includes(id)));
    }
    return index;
  }

  has(chunkId: string): boolean {
    return this.locations.has(chunkId);
  }

  locate(chunkId: string): BlobLocation | undefined {
    return this.locations.get(chunkId);
  }

  /**
   * Where a chunk a backup needs is: from the index, or else (an index file was lost) from the
   * tables of the packs no index file names, which are then indexed again.
   */
  locateNeeded(chunkId: string): BlobLocation | undefined {
    const location = this.locations.get(chunkId);
    if (location !== undefined || this.unindexedScanned) return location;
    this.recoverUnindexedPacks();
    return this.locations.get(chunkId);
  }

  addPack(pack: PackRecord): void {
    if (!this.packs.has(pack.id)) this.packs.set(pack.id, pack);
    for (const [chunkId, offset, length] of pack.blobs) {
      if (!this.locations.has(chunkId)) this.locations.set(chunkId, { pack: pack.id, offset, length });
    }
  }

  /**
   * Indexes every pack on disk that no index file names, from the pack's own table, in one new
   * index file (after syncing the packs' directories, so that it never names a pack a crash could
   * still lose). Such packs are left by a backup that died before its index (harmless to index:
   * a collection drops their unused chunks) or were named by a damaged or lost index file.
   */
  recoverUnindexedPacks(): void {
    this.unindexedScanned = true;
    // A pack written since a running backup began may be that backup's, not yet indexed by it (and
    // removed by it if it fails): it is left to that backup.
    const since = oldestLiveLock(this.root, 'backup');
    const settled = (packId: string) => {
      try {
        return since === undefined || statSync(packPath(this.root, packId)).mtimeMs < since;
      } catch {
        return false; // removed meanwhile
      }
    };
    const recovered = rebuildPacks(this.root, this.keys, (packId) => !this.packs.has(packId) && settled(packId), this.unreadablePacks);
    for (const packId of this.unreadablePacks) {
      this.problems.push({ file: null, detail: `pack ${packId} is in no index file and its table cannot be read` });
      this.warn(`pack ${packId} is in no index file and its own table cannot be read`);
    }
    if (recovered.length === 0) return;
    for (const pack of recovered) this.addPack(pack);
    const id = writeIndexFile(this.root, this.keys, recovered);
    this.indexIds.push(id);
    const what = `${recovered.length} pack(s) no readable index file named (${recovered.map((pack) => pack.id).join(', ')}) indexed again in ${INDEX_DIRECTORY}/${id}`;
    this.problems.push({ file: null, detail: what });
    this.warn(what);
  }
}

/**
 * The tables of the packs on disk that `wanted` selects, read from the packs themselves (their
 * directories synced first); the ids of those whose table cannot be read go into `unreadable`.
 */
export function rebuildPacks(root: string, keys: RepositoryKeys, wanted: (packId: string) => boolean, unreadable: Set<string>): PackRecord[] {
  const packs: PackRecord[] = [];
  const packsRoot = join(root, PACKS_DIRECTORY);
  for (const directory of readdirSync(packsRoot)) {
    const ids = readdirSync(join(packsRoot, directory)).filter((name) => PACK_ID.test(name) && wanted(name));
    if (ids.length === 0) continue;
    syncDirectory(join(packsRoot, directory));
    for (const id of ids) {
      try {
        packs.push({ id, blobs: readPackTable(root, id, keys) });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        if (!(error instanceof RepositoryError)) throw error;
        unreadable.add(id);
      }
    }
  }
  if (packs.length > 0) syncDirectory(packsRoot);
  return packs;
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

export function readIndexFile(root: string, id: string, keys: RepositoryKeys): IndexFile {
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
