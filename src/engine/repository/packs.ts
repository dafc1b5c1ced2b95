/**
 * Pack files: many sealed chunks (blobs) in one file, so that a backup of small chunks costs one
 * file, one write and one sync per PACK_TARGET_BYTES rather than per chunk. A pack ends with its own
 * sealed table of contents (docs/REPOSITORY.md), from which an index can be rebuilt.
 *
 *   blob ‖ blob ‖ … ‖ sealed table ‖ table length (uint32, big-endian)
 */
import { randomBytes } from 'node:crypto';
import { StoreError, type ObjectStore } from '../storage/object-store.js';
import { RepositoryError } from './errors.js';
import type { RepositoryKeys } from './keys.js';
import { CHUNK_ID, PACK_ID, packTableName } from './layout.js';
import { seal, unseal, UnsealError } from './sealing.js';

/** A pack is closed once its blobs reach this size. */
const PACK_TARGET_BYTES = 8 * 1024 * 1024;
/**
 * The same in a remote store (ObjectStore.remote, S3), where a request costs far more than on a local
 * disk: a backup makes a third of the requests.
 */
const REMOTE_PACK_TARGET_BYTES = 24 * 1024 * 1024;
/**
 * Memory for pack buffers (the pack filling and those being written): three default packs' worth,
 * and never fewer than two buffers, so that one pack is written while the next fills.
 */
const PACK_BUFFERS_BYTES = 3 * PACK_TARGET_BYTES;
/**
 * Room at the end of a pack buffer for the pack's sealed table, so that a pack is one contiguous
 * buffer: a store that needs the object in one piece (S3: one body with its MD5) then copies nothing.
 * A table larger than this (a pack of very many tiny blobs) is passed as a second part instead.
 */
const TABLE_ROOM_BYTES = 256 * 1024;

/** One blob of a pack: [chunk id, offset in the pack, length]. */
export type BlobEntry = readonly [chunkId: string, offset: number, length: number];

export interface PackRecord {
  readonly id: string;
  readonly blobs: readonly BlobEntry[];
}

export interface BlobLocation {
  readonly pack: string;
  readonly offset: number;
  readonly length: number;
}

export const newObjectId = () => randomBytes(16).toString('hex');

/**
 * Gathers blobs into packs and puts each pack whole in the background while the next fills: blobs
 * are copied into a few reused pack buffers, so memory stays fixed. The packs exist durably once
 * `finish` has returned (the store's barrier); only then may an index name them.
 */
export class PackWriter {
  private packId = newObjectId();
  private entries: BlobEntry[] = [];
  private size = 0;
  private current: Buffer | undefined;
  private readonly spare: Buffer[] = [];
  /** Writes under way (a Set so that waiting never misses one). */
  private readonly writes = new Set<Promise<void>>();
  private readonly written: PackRecord[] = [];
  private failure: unknown;
  /**
   * A full pack waiting for a write to finish before its own starts. Callers wait for it before
   * adding: otherwise, with several adding at once, packs would pile up behind a slow store, each
   * holding a buffer, and memory would grow with the store's slowness.
   */
  private closing: Promise<void> | undefined;
  private readonly targetBytes: number;
  private readonly writesAtOnce: number;

  constructor(
    private readonly store: ObjectStore,
    private readonly keys: RepositoryKeys,
    /** The largest blob that will be added (a sealed chunk). */
    private readonly maxBlobBytes: number,
  ) {
    this.targetBytes = store.remote ? REMOTE_PACK_TARGET_BYTES : PACK_TARGET_BYTES;
    this.writesAtOnce = Math.max(1, Math.floor(PACK_BUFFERS_BYTES / this.targetBytes) - 1);
  }

  /** Copies a sealed chunk into the current pack; may wait while the previous pack is being written. */
  async add(chunkId: string, blob: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (blob.length > this.maxBlobBytes) throw new RangeError(`A blob of ${blob.length} bytes is larger than the ${this.maxBlobBytes} expected`);
    while (this.closing) await this.closing;
    if (this.failure !== undefined) throw this.failure;
    this.current ??= this.spare.pop() ?? Buffer.allocUnsafe(this.targetBytes + this.maxBlobBytes + TABLE_ROOM_BYTES);
    this.current.set(blob, this.size);
    this.entries.push([chunkId, this.size, blob.length]);
    this.size += blob.length;
    if (this.size >= this.targetBytes) {
      this.closing = this.closePack().finally(() => (this.closing = undefined));
      await this.closing;
    }
  }

  /** Closes the last pack, waits for every write and makes them durable: answers the packs written. */
  async finish(): Promise<PackRecord[]> {
    while (this.closing) await this.closing.catch(() => {});
    await this.closePack();
    await this.settle();
    if (this.failure !== undefined) throw this.failure;
    if (this.written.length > 0) await this.store.barrier('pack');
    return this.written;
  }

