/**
 * Pack files: many sealed chunks (blobs) in one file, so that a backup of small chunks costs one
 * file, one write and one sync per PACK_TARGET_BYTES rather than per chunk. A pack ends with its own
 * sealed table of contents (docs/REPOSITORY.md), from which an index can be rebuilt.
 *
 *   blob ‖ blob ‖ … ‖ sealed table ‖ table length (uint32, big-endian)
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RepositoryError } from './errors.js';
import { syncDirectory, writeFileAtomicallyInBackground } from './files.js';
import type { RepositoryKeys } from './keys.js';
import { CHUNK_ID, PACK_ID, PACKS_DIRECTORY, packPath, packTableName } from './layout.js';
import { seal, unseal, UnsealError } from './sealing.js';

/** A pack is closed once its blobs reach this size. */
const PACK_TARGET_BYTES = 8 * 1024 * 1024;
/** Packs being written and synced at once while the next fills (each holds one pack buffer). */
const PACK_WRITES_AT_ONCE = 2;

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
 * Gathers blobs into packs and writes each pack atomically in the background while the next fills:
 * blobs are copied into a few reused pack buffers, so memory stays fixed. The packs
 * exist durably (files and directory entries) once `finish` has returned; only then may an index
 * name them.
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
  private readonly directories = new Set<string>();
  private failure: unknown;

  constructor(
    private readonly root: string,
    private readonly keys: RepositoryKeys,
    /** The largest blob that will be added (a sealed chunk). */
    private readonly maxBlobBytes: number,
  ) {}

  /** Copies a sealed chunk into the current pack; may wait while the previous pack is being written. */
  async add(chunkId: string, blob: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (blob.length > this.maxBlobBytes) throw new RangeError(`A blob of ${blob.length} bytes is larger than the ${this.maxBlobBytes} expected`);
    this.current ??= this.spare.pop() ?? Buffer.allocUnsafe(PACK_TARGET_BYTES + this.maxBlobBytes);
    this.current.set(blob, this.size);
    this.entries.push([chunkId, this.size, blob.length]);
    this.size += blob.length;
    if (this.size >= PACK_TARGET_BYTES) await this.closePack();
  }

  /** Closes the last pack, waits for every write and syncs the directories: answers the packs written. */
  async finish(): Promise<PackRecord[]> {
    await this.closePack();
    await this.settle();
    if (this.failure !== undefined) throw this.failure;
    for (const directory of this.directories) syncDirectory(directory);
    if (this.directories.size > 0) syncDirectory(join(this.root, PACKS_DIRECTORY));
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
    for (const { id } of this.written.splice(0)) {
      try {
        rmSync(packPath(this.root, id), { force: true });
      } catch {
        left.push(id);
      }
    }
    for (const directory of this.directories) {
      try {
        syncDirectory(directory);
      } catch {
        // The deletions stand in memory; a crash now only brings back packs gc removes.
      }
    }
    return left;
  }

  private async closePack(): Promise<void> {
    if (this.entries.length === 0) return;
    const id = this.packId;
    const buffer = this.current!;
    const blobs = buffer.subarray(0, this.size);
    const table = seal(Buffer.from(JSON.stringify(this.entries)), packTableName(id), this.keys.encryption);
    const tableLength = Buffer.alloc(4);
    tableLength.writeUInt32BE(table.reduce((sum, part) => sum + part.length, 0));
    this.written.push({ id, blobs: this.entries });
    // The next pack starts at once (before any wait), so that concurrent callers add to it.
    this.packId = newObjectId();
    this.entries = [];
    this.size = 0;
    this.current = undefined;
    // The check and the start of the write happen with no wait between them, so the limit holds.
    while (this.writes.size >= PACK_WRITES_AT_ONCE) await Promise.race(this.writes);
    if (this.failure !== undefined) throw this.failure;
    const path = packPath(this.root, id);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.directories.add(dirname(path));
    const write: Promise<void> = writeFileAtomicallyInBackground(path, [blobs, ...table, tableLength])
      .then(
        () => void this.spare.push(buffer),
        (error: unknown) => void (this.failure ??= error),
      )
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }
}

/** Reads a pack's own table of contents (for rebuilding an index and for inspection). */
export function readPackTable(root: string, packId: string, keys: RepositoryKeys): BlobEntry[] {
  const fd = openSync(packPath(root, packId), 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 4) throw new RepositoryError('corrupt_pack', `Pack ${packId} is truncated`);
    const lengthBytes = readExactly(fd, 4, size - 4);
    const tableLength = lengthBytes.readUInt32BE(0);
    if (tableLength + 4 > size) throw new RepositoryError('corrupt_pack', `Pack ${packId} is truncated`);
    const table = unseal(readExactly(fd, tableLength, size - 4 - tableLength), packTableName(packId), keys.encryption);
    const entries = JSON.parse(table.toString('utf8')) as BlobEntry[];
    if (!Array.isArray(entries) || !entries.every(isBlobEntry)) throw new RepositoryError('corrupt_pack', `Pack ${packId} has a malformed table`);
    return entries;
  } catch (error) {
    if (error instanceof UnsealError || error instanceof SyntaxError) throw new RepositoryError('corrupt_pack', `Pack ${packId}: ${error.message}`);
    throw error;
  } finally {
    closeSync(fd);
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

/** Reads `length` bytes at `position`, or throws corrupt_pack when the file ends first. */
export function readExactly(fd: number, length: number, position: number, into?: Buffer): Buffer {
  const buffer = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const read = readSync(fd, buffer, done, length - done, position + done);
    if (read === 0) throw new RepositoryError('corrupt_pack', `the pack ends before byte ${position + length}`);
    done += read;
  }
  return buffer;
}

/** The pack directories (packs/00 … packs/ff that exist), relative to the root. */
export function packDirectories(root: string): string[] {
  return readdirSync(join(root, PACKS_DIRECTORY)).map((name) => join(PACKS_DIRECTORY, name));
}

/** The ids of the pack files there are (names only: no file is opened or stat'ed). */
export function packIdsOnDisk(root: string): Set<string> {
  const ids = new Set<string>();
  for (const directory of packDirectories(root)) for (const name of readdirSync(join(root, directory))) if (PACK_ID.test(name)) ids.add(name);
  return ids;
}

/** Every pack file, with its size. */
export function packsOnDisk(root: string): Map<string, number> {
  const packs = new Map<string, number>();
  for (const directory of packDirectories(root)) {
    for (const name of readdirSync(join(root, directory))) if (PACK_ID.test(name)) packs.set(name, statSync(join(root, directory, name)).size);
  }
  return packs;
}

/** Deletes these packs and syncs their directories. */
export function removePacks(root: string, packIds: Iterable<string>): void {
  const directories = new Set<string>();
  for (const packId of packIds) {
    const path = packPath(root, packId);
    rmSync(path, { force: true });
    directories.add(dirname(path));
  }
  for (const directory of directories) syncDirectory(directory);
}
