/**
 * Garbage collection: keeps exactly the chunks some manifest names, one copy each. It runs alone
 * (under the gc lock, see locks.ts) and in an order chosen so that
 * - it needs no free space before it has freed some: first it only deletes — what interrupted writes
 *   left (temporary files), then
 *   every pack nothing needs (no chunk of it is where the index finds a chunk a manifest names;
 *   this includes the packs a failed or killed backup or collection left unindexed, read from their
 *   own tables as an index recovery reads them: one holding a chunk in use that no indexed pack on
 *   disk holds, its index file lost, is kept and indexed again), the index files that name nothing
 *   else going first; a pack an index file still names may go before that file
 *   is rewritten, because a backup only takes a chunk as stored when its pack is there;
 * - packs partly in use are rewritten (their chunks in use copied, sealed as they are, into new
 *   packs) only when the disk has room for them; otherwise, or when the disk fills up meanwhile, the
 *   new packs are deleted, the old ones kept whole, and the report says so in `notes`;
 * - then one index of everything kept is written, then the old index files and the rewritten packs'
 *   originals are deleted.
 * A kill at any point leaves every chunk a manifest names in an indexed pack, and at most one
 * collection's new packs unindexed, which the next collection deletes before anything else.
 *
 * In an immutable repository (`retention`) an object still retained is never asked to be deleted: an
 * unused pack stays whole in the index, a pack partly in use is not rewritten (its copy could not
 * replace it), an index file stays beside the new one (an index file naming a pack that is gone is
 * harmless: ChunkIndex takes no chunk as stored there). What was left is said in `notes`; a removal
 * the store refuses all the same is left too, never a failure.
 */
import { StoreError, type ObjectKind, type ObjectStore } from '../storage/object-store.js';
import { ChunkIndex, readIndexPacks, removeIndexFiles, writeIndexFile } from './chunk-index.js';
import type { GcReport, ProgressListener } from './contract.js';
import { RepositoryError } from './errors.js';
import type { RetentionPeriod } from './immutability.js';
import type { RepositoryKeys } from './keys.js';
import { closeRanges, pieceOf } from './pack-ranges.js';
import { packSizes, PackWriter, removePacks, type BlobEntry, type PackRecord } from './packs.js';
import { SEAL_OVERHEAD } from './sealing.js';

export interface GcContext {
  readonly store: ObjectStore;
  readonly keys: RepositoryKeys;
  readonly chunkSize: number;
  /** The chunks the manifests name (asked once the temporary files are gone). */
  readonly referenced: () => Promise<Set<string>>;
  /** The index (asked next): a damaged index file is reported and its packs indexed again (chunk-index.ts). */
  readonly loadIndex: () => Promise<ChunkIndex>;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ProgressListener | undefined;
  /** An immutable repository's period: objects still retained are left (see above). */
  readonly retention?: RetentionPeriod | undefined;
}

/** The kinds whose interrupted writes a collection clears away. */
const LEFTOVER_KINDS: readonly ObjectKind[] = ['manifest', 'index', 'pack'];

/** Room asked for beyond the rewritten packs: the new index file (about this much per chunk kept) and some slack. */
const INDEX_BYTES_PER_CHUNK = 160;
const SLACK_BYTES = 1024 * 1024;

interface PartlyUsed {
  readonly pack: PackRecord;
  readonly wanted: readonly BlobEntry[];
}

