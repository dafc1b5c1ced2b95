/**
 * A backup's manifest: what the image was and which chunks, in order, make it (docs/REPOSITORY.md).
 * The chunk list is written and read in segments of SEGMENT_CHUNKS ids, so that neither a backup nor a
 * restore holds a whole disk's list in memory:
 *
 *   segment ‖ segment ‖ … ‖ sealed header ‖ header length (uint32, big-endian)
 *
 * A segment is a sealed object whose plaintext is 32 bytes per chunk (its id; all zero for an
 * all-zero chunk, which is not stored); the header is sealed JSON that says where the segments are.
 */
import { StoreError, type ObjectStore, type ObjectWriter } from '../storage/object-store.js';
import type { BackupSummary } from './contract.js';
import { RepositoryError } from './errors.js';
import type { RepositoryKeys } from './keys.js';
import { BACKUP_ID, manifestName } from './layout.js';
import { seal, unseal, UnsealError } from './sealing.js';

/** Chunk ids per segment: 512 KiB of ids, 1 GiB of image at 64 KiB chunks. */
export const SEGMENT_CHUNKS = 16384;
const ID_BYTES = 32;
/** Bytes read from a manifest's end to find its header. */
const HEADER_READ_BYTES = 16 * 1024;
const ZERO_ID = Buffer.alloc(ID_BYTES);

export interface ManifestHeader {
  readonly format: 2;
  readonly id: string;
  readonly startedAt: number;
  readonly createdAt: number;
  readonly diskSize: number;
  readonly chunkSize: number;
  readonly tags: Record<string, string>;
  /** ceil(diskSize / chunkSize) */
  readonly chunkCount: number;
  /** [offset, length] in the object of each sealed segment, in order. */
  readonly segments: readonly (readonly [number, number])[];
}

const segmentName = (backupId: string, segment: number) => `${manifestName(backupId)}:chunks:${segment}`;

/**
 * Writes a manifest while the backup runs: units of chunk ids arrive in any order and are written
 * in image order through the store's writer (segments go out one after the other while the backup
 * goes on); `finish` seals the header and commits the object. Until then the backup does not exist.
 */
export class ManifestWriter {
  /** Units whose ids arrived before an earlier unit's (bounded by the units in flight). */
  private readonly waiting = new Map<number, readonly (string | null)[]>();
  private nextUnit = 0;
  private segment = Buffer.alloc(SEGMENT_CHUNKS * ID_BYTES);
  private inSegment = 0;
  private readonly segments: [number, number][] = [];
  private objectSize = 0;
  private chunkCount = 0;
  /** The writes handed to the store, in order; the first failure is kept for `finish`. */
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown;

  private constructor(
    private readonly store: ObjectStore,
    private readonly output: ObjectWriter,
    private readonly keys: RepositoryKeys,
    readonly backupId: string,
  ) {}

  static async create(store: ObjectStore, keys: RepositoryKeys, backupId: string): Promise<ManifestWriter> {
    return new ManifestWriter(store, await store.writer('manifest', backupId), keys, backupId);
  }

  /** The ids of unit `unitIndex` (every unit but the last holds the same number of chunks). */
  addUnit(unitIndex: number, ids: readonly (string | null)[]): void {
    if (this.failure !== undefined) throw this.failure;
    this.waiting.set(unitIndex, ids);
    for (let next = this.waiting.get(this.nextUnit); next !== undefined; next = this.waiting.get(this.nextUnit)) {
      this.waiting.delete(this.nextUnit);
      this.nextUnit += 1;
      for (const id of next) this.append(id);
    }
  }

  async finish(fields: Omit<ManifestHeader, 'format' | 'id' | 'chunkCount' | 'segments'>): Promise<ManifestHeader> {
    if (this.waiting.size > 0) throw new Error('A unit of chunk ids is missing from the manifest');
    this.closeSegment();
    const header: ManifestHeader = { format: 2, id: this.backupId, ...fields, chunkCount: this.chunkCount, segments: this.segments };
    const sealed = Buffer.concat(seal(Buffer.from(JSON.stringify(header)), manifestName(this.backupId), this.keys.encryption));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(sealed.length);
    this.enqueue(Buffer.concat([sealed, length]));
    await this.writing;
    if (this.failure !== undefined) throw this.failure;
    await this.output.commit();
    await this.store.barrier('manifest');
    return header;
  }

  async abandon(): Promise<void> {
    await this.writing;
    await this.output.abort();
  }

  private append(id: string | null): void {
    if (id === null) ZERO_ID.copy(this.segment, this.inSegment * ID_BYTES);
    else this.segment.write(id, this.inSegment * ID_BYTES, 'hex');
    this.inSegment += 1;
    this.chunkCount += 1;
    if (this.inSegment === SEGMENT_CHUNKS) this.closeSegment();
  }

  private closeSegment(): void {
    if (this.inSegment === 0) return;
    const plain = this.segment.subarray(0, this.inSegment * ID_BYTES);
    const sealed = Buffer.concat(seal(plain, segmentName(this.backupId, this.segments.length), this.keys.encryption));
    this.enqueue(sealed);
    this.segments.push([this.objectSize, sealed.length]);
    this.objectSize += sealed.length;
    this.inSegment = 0;
  }

  private enqueue(bytes: Buffer): void {
    this.writing = this.writing.then(async () => {
      if (this.failure !== undefined) return;
      try {
        await this.output.write(bytes);
      } catch (error) {
        this.failure = error;
      }
    });
  }
}

/** A manifest open for reading: its header at once, its chunk ids a segment at a time (ranged reads). */
export class ManifestReader {
  private constructor(
    private readonly store: ObjectStore,
    private readonly keys: RepositoryKeys,
    readonly header: ManifestHeader,
  ) {}

