/**
 * Copying backups from one repository to another (a second copy, 3-2-1). Each repository has its own
 * keys, so a chunk's id and sealed bytes differ between them: the source's chunks are read,
 * authenticated and decrypted by the source's workers into units of the image, and the target stores
 * those units exactly as a backup stores an image's (backup.ts: hashed under the target's id key, only
 * the chunks its index lacks sealed and sent; packs, then index, then manifest). The copy keeps the
 * source backup's id, tags and times: a backup the target already holds under that id is not copied.
 */
import { storeImage, type ImageSource } from './backup.js';
import type { ChunkIndex } from './chunk-index.js';
import type { BackupSummary, CopyOptions, CopyReport, CopiedBackup } from './contract.js';
import { RepositoryError } from './errors.js';
import { acquireSharedLock } from './locks.js';
import { ManifestReader, readManifestHeader, SEGMENT_CHUNKS, summaryOf } from './manifest.js';
import { readImageRange } from './image-range.js';
import type { RepositoryContext } from './unit-work.js';

/** Copies the source's backups (those `options` selects) that the target lacks; see Repository.copyTo. */
export async function copyBackups(source: RepositoryContext, target: RepositoryContext, options: CopyOptions = {}): Promise<CopyReport> {
  const lock = await acquireSharedLock(source.store, 'read', options.signal);
  try {
    const wanted = await selectedBackups(source, options);
    const held = new Set(await target.backupIds());
    const missing = wanted.filter((backup) => !held.has(backup.id));
    const index = missing.length > 0 ? await source.loadIndex() : undefined;
    const copied: CopiedBackup[] = [];
    const failed: { backupId: string; code: string; message: string }[] = [];
    for (const backup of missing) {
      if (options.signal?.aborted) throw new RepositoryError('aborted', 'The copy was stopped');
      try {
        copied.push(await copyOne(source, target, index!, backup.id, options));
      } catch (error) {
        // A backup that cannot be read whole is not copied (no manifest is written); the others still are.
        if (!(error instanceof RepositoryError) || error.code === 'aborted' || error.code === 'repository_locked') throw error;
        failed.push({ backupId: backup.id, code: error.code, message: error.message });
      }
    }
    return {
      backupsSelected: wanted.length,
      backupsAlreadyThere: wanted.length - missing.length,
      copied,
      failed,
      chunksSent: sum(copied, (backup) => backup.chunksSent),
      bytesSent: sum(copied, (backup) => backup.bytesSent),
      chunksSkipped: sum(copied, (backup) => backup.chunksSkipped),
      bytesSkipped: sum(copied, (backup) => backup.bytesSkipped),
    };
  } finally {
    await lock.release();
  }
}

async function selectedBackups(source: RepositoryContext, options: CopyOptions): Promise<BackupSummary[]> {
  const ids = options.backupIds ? new Set(options.backupIds) : undefined;
  const tags = Object.entries(options.tags ?? {});
  const selected: BackupSummary[] = [];
  for (const id of await source.backupIds()) {
    if (ids && !ids.has(id)) continue;
    const summary = summaryOf(await readManifestHeader(source.store, id, source.keys));
    if (tags.every(([name, value]) => summary.tags[name] === value)) selected.push(summary);
  }
  // Oldest first: an interrupted copy has the older backups done.
  return selected.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

async function copyOne(source: RepositoryContext, target: RepositoryContext, index: ChunkIndex, backupId: string, options: CopyOptions): Promise<CopiedBackup> {
  const manifest = await ManifestReader.open(source.store, backupId, source.keys);
  const { header } = manifest;
  const stored = await storeImage(target, new BackupImage(source, index, manifest), {
    backupId,
    tags: header.tags,
    startedAt: header.startedAt,
    createdAt: header.createdAt,
    signal: options.signal,
    onProgress: options.onProgress && ((progress) => options.onProgress!({ backupId, ...progress })),
  });
  return { backupId, diskSize: header.diskSize, chunksSent: stored.newChunks, bytesSent: stored.newStoredBytes, chunksSkipped: stored.knownChunks, bytesSkipped: stored.knownBytes };
}

/** A source backup's image, read through the source's workers (any range: the two chunk sizes may differ). */
class BackupImage implements ImageSource {
  readonly expectedSize: number;
  readonly exactSize = true;
  /** Chunk-id segments of the manifest, the latest few (units are read roughly in order). */
  private readonly segments = new Map<number, Promise<(string | null)[]>>();

  constructor(
    private readonly source: RepositoryContext,
    private readonly index: ChunkIndex,
    private readonly manifest: ManifestReader,
  ) {
    this.expectedSize = manifest.header.diskSize;
  }

  async read(buffer: ArrayBuffer, start: number, length: number): Promise<{ buffer: ArrayBuffer; length: number }> {
    try {
      return { buffer: await readImageRange(this.source, this.index, this.manifest.header, (position) => this.chunkIdAt(position), start, length, buffer), length };
    } catch (error) {
      if (!(error instanceof RepositoryError) || error.code === 'aborted') throw error;
      throw new RepositoryError(error.code, `Backup ${this.manifest.header.id} cannot be copied: ${error.message} (in the source)`);
    }
  }

  private chunkIdAt(position: number): Promise<string | null> {
    const segment = Math.floor(position / SEGMENT_CHUNKS);
    let ids = this.segments.get(segment);
    if (!ids) {
      ids = this.manifest.segmentIds(segment);
      this.segments.set(segment, ids);
      // Units in flight span at most a couple of segments.
      for (const old of this.segments.keys()) if (old < segment - 1) this.segments.delete(old);
    }
    return ids.then((list) => list[position - segment * SEGMENT_CHUNKS]!);
  }
}

function sum<T>(items: readonly T[], of: (item: T) => number): number {
  return items.reduce((total, item) => total + of(item), 0);
}
