/**
 * The index: which pack holds each chunk, and where in it. Index files are written once (a backup
 * writes one for the packs it added; garbage collection writes one for every pack it keeps) and read
 * all together. A chunk may be listed more than once (two backups in two processes stored it at
 * once, or a collection was interrupted): every listed copy is whole, and the first one is used —
 * the first in a pack that is there: a collection on a full disk deletes unused packs before it
 * rewrites the index files naming them, so a listed pack may be gone (then no chunk is taken as
 * stored in it, and a chunk found nowhere else is located there, to be reported missing).
 * Index files are derived data: each pack carries its own table, from which they can be rebuilt.
 * Packs no index file names are read from their own tables (unindexedPackTables) by the two that
 * need them: a loading that found an index file damaged or lost indexes them all again
 * (recoverUnindexedPacks); a collection keeps those holding a chunk in use and deletes the others.
 */
import { StoreError, type ObjectStore } from '../storage/object-store.js';
import { RepositoryError } from './errors.js';
import type { RepositoryKeys } from './keys.js';
import { INDEX_ID, indexName, PACK_ID } from './layout.js';
import { oldestLiveLock } from './locks.js';
import { isBlobEntry, newObjectId, packIds, readPackTable, type BlobLocation, type PackRecord } from './packs.js';
import { seal, unseal, UnsealError } from './sealing.js';