export async function collectGarbage(context: GcContext): Promise<GcReport> {
  const { store, keys, signal, onProgress } = context;
  const stop = () => {
    if (signal?.aborted) throw new RepositoryError('aborted', 'The garbage collection was stopped');
  };
  // What interrupted writes left (a local store's temporary files): nobody else writes these kinds while a
  // collection runs. Not locks: another process may be putting one right now, to find the collection's.
  if (store.removeIncomplete) for (const kind of LEFTOVER_KINDS) await store.removeIncomplete(kind);
  const referenced = await context.referenced();
  const index = await context.loadIndex();
  const onDisk = await packSizes(store);
  const notes: string[] = [];
  const retainedPacks = context.retention ? await retainedObjects(store, 'pack', context.retention) : new Set<string>();
  const retainedIndexes = context.retention ? await retainedObjects(store, 'index', context.retention) : new Set<string>();
  /** Packs nothing needs that are retained, left whole. */
  let packsLeftRetained = 0;
  /** Chunks kept, and the index entries of the packs that stay as they are. */
  const kept = new Set<string>();
  const keptPacks: PackRecord[] = [];
  const partlyUsed: PartlyUsed[] = [];
  /** Packs nothing needs (those missing from the disk included: their entries go). */
  const unused = new Set<string>();
  let chunksRemoved = 0;
  let bytesRemoved = 0;
  let adopted = false;
  /** Chunks in use whose only indexed copy is in a pack that is gone: an unindexed copy is taken back. */
  const keptOnlyInMissing = new Set<string>();

  for (const pack of index.packs.values()) {
    // A chunk in use is kept where the index finds it; other copies of it are dropped.
    const wanted = pack.blobs.filter(([id, offset]) => {
      const location = index.locate(id)!;
      return referenced.has(id) && !kept.has(id) && location.pack === pack.id && location.offset === offset;
    });
    for (const [id] of wanted) kept.add(id);
    if (retainedPacks.has(pack.id) && wanted.length < pack.blobs.length) {
      // Retained: neither deleted nor rewritten; it stays whole in the index until its retention ends.
      keptPacks.push(pack);
      if (wanted.length === 0) packsLeftRetained += 1;
    } else if (wanted.length === 0) {
      unused.add(pack.id);
      chunksRemoved += pack.blobs.length;
      bytesRemoved += onDisk.get(pack.id) ?? 0;
    } else if (wanted.length === pack.blobs.length || !onDisk.has(pack.id)) {
      // Whole, or missing (left for verify to report): its entries in use stay as they are.
      keptPacks.push(wanted.length === pack.blobs.length ? pack : { id: pack.id, blobs: wanted });
      if (!onDisk.has(pack.id)) for (const [id] of wanted) keptOnlyInMissing.add(id);
    } else {
      partlyUsed.push({ pack, wanted });
    }
  }
  // Packs no index names: left by a backup or a collection that failed or was killed before its
  // index, or named by an index file that was lost. One that holds a chunk in use found in no pack
  // that is there is taken back into the index; the others are deleted. Their tables are read as an
  // index recovery reads them: one whose table cannot be read is kept as it is (and reported), and
  // a running backup's packs are left out (none run beside a collection; this holds all the same).
  for (const { id: packId, blobs } of await index.unindexedPackTables()) {
    const wanted = blobs.filter(([id]) => referenced.has(id) && (!kept.has(id) || keptOnlyInMissing.has(id)));
    for (const [id] of wanted) {
      kept.add(id);
      keptOnlyInMissing.delete(id);
    }
    if (wanted.length === 0) {
      if (retainedPacks.has(packId)) {
        packsLeftRetained += 1; // left unindexed until its retention ends
        continue;
      }
      unused.add(packId);
      chunksRemoved += blobs.length;
      bytesRemoved += onDisk.get(packId) ?? 0;
      continue;
    }
    adopted = true;
    if (wanted.length === blobs.length || retainedPacks.has(packId)) keptPacks.push({ id: packId, blobs });
    else partlyUsed.push({ pack: { id: packId, blobs }, wanted });
  }
  for (const packId of index.unreadablePacks) notes.push(`Pack ${packId} is in no index and its table cannot be read: left as it is`);
  if (packsLeftRetained > 0) notes.push(`${packsLeftRetained} pack(s) nothing needs are still retained (Object Lock): left until the retention ends`);
  stop();

  // 1. Deletions only. Index files that name nothing but unused packs, then the unused packs.
  const idleIndexes: string[] = [];
  const remainingIndexes: string[] = [];
  let remainingNameUnused = false;
  /** Index files still retained: they stay beside whatever index is written (see above). */
  let indexesLeftRetained = 0;
  for (const indexId of index.indexIds) {
    if (retainedIndexes.has(indexId)) {
      indexesLeftRetained += 1;
      continue;
    }
    const named = await readIndexPacks(store, keys, indexId);
    if (named.every((pack) => unused.has(pack.id))) idleIndexes.push(indexId);
    else {
      remainingIndexes.push(indexId);
      if (named.some((pack) => unused.has(pack.id))) remainingNameUnused = true;
    }
  }
  if (indexesLeftRetained > 0) notes.push(`${indexesLeftRetained} index file(s) are still retained (Object Lock): left until the retention ends`);
  await removeUnlessRetained(notes, () => removeIndexFiles(store, idleIndexes));
  await removeUnlessRetained(notes, () => removePacks(store, [...unused].filter((packId) => onDisk.has(packId))));
  onProgress?.({ bytesDone: 1, bytesTotal: 3 });
  stop();

  // 2. Packs partly in use, rewritten when the disk has room.
  const obsolete: string[] = [];
  let rewritten: PackRecord[] = [];
  if (partlyUsed.length > 0) {
    const needed = partlyUsed.reduce((sum, { wanted }) => sum + wanted.reduce((bytes, [, , length]) => bytes + length, 0), 0);
    const room = store.freeBytes ? await store.freeBytes() : Number.POSITIVE_INFINITY;
    const asked = needed + kept.size * INDEX_BYTES_PER_CHUNK + SLACK_BYTES;
    if (room < asked) {
      notes.push(`${partlyUsed.length} packs partly in use were not rewritten: that needs about ${megabytes(asked)} free and the disk has ${megabytes(room)}`);
    } else {
      const writer = new PackWriter(store, keys, context.chunkSize + SEAL_OVERHEAD);
      try {
        for (const { pack, wanted } of partlyUsed) {
          stop();
          const copies = await readBlobs(store, pack.id, wanted);
          if (copies === undefined) continue; // unreadable: kept as it is rather than lose what can still be read of it
          for (const [k, [id]] of wanted.entries()) await writer.add(id, copies[k]!);
          obsolete.push(pack.id);
        }
        rewritten = await writer.finish();
      } catch (error) {
        await writer.discard();
        if (!isOutOfSpace(error)) throw error;
        notes.push(`The disk filled up while packs partly in use were rewritten: they were left as they are (${(error as Error).message})`);
        obsolete.length = 0;
        rewritten = [];
      }
    }
  }
  // Those not rewritten stay whole in the index (their unused chunks too: every listed copy is whole).
  const rewrittenIds = new Set(obsolete);
  for (const { pack, wanted } of partlyUsed) {
    if (rewrittenIds.has(pack.id)) {
      chunksRemoved += pack.blobs.length - wanted.length;
      bytesRemoved += pack.blobs.reduce((sum, [, , length]) => sum + length, 0) - wanted.reduce((sum, [, , length]) => sum + length, 0);
    } else {
      keptPacks.push(pack);
    }
  }
  onProgress?.({ bytesDone: 2, bytesTotal: 3 });

  // 3. One index of everything kept, then the old index files, then the originals of the rewritten packs.
  if (obsolete.length > 0 || adopted || remainingNameUnused || remainingIndexes.length > 1) {
    const everything = [...keptPacks, ...rewritten];
    try {
      if (everything.length > 0) await writeIndexFile(store, keys, everything);
    } catch (error) {
      if (rewritten.length > 0) await removePacks(store, rewritten.map((pack) => pack.id));
      if (!isOutOfSpace(error)) throw error;
      notes.push(`The index was not rewritten for want of disk space (${(error as Error).message}); the packs nothing needs are deleted`);
      return finish();
    }
    await removeUnlessRetained(notes, () => removeIndexFiles(store, remainingIndexes));
    await removeUnlessRetained(notes, () => removePacks(store, obsolete));
  }
  return finish();

  function finish(): GcReport {
    onProgress?.({ bytesDone: 3, bytesTotal: 3 });
    const report: GcReport = { chunksRemoved, bytesRemoved, chunksKept: kept.size };
    return notes.length > 0 ? { ...report, notes } : report;
  }
}

