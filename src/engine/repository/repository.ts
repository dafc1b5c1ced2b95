/**
 * A backup repository in an object store (format: docs/REPOSITORY.md; stores: ../storage), behind a
 * small facade: taking a backup (backup.ts), restoring (restore.ts) and verifying (verify.ts) are
 * modules of their own; worker threads hash, seal and load the chunks (chunk-pool.ts). Forgetting a
 * backup deletes its manifest only; garbage collection (gc.ts), alone in the repository, keeps exactly
 * the chunks the manifests name.
 */
import { formatRepositoryLocation } from '../storage/location.js';
import type { ObjectStore, StoreLocation } from '../storage/object-store.js';
import { openStore } from '../storage/open-store.js';
import { backUp } from './backup.js';
import { ChunkIndex, type IndexWarning } from './chunk-index.js';
import { ChunkPool } from './chunk-pool.js';
import type {
  BackupOptions,
  BackupResult,
  BackupSummary,
  CopyOptions,
  CopyReport,
  GcReport,
  IndexRepairReport,
  OpenRepositoryOptions,
  PackContents,
  ProgressListener,
  Repository,
  RestoreOptions,
  VerifyOptions,
  VerifyReport,
} from './contract.js';
import { copyBackups } from './copy.js';
import { collectGarbage } from './gc.js';
import { rebuildIndex } from './index-repair.js';
import { unlock, type RepositoryConfig, type RepositoryKeys } from './keys.js';
import { BACKUP_ID } from './layout.js';
import { acquireGcLock, removeStaleLocks } from './locks.js';
import { ManifestReader, readManifestHeader, summaryOf } from './manifest.js';
import { openOrCreateConfig } from './open.js';
import { packSizes, readPackTable } from './packs.js';
import { restore } from './restore.js';
import { UNIT_BYTES, type RepositoryContext } from './unit-work.js';
import { verify } from './verify.js';

/** Chosen by `npm run bench:backup -- --chunk-sizes …` (BENCHMARKS.md). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

export async function openRepository(options: OpenRepositoryOptions): Promise<Repository> {
  const store = 'store' in options ? options.store : await openStore(options.location);
  try {
    const config = await openOrCreateConfig(store, options.password, options.create === true, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    const keys = unlock(config, options.password);
    const warn = options.onWarning ?? ((message: string) => void process.stderr.write(`warning: repository ${store.description}: ${message}\n`));
    return new StoreRepository(store, config, keys, new ChunkPool(store.location, keys, options.workers), warn);
  } catch (error) {
    // The caller's own store stays open; one opened here is closed.
    if (!('store' in options)) await store.close();
    throw error;
  }
}

class StoreRepository implements Repository {
  readonly id: string;
  readonly location: StoreLocation;
  readonly description: string;
  readonly encrypted: boolean;
  private readonly chunkSize: number;
  /** Numbers the restores (see RestoreTarget.restore). */
  private restoresStarted = 0;
  /** What the backup, restore and verification modules work with. */
  private readonly context: RepositoryContext;

  constructor(
    private readonly store: ObjectStore,
    config: RepositoryConfig,
    private readonly keys: RepositoryKeys,
    private readonly pool: ChunkPool,
    private readonly warn: IndexWarning,
  ) {
    this.id = config.id;
    this.location = store.location;
    this.description = formatRepositoryLocation(store.location);
    this.encrypted = config.encryption !== null;
    this.chunkSize = config.chunkSize;
    const unitBytes = Math.max(config.chunkSize, UNIT_BYTES);
    this.context = {
      store,
      keys,
      pool,
      chunkSize: config.chunkSize,
      unitBytes,
      chunksPerUnit: unitBytes / config.chunkSize,
      loadIndex: () => this.loadIndex(),
      backupIds: () => this.backupIds(),
    };
  }

  /** The index; a damaged index file is reported and rebuilt from the packs (chunk-index.ts). */
  private loadIndex(): Promise<ChunkIndex> {
    return ChunkIndex.load(this.store, this.keys, this.warn);
  }

  backup(options: BackupOptions): Promise<BackupResult> {
    return backUp(this.context, options);
  }

  async listBackups(): Promise<BackupSummary[]> {
    const summaries: BackupSummary[] = [];
    for (const id of await this.backupIds()) summaries.push(summaryOf(await readManifestHeader(this.store, id, this.keys)));
    return summaries.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async getBackup(backupId: string): Promise<BackupSummary> {
    return summaryOf(await readManifestHeader(this.store, backupId, this.keys));
  }

  restore(backupId: string, options: RestoreOptions): Promise<void> {
    return restore(this.context, this.restoresStarted++, backupId, options);
  }

  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return verify(this.context, options);
  }

  async forget(backupIds: readonly string[]): Promise<void> {
    const names = backupIds.filter((id) => BACKUP_ID.test(id));
    if (names.length === 0) return;
    await this.store.remove('manifest', names);
    await this.store.barrier('manifest');
  }

  /** Keeps exactly the chunks some manifest names, one copy each (gc.ts: the order, crash and full-disk guarantees). */
  async gc(options: { signal?: AbortSignal; onProgress?: ProgressListener } = {}): Promise<GcReport> {
    const lock = await acquireGcLock(this.store);
    try {
      await removeStaleLocks(this.store);
      return await collectGarbage({
        store: this.store,
        keys: this.keys,
        chunkSize: this.chunkSize,
        // Every manifest must be read: a chunk named by one that cannot be read might still be needed.
        referenced: async () => this.chunksNamedBy(await this.backupIds()),
        loadIndex: () => this.loadIndex(),
        ...options,
      });
    } finally {
      await lock.release();
    }
  }

  async repairIndex(): Promise<IndexRepairReport> {
    const lock = await acquireGcLock(this.store);
    try {
      const report = await rebuildIndex(this.store, this.keys);
      for (const file of report.damagedIndexFiles) this.warn(`index file ${file} was damaged; replaced`);
      return report;
    } finally {
      await lock.release();
    }
  }

  copyTo(target: Repository, options: CopyOptions = {}): Promise<CopyReport> {
    if (!(target instanceof StoreRepository)) throw new TypeError('The copy target must be a repository opened by openRepository');
    if (target.description === this.description) throw new RangeError(`The source and the target are the same repository (${this.description})`);
    return copyBackups(this.context, target.context, options);
  }

  async storedBytes(backupIds: readonly string[]): Promise<number> {
    const index = await this.loadIndex();
    let total = 0;
    for (const chunkId of await this.chunksNamedBy(backupIds)) total += index.locate(chunkId)?.length ?? 0;
    return total;
  }

  async packs(): Promise<PackContents[]> {
    const packs: PackContents[] = [];
    for (const [id, fileBytes] of await packSizes(this.store)) {
      const table = await readPackTable(this.store, id, this.keys);
      packs.push({ id, fileBytes, blobs: table.map(([chunkId, offset, length]) => ({ chunkId, offset, length })) });
    }
    return packs;
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.store.close();
  }

  /** The distinct stored chunks these backups' manifests name (read a segment at a time). */
  private async chunksNamedBy(backupIds: readonly string[]): Promise<Set<string>> {
    const chunkIds = new Set<string>();
    for (const id of backupIds) {
      const manifest = await ManifestReader.open(this.store, id, this.keys);
      await manifest.forEachChunk((chunkId) => chunkId !== null && chunkIds.add(chunkId));
    }
    return chunkIds;
  }

  private async backupIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const { name } of this.store.list('manifest')) if (BACKUP_ID.test(name)) ids.push(name);
    return ids;
  }
}