/** How an index object is named in messages and reports (the directory a local store keeps it in). */
export const indexFileLabel = (id: string) => `index/${id}`;

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
    private readonly store: ObjectStore,
    private readonly keys: RepositoryKeys,
    private readonly warn: IndexWarning,
    /** The index files read, and the one a repair wrote. */
    readonly indexIds: string[],
    /** The packs there are on disk (those a recovery read included). */
    private readonly present: Set<string>,
  ) {}

  /**
   * Reads every index file. Index files are derived data: a damaged one is reported (`warn`), the
   * packs it named are indexed again from their own tables in a new index file, and it is removed.
   */
  static async load(store: ObjectStore, keys: RepositoryKeys, warn: IndexWarning = () => {}): Promise<ChunkIndex> {
    const ids = await indexIds(store);
    const index = new ChunkIndex(store, keys, warn, ids.slice(), await packIds(store));
    const damaged: string[] = [];
    for (const id of ids) {
      let file: IndexFile;
      try {
        file = await readIndexFile(store, id, keys);
      } catch (error) {
        if (error instanceof StoreError && error.code === 'not_found') continue; // removed meanwhile (by a collection)
        if (!(error instanceof RepositoryError)) throw error;
        damaged.push(id);
        index.problems.push({ file: indexFileLabel(id), detail: error.message });
        warn(`index file ${indexFileLabel(id)} is damaged (${error.message}); rebuilding its part of the index from the packs`);
        continue;
      }
      for (const pack of file.packs) index.addPack(pack);
    }
    if (damaged.length > 0) {
      await index.recoverUnindexedPacks();
      try {
        await removeIndexFiles(store, damaged);
      } catch (error) {
        // Immutable repository: a damaged file still retained stays (reported again at each load).
        if (!(error instanceof StoreError && error.code === 'locked')) throw error;
        warn(`damaged index file(s) are retained (Object Lock) and stay until the retention ends: ${error.message}`);
      }
      index.indexIds.splice(0, index.indexIds.length, ...index.indexIds.filter((id) => !damaged.includes(id)));
    }
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

  /**
   * Where a chunk a backup needs is: from the index, or else (an index file was lost, or it names
   * only packs that are gone) from the tables of the packs no index file names, which are then
   * indexed again.
   */
  async locateNeeded(chunkId: string): Promise<BlobLocation | undefined> {
    const location = this.locations.get(chunkId);
    if ((location !== undefined && this.present.has(location.pack)) || this.unindexedScanned) return location;
    await this.recoverUnindexedPacks();
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

  /**
   * The tables, read from the packs themselves (their directories synced first, so that an index
   * written from them never names a pack a crash could still lose), of the packs on disk no index
   * file names. Such packs are left by a backup or collection that failed or died before its index,
   * or were named by a damaged or lost index file. Those written since the oldest running backup
   * began are left out: such a pack may be that backup's, not yet indexed by it (and deleted by it
   * if it fails), so no one else may index or delete it. A pack whose table cannot be read either
   * goes into `unreadablePacks` (and `problems`): it is kept as it is, never indexed nor deleted.
   */
  async unindexedPackTables(): Promise<PackRecord[]> {
    this.unindexedScanned = true;
    const since = await oldestLiveLock(this.store, 'backup');
    // A pack's time is the store's (when it was put); a lock's time is the taker's clock.
    const settled = (pack: { modifiedAt: number }) => since === undefined || pack.modifiedAt < since;
    const unreadable = new Set<string>();
    const tables = await rebuildPacks(this.store, this.keys, (pack) => !this.packs.has(pack.name) && settled(pack), unreadable);
    for (const packId of unreadable) {
      if (this.unreadablePacks.has(packId)) continue;
      this.unreadablePacks.add(packId);
      this.problems.push({ file: null, detail: `pack ${packId} is in no index file and its table cannot be read` });
      this.warn(`pack ${packId} is in no index file and its own table cannot be read`);
    }
    for (const pack of tables) this.present.add(pack.id);
    return tables;
  }

  /**
   * Indexes every pack on disk that no index file names (see unindexedPackTables) in one new index
   * file: after an index file was found damaged or lost. Harmless for the leftovers of a failed
   * backup or collection: the next collection deletes the packs nothing needs.
   */
  async recoverUnindexedPacks(): Promise<void> {
    const recovered = await this.unindexedPackTables();
    if (recovered.length === 0) return;
    for (const pack of recovered) this.addPack(pack);
    const id = await writeIndexFile(this.store, this.keys, recovered);
    this.indexIds.push(id);
    const what = `${recovered.length} pack(s) no readable index file named (${recovered.map((pack) => pack.id).join(', ')}) indexed again in ${indexFileLabel(id)}`;
    this.problems.push({ file: null, detail: what });
    this.warn(what);
  }
}

/**
 * The tables of the packs that `wanted` selects, read from the packs themselves (made durable first,
 * so that an index written from them never names a pack a crash could still lose); the ids of those
 * whose table cannot be read go into `unreadable`.
 */
export async function rebuildPacks(
  store: ObjectStore,
  keys: RepositoryKeys,
  wanted: (pack: { readonly name: string; readonly modifiedAt: number }) => boolean,
  unreadable: Set<string>,
): Promise<PackRecord[]> {
  const ids: string[] = [];
  for await (const pack of store.list('pack')) if (PACK_ID.test(pack.name) && wanted(pack)) ids.push(pack.name);
  if (ids.length === 0) return [];
  await store.barrier('pack');
  const packs: PackRecord[] = [];
  for (const id of ids.sort()) {
    try {
      packs.push({ id, blobs: await readPackTable(store, id, keys) });
    } catch (error) {
      if (error instanceof StoreError && error.code === 'not_found') continue; // removed meanwhile
      if (!(error instanceof RepositoryError)) throw error;
      unreadable.add(id);
    }
  }
  return packs;
}

/** The ids of the index objects there are, in order. */
export async function indexIds(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const { name } of store.list('index')) if (INDEX_ID.test(name)) ids.push(name);
  return ids.sort();
}

/** Writes a new index file naming these packs (which must already be durable), durably; answers its id. */
export async function writeIndexFile(store: ObjectStore, keys: RepositoryKeys, packs: readonly PackRecord[]): Promise<string> {
  const id = newObjectId();
  const content: IndexFile = { packs };
  await store.put('index', id, seal(Buffer.from(JSON.stringify(content)), indexName(id), keys.encryption));
  await store.barrier('index');
  return id;
}

export async function removeIndexFiles(store: ObjectStore, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await store.remove('index', ids);
  await store.barrier('index');
}

/** One index file, authenticated and checked; StoreError('not_found') when it is gone. */
export async function readIndexFile(store: ObjectStore, id: string, keys: RepositoryKeys): Promise<IndexFile> {
  const sealed = await store.get('index', id);
  let content: IndexFile;
  try {
    content = JSON.parse(unseal(sealed, indexName(id), keys.encryption).toString('utf8')) as IndexFile;
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
export async function readIndexPacks(store: ObjectStore, keys: RepositoryKeys, indexId: string): Promise<readonly PackRecord[]> {
  return (await readIndexFile(store, indexId, keys)).packs;
}