  /** Waits for the writes under way (after a failure their packs stay unindexed, for gc to remove). */
  async settle(): Promise<void> {
    while (this.writes.size > 0) await Promise.all(this.writes);
  }

  /**
   * After a failure, before any index names its packs: waits for the writes under way, then deletes
   * every pack this writer wrote, so that a failed backup or collection leaves none behind. Answers
   * the ids of those it could not delete (left for gc, which removes packs no index needs).
   */
  async discard(): Promise<string[]> {
    await this.settle();
    const left: string[] = [];
    const written = this.written.splice(0);
    for (const { id } of written) {
      try {
        await this.store.remove('pack', [id]);
      } catch {
        left.push(id);
      }
    }
    if (written.length > 0) {
      try {
        await this.store.barrier('pack');
      } catch {
        // The deletions stand; a crash now only brings back packs gc removes.
      }
    }
    return left;
  }

  private async closePack(): Promise<void> {
    if (this.entries.length === 0) return;
    const id = this.packId;
    const buffer = this.current!;
    const parts = this.withTable(id, buffer);
    this.written.push({ id, blobs: this.entries });
    // The next pack starts once this one's write has (callers wait for `closing`).
    this.packId = newObjectId();
    this.entries = [];
    this.size = 0;
    this.current = undefined;
    // The check and the start of the write happen with no wait between them, so the limit holds.
    while (this.writes.size >= this.writesAtOnce) await Promise.race(this.writes);
    if (this.failure !== undefined) throw this.failure;
    const write: Promise<void> = this.store
      .put('pack', id, parts)
      .then(
        () => void this.spare.push(buffer),
        (error: unknown) => void (this.failure ??= error),
      )
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }

  /** The pack's bytes: its blobs, sealed table and table length, in the pack buffer itself when the table fits. */
  private withTable(id: string, buffer: Buffer): Uint8Array[] {
    const table = seal(Buffer.from(JSON.stringify(this.entries)), packTableName(id), this.keys.encryption);
    const tableBytes = table.reduce((sum, part) => sum + part.length, 0);
    const tableLength = Buffer.alloc(4);
    tableLength.writeUInt32BE(tableBytes);
    if (this.size + tableBytes + 4 > buffer.length) return [buffer.subarray(0, this.size), ...table, tableLength];
    let end = this.size;
    for (const part of [...table, tableLength]) {
      buffer.set(part, end);
      end += part.length;
    }
    return [buffer.subarray(0, end)];
  }
}

/** Reads a pack's own table of contents, from its end (for rebuilding an index and for inspection). */
export async function readPackTable(store: ObjectStore, packId: string, keys: RepositoryKeys): Promise<BlobEntry[]> {
  try {
    const tableLength = (await store.get('pack', packId, { offset: -4, length: 4 })).readUInt32BE(0);
    const table = unseal(await store.get('pack', packId, { offset: -4 - tableLength, length: tableLength }), packTableName(packId), keys.encryption);
    const entries = JSON.parse(table.toString('utf8')) as BlobEntry[];
    if (!Array.isArray(entries) || !entries.every(isBlobEntry)) throw new RepositoryError('corrupt_pack', `Pack ${packId} has a malformed table`);
    return entries;
  } catch (error) {
    if (error instanceof StoreError && error.code === 'out_of_range') throw new RepositoryError('corrupt_pack', `Pack ${packId} is truncated`);
    if (error instanceof UnsealError || error instanceof SyntaxError) throw new RepositoryError('corrupt_pack', `Pack ${packId}: ${error.message}`);
    throw error;
  }
}

export function isBlobEntry(entry: unknown): entry is BlobEntry {
  return (
    Array.isArray(entry) &&
    entry.length === 3 &&
    typeof entry[0] === 'string' &&
    CHUNK_ID.test(entry[0]) &&
    Number.isSafeInteger(entry[1]) &&
    entry[1] >= 0 &&
    Number.isSafeInteger(entry[2]) &&
    entry[2] > 0
  );
}

/** The ids of the packs there are (names only: a local store opens or stats no file for this). */
export async function packIds(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const { name } of store.list('pack')) if (PACK_ID.test(name)) ids.add(name);
  return ids;
}

/** Every pack, with its size. */
export async function packSizes(store: ObjectStore): Promise<Map<string, number>> {
  const packs = new Map<string, number>();
  for await (const info of store.list('pack')) if (PACK_ID.test(info.name)) packs.set(info.name, info.size);
  return packs;
}

/** Deletes these packs, durably. */
export async function removePacks(store: ObjectStore, ids: Iterable<string>): Promise<void> {
  const names = [...ids];
  if (names.length === 0) return;
  await store.remove('pack', names);
  await store.barrier('pack');
}
