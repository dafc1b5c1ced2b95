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
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BackupSummary } from './contract.js';
import { RepositoryError } from './errors.js';
import { syncDirectory, temporaryPathFor, writeFully } from './files.js';
import type { RepositoryKeys } from './keys.js';
import { BACKUP_ID, manifestName, manifestPath } from './layout.js';
import { seal, unseal, UnsealError } from './sealing.js';

/** Chunk ids per segment: 512 KiB of ids, 1 GiB of image at 64 KiB chunks. */
export const SEGMENT_CHUNKS = 16384;
const ID_BYTES = 32;
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
  /** [offset, length] in the file of each sealed segment, in order. */
  readonly segments: readonly (readonly [number, number])[];
}

const segmentName = (backupId: string, segment: number) => `${manifestName(backupId)}:chunks:${segment}`;

/**
 * Writes a manifest while the backup runs: units of chunk ids arrive in any order and are written
 * in image order into a temporary file; `finish` seals the header and makes the file durable under
 * its name. Until then the backup does not exist.
 */
export class ManifestWriter {
  private readonly temporary: string;
  private readonly fd: number;
  /** Units whose ids arrived before an earlier unit's (bounded by the units in flight). */
  private readonly waiting = new Map<number, readonly (string | null)[]>();
  private nextUnit = 0;
  private segment = Buffer.alloc(SEGMENT_CHUNKS * ID_BYTES);
  private inSegment = 0;
  private readonly segments: [number, number][] = [];
  private fileSize = 0;
  private chunkCount = 0;

  constructor(
    private readonly root: string,
    private readonly keys: RepositoryKeys,
    readonly backupId: string,
  ) {
    this.temporary = temporaryPathFor(manifestPath(root, backupId));
    this.fd = openSync(this.temporary, 'wx', 0o600);
  }

  /** The ids of unit `unitIndex` (every unit but the last holds the same number of chunks). */
  addUnit(unitIndex: number, ids: readonly (string | null)[]): void {
    this.waiting.set(unitIndex, ids);
    for (let next = this.waiting.get(this.nextUnit); next !== undefined; next = this.waiting.get(this.nextUnit)) {
      this.waiting.delete(this.nextUnit);
      this.nextUnit += 1;
      for (const id of next) this.append(id);
    }
  }

  finish(fields: Omit<ManifestHeader, 'format' | 'id' | 'chunkCount' | 'segments'>): ManifestHeader {
    if (this.waiting.size > 0) throw new Error('A unit of chunk ids is missing from the manifest');
    this.closeSegment();
    const header: ManifestHeader = { format: 2, id: this.backupId, ...fields, chunkCount: this.chunkCount, segments: this.segments };
    const sealed = Buffer.concat(seal(Buffer.from(JSON.stringify(header)), manifestName(this.backupId), this.keys.encryption));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(sealed.length);
    writeFully(this.fd, Buffer.concat([sealed, length]), this.fileSize);
    fsyncSync(this.fd);
    closeSync(this.fd);
    const path = manifestPath(this.root, this.backupId);
    renameSync(this.temporary, path);
    syncDirectory(dirname(path));
    return header;
  }

  abandon(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed by finish
    }
    rmSync(this.temporary, { force: true });
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
    writeFully(this.fd, sealed, this.fileSize);
    this.segments.push([this.fileSize, sealed.length]);
    this.fileSize += sealed.length;
    this.inSegment = 0;
  }
}

/** A manifest open for reading: its header at once, its chunk ids a segment at a time. */
export class ManifestReader {
  private constructor(
    private readonly fd: number,
    private readonly keys: RepositoryKeys,
    readonly header: ManifestHeader,
  ) {}

  static open(root: string, backupId: string, keys: RepositoryKeys): ManifestReader {
    if (!BACKUP_ID.test(backupId)) throw new RepositoryError('backup_not_found', `No backup ${backupId} in the repository`);
    let fd: number;
    try {
      fd = openSync(manifestPath(root, backupId), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new RepositoryError('backup_not_found', `No backup ${backupId} in the repository (its manifest is missing)`);
      }
      throw error;
    }
    try {
      return new ManifestReader(fd, keys, readHeader(fd, backupId, keys));
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** The chunk ids of segment `segment` (null for an all-zero chunk): chunks from segment × SEGMENT_CHUNKS on. */
  segmentIds(segment: number): (string | null)[] {
    const [offset, length] = this.header.segments[segment]!;
    const expected = Math.min(SEGMENT_CHUNKS, this.header.chunkCount - segment * SEGMENT_CHUNKS);
    const plain = this.unsealAt(offset, length, segmentName(this.header.id, segment));
    if (plain.length !== expected * ID_BYTES) throw corrupt(this.header.id, `segment ${segment} holds ${plain.length / ID_BYTES} chunk ids, ${expected} expected`);
    const ids: (string | null)[] = [];
    for (let at = 0; at < plain.length; at += ID_BYTES) {
      const id = plain.subarray(at, at + ID_BYTES);
      ids.push(id.equals(ZERO_ID) ? null : id.toString('hex'));
    }
    return ids;
  }

  /** Calls `visit` with every chunk id (null: all zero) and its position, in image order. */
  forEachChunk(visit: (id: string | null, position: number) => void): void {
    for (let segment = 0; segment < this.header.segments.length; segment++) {
      this.segmentIds(segment).forEach((id, i) => visit(id, segment * SEGMENT_CHUNKS + i));
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private unsealAt(offset: number, length: number, name: string): Buffer {
    const sealed = Buffer.allocUnsafe(length);
    if (readSync(this.fd, sealed, 0, length, offset) !== length) throw corrupt(this.header.id, 'the file is truncated');
    try {
      return unseal(sealed, name, this.keys.encryption);
    } catch (error) {
      if (error instanceof UnsealError) throw corrupt(this.header.id, error.message);
      throw error;
    }
  }
}

/** Opens a manifest, gives it to `use`, closes it. */
export function withManifest<T>(root: string, backupId: string, keys: RepositoryKeys, use: (manifest: ManifestReader) => T): T {
  const manifest = ManifestReader.open(root, backupId, keys);
  try {
    return use(manifest);
  } finally {
    manifest.close();
  }
}

export function readManifestHeader(root: string, backupId: string, keys: RepositoryKeys): ManifestHeader {
  return withManifest(root, backupId, keys, (manifest) => manifest.header);
}

function readHeader(fd: number, backupId: string, keys: RepositoryKeys): ManifestHeader {
  const size = fstatSync(fd).size;
  const lengthBytes = Buffer.alloc(4);
  if (size < 4 || readSync(fd, lengthBytes, 0, 4, size - 4) !== 4) throw corrupt(backupId, 'the file is truncated');
  const length = lengthBytes.readUInt32BE(0);
  if (length + 4 > size) throw corrupt(backupId, 'the file is truncated');
  const sealed = Buffer.allocUnsafe(length);
  readSync(fd, sealed, 0, length, size - 4 - length);
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