/** The objects of a kind still retained (written less than a period ago). */
async function retainedObjects(store: ObjectStore, kind: ObjectKind, retention: RetentionPeriod): Promise<Set<string>> {
  const retained = new Set<string>();
  const now = Date.now();
  for await (const info of store.list(kind)) if (retention.isRetained(info, now)) retained.add(info.name);
  return retained;
}

/**
 * A removal the store refuses because an object is retained (its retention outlasts our reckoning)
 * leaves that object for a later collection: said in `notes`, never a failure. (The store removes the
 * others of the batch.)
 */
async function removeUnlessRetained(notes: string[], remove: () => Promise<void>): Promise<void> {
  try {
    await remove();
  } catch (error) {
    if (!(error instanceof StoreError && error.code === 'locked')) throw error;
    notes.push(`Some objects are still retained and were left for a later collection: ${error.message}`);
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function isOutOfSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * The sealed bytes of these blobs of a pack, or undefined when the pack cannot be read whole. Blobs
 * close together are read as one range, the ranges at once (pack-ranges.ts): one request per blob
 * made the rewrite of a pack of small chunks on S3 take minutes.
 */
async function readBlobs(store: ObjectStore, packId: string, blobs: readonly BlobEntry[]): Promise<Buffer[] | undefined> {
  const pieces = blobs.map(([, offset, length], position) => ({ pack: packId, offset, length, position }));
  const copies: Buffer[] = new Array(blobs.length);
  try {
    await Promise.all(
      closeRanges(pieces).map(async (range) => {
        const bytes = await store.get('pack', packId, { offset: range.offset, length: range.end - range.offset });
        for (const piece of range.pieces) copies[piece.position] = pieceOf(range, bytes, piece);
      }),
    );
    return copies;
  } catch {
    return undefined;
  }
}