  static async open(store: ObjectStore, backupId: string, keys: RepositoryKeys): Promise<ManifestReader> {
    if (!BACKUP_ID.test(backupId)) throw new RepositoryError('backup_not_found', `No backup ${backupId} in the repository`);
    const info = await store.stat('manifest', backupId);
    if (info === undefined) throw missing(backupId);
    return new ManifestReader(store, keys, await readHeader(store, backupId, info.size, keys));
  }

  /** The chunk ids of segment `segment` (null for an all-zero chunk): chunks from segment × SEGMENT_CHUNKS on. */
  async segmentIds(segment: number): Promise<(string | null)[]> {
    const [offset, length] = this.header.segments[segment]!;
    const expected = Math.min(SEGMENT_CHUNKS, this.header.chunkCount - segment * SEGMENT_CHUNKS);
    const plain = await this.unsealAt(offset, length, segmentName(this.header.id, segment));
    if (plain.length !== expected * ID_BYTES) throw corrupt(this.header.id, `segment ${segment} holds ${plain.length / ID_BYTES} chunk ids, ${expected} expected`);
    const ids: (string | null)[] = [];
    for (let at = 0; at < plain.length; at += ID_BYTES) {
      const id = plain.subarray(at, at + ID_BYTES);
      ids.push(id.equals(ZERO_ID) ? null : id.toString('hex'));
    }
    return ids;
  }

  /** Calls `visit` with every chunk id (null: all zero) and its position, in image order. */
  async forEachChunk(visit: (id: string | null, position: number) => void): Promise<void> {
    for (let segment = 0; segment < this.header.segments.length; segment++) {
      (await this.segmentIds(segment)).forEach((id, i) => visit(id, segment * SEGMENT_CHUNKS + i));
    }
  }

  private async unsealAt(offset: number, length: number, name: string): Promise<Buffer> {
    const sealed = await readManifestRange(this.store, this.header.id, offset, length);
    try {
      return unseal(sealed, name, this.keys.encryption);
    } catch (error) {
      if (error instanceof UnsealError) throw corrupt(this.header.id, error.message);
      throw error;
    }
  }
}

export async function readManifestHeader(store: ObjectStore, backupId: string, keys: RepositoryKeys): Promise<ManifestHeader> {
  return (await ManifestReader.open(store, backupId, keys)).header;
}

/** A range of a manifest: a missing manifest is backup_not_found, a short one corrupt. */
async function readManifestRange(store: ObjectStore, backupId: string, offset: number, length: number): Promise<Buffer> {
  try {
    return await store.get('manifest', backupId, { offset, length });
  } catch (error) {
    if (error instanceof StoreError && error.code === 'not_found') throw missing(backupId);
    if (error instanceof StoreError && error.code === 'out_of_range') throw corrupt(backupId, 'the object is truncated');
    throw error;
  }
}

async function readHeader(store: ObjectStore, backupId: string, size: number, keys: RepositoryKeys): Promise<ManifestHeader> {
  if (size < 4) throw corrupt(backupId, 'the object is truncated');
  // One read of the object's end usually holds the whole header (one request rather than two on S3).
  const tailLength = Math.min(size, HEADER_READ_BYTES);
  const tail = await readManifestRange(store, backupId, size - tailLength, tailLength);
  const length = tail.readUInt32BE(tailLength - 4);
  if (length + 4 > size) throw corrupt(backupId, 'the object is truncated');
  const sealed = length + 4 <= tailLength ? tail.subarray(tailLength - 4 - length, tailLength - 4) : await readManifestRange(store, backupId, size - 4 - length, length);
  let header: ManifestHeader;
  try {
    header = JSON.parse(unseal(sealed, manifestName(backupId), keys.encryption).toString('utf8')) as ManifestHeader;
  } catch (error) {
    if (error instanceof UnsealError || error instanceof SyntaxError) throw corrupt(backupId, error.message);
    throw error;
  }
  const problem = headerProblem(header, backupId, size - 4 - length);
  if (problem) throw corrupt(backupId, problem);
  return header;
}

function missing(backupId: string): RepositoryError {
  return new RepositoryError('backup_not_found', `No backup ${backupId} in the repository (its manifest is missing)`);
}

function headerProblem(header: ManifestHeader, backupId: string, segmentsEnd: number): string | undefined {
  if (header === null || typeof header !== 'object') return 'not an object';
  if (header.format !== 2) return `unknown format ${String(header.format)}`;
  if (header.id !== backupId) return 'it names another backup';
  if (!Number.isSafeInteger(header.diskSize) || header.diskSize < 0) return 'bad disk size';
  if (!Number.isSafeInteger(header.chunkSize) || header.chunkSize <= 0) return 'bad chunk size';
  if (header.chunkCount !== Math.ceil(header.diskSize / header.chunkSize)) return 'wrong number of chunks';
  if (!Array.isArray(header.segments) || header.segments.length !== Math.ceil(header.chunkCount / SEGMENT_CHUNKS)) return 'wrong number of segments';
  for (const segment of header.segments) {
    const [offset, length] = Array.isArray(segment) ? segment : [];
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset! < 0 || length! <= 0 || offset! + length! > segmentsEnd) return 'bad segment';
  }
  return undefined;
}

function corrupt(backupId: string, detail: string): RepositoryError {
  return new RepositoryError('corrupt_manifest', `The manifest of backup ${backupId} cannot be read: ${detail}`);
}

export function summaryOf(header: ManifestHeader): BackupSummary {
  return {
    id: header.id,
    createdAt: header.createdAt,
    startedAt: header.startedAt,
    diskSize: header.diskSize,
    chunkSize: header.chunkSize,
    chunkCount: header.chunkCount,
    tags: header.tags,
  };
}
