/**
 * A backup repository in an object store (format: docs/REPOSITORY.md; stores: ../storage), behind a
 * small facade: taking a backup (backup.ts), restoring (restore.ts) and verifying (verify.ts) are
 * modules of their own; worker threads hash, seal and load the chunks (chunk-pool.ts). Forgetting a
 * backup deletes its manifest only; garbage collection (gc.ts), alone in the repository, keeps exactly
 * the chunks the manifests name.
 */
import { formatRepositoryLocation } from '../storage/location.js';
import { StoreError, type ObjectStore, type StoreLocation } from '../storage/object-store.js';
import { openStore } from '../storage/open-store.js';
import { RetainingStore } from '../storage/retaining-store.js';
import { backUp } from './backup.js';
import { backUpChanges, readImage } from './backup-changes.js';
import { ChunkIndex, type IndexWarning } from './chunk-index.js';
import { ChunkPool } from './chunk-pool.js';
import type {
  BackupOptions,
  ChangesBackupOptions,
  ChangesBackupResult,
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
import { forgottenBackupOf, forgottenMarkerName, RetentionPeriod } from './immutability.js';
import { rebuildIndex } from './index-repair.js';
import { unlock, type RepositoryConfig, type RepositoryKeys } from './keys.js';
import { BACKUP_ID, CONFIG_NAME } from './layout.js';
import { acquireGcLock, removeStaleLocks } from './locks.js';
import { ManifestReader, readManifestHeader, summaryOf } from './manifest.js';
import { createConfig, openOrCreateConfig } from './open.js';
import { packSizes, readPackTable } from './packs.js';
import { restore } from './restore.js';
import { UNIT_BYTES, type RepositoryContext } from './unit-work.js';
import { verify } from './verify.js';

/** Chosen by `npm run bench:backup -- --chunk-sizes …` (BENCHMARKS.md). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

export async function openRepository(options: OpenRepositoryOptions): Promise<Repository> {
  return openWith(options, (store) => openOrCreateConfig(store, options.password, options.create === true, options.chunkSize ?? DEFAULT_CHUNK_SIZE));
}

/**
 * Creates a new repository and opens it (`dbp repository init`): RepositoryError('repository_exists')
 * when the store holds one; with `immutableDays`, 'immutability_unsupported' unless the store keeps
 * objects immutable (an S3 bucket with Object Lock), and nothing is written then.
 */
export async function initRepository(options: OpenRepositoryOptions & { readonly immutableDays?: number }): Promise<Repository> {
  return openWith(options, (store) => createConfig(store, options.password, options.chunkSize ?? DEFAULT_CHUNK_SIZE, options.immutableDays));
}

async function openWith(options: OpenRepositoryOptions, configOf: (store: ObjectStore) => Promise<RepositoryConfig>): Promise<Repository> {
  const store = 'store' in options ? options.store : await openStore(options.location);
  try {
    const config = await configOf(store);
    const keys = unlock(config, options.password);
    const warn = options.onWarning ?? ((message: string) => void process.stderr.write(`warning: repository ${store.description}: ${message}\n`));
    // An immutable repository writes every object (but locks) retained for its period.
    const period = RetentionPeriod.of(config.immutableDays);
    const writing = period ? new RetainingStore(store, period.ms) : store;
    return new StoreRepository(writing, config, keys, new ChunkPool(keys, options.workers), warn, period);
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
  /** Days each object is retained for; undefined when the repository is not immutable. */
  readonly immutableDays: number | undefined;
  readonly chunkSize: number;
  /** What the backup, restore and verification modules work with. */
  private readonly context: RepositoryContext;

  constructor(
    private readonly store: ObjectStore,
    config: RepositoryConfig,
    private readonly keys: RepositoryKeys,
    private readonly pool: ChunkPool,
    private readonly warn: IndexWarning,
    private readonly period: RetentionPeriod | undefined,
  ) {
    this.id = config.id;
    this.immutableDays = config.immutableDays;
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

  backupChanges(options: ChangesBackupOptions): Promise<ChangesBackupResult> {
    return backUpChanges(this.context, options);
  }

  readImage(backupId: string, write: (position: number, bytes: Uint8Array) => Promise<void>, options: { signal?: AbortSignal; onProgress?: ProgressListener } = {}): Promise<BackupSummary> {
    return readImage(this.context, backupId, write, options);
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
    return restore(this.context, backupId, options);
  }

  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    return verify(this.context, options);
  }

  async forget(backupIds: readonly string[]): Promise<void> {
    const names = backupIds.filter((id) => BACKUP_ID.test(id));
    if (names.length === 0) return;
    const removable = this.period ? await this.markRetained(names, this.period) : names;
    if (removable.length > 0) await this.store.remove('manifest', removable);
    await this.store.barrier('manifest');
  }

  /**
   * Immutable repositories: a manifest still retained cannot be deleted, so a "forgotten" marker is
   * written beside it (retained exactly as long as the manifest); gc deletes both once that ends.
   * Answers the manifests whose retention is over, which can be deleted now.
   */
  private async markRetained(backupIds: readonly string[], period: RetentionPeriod): Promise<string[]> {
    const removable: string[] = [];
    for (const id of backupIds) {
      const manifest = await this.store.stat('manifest', id);
      if (manifest === undefined) continue;
      if (!period.isRetained(manifest)) {
        removable.push(id, forgottenMarkerName(id));
        continue;
      }
      if (await this.store.stat('manifest', forgottenMarkerName(id))) continue; // forgotten already
      const marker = Buffer.from(`${JSON.stringify({ backup: id, forgottenAt: Math.floor(Date.now() / 1000) })}\n`);
      await this.store.put('manifest', forgottenMarkerName(id), [marker], { retainUntil: new Date(period.expiresAt(manifest)) });
    }
    return removable;
  }

  /** Keeps exactly the chunks some manifest names, one copy each (gc.ts: the order, crash and full-disk guarantees). */
  async gc(options: { signal?: AbortSignal; onProgress?: ProgressListener } = {}): Promise<GcReport> {
    const lock = await acquireGcLock(this.store);
    try {
      await removeStaleLocks(this.store);
      const notes = this.period ? await this.removeExpiredForgotten(this.period) : [];
      const report = await collectGarbage({
        store: this.store,
        keys: this.keys,
        chunkSize: this.chunkSize,
        // Every manifest must be read: a chunk named by one that cannot be read might still be needed.
        // A forgotten manifest still retained is one of them: its chunks stay until it can go.
        referenced: async () => this.chunksNamedBy(await this.manifestIds()),
        loadIndex: () => this.loadIndex(),
        ...(this.period ? { retention: this.period } : {}),
        ...options,
      });
      const all = [...notes, ...(report.notes ?? [])];
      return all.length > 0 ? { ...report, notes: all } : report;
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

  async probe(): Promise<void> {
    if (!(await this.store.stat('config', CONFIG_NAME))) throw new Error(`${this.description} holds no repository config`);
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

  /** The backups there are: every manifest but those forgotten while retained (immutable repositories). */
  private async backupIds(): Promise<string[]> {
    const { manifests, forgotten } = await this.manifestNames();
    return manifests.filter((id) => !forgotten.has(id));
  }

  /** Every manifest there is, forgotten or not. */
  private async manifestIds(): Promise<string[]> {
    return (await this.manifestNames()).manifests;
  }

  private async manifestNames(): Promise<{ manifests: string[]; forgotten: Set<string> }> {
    const manifests: string[] = [];
    /** Backups forgotten while retained (immutable repositories). */
    const forgotten = new Set<string>();
    for await (const { name } of this.store.list('manifest')) {
      if (BACKUP_ID.test(name)) manifests.push(name);
      else {
        const id = forgottenBackupOf(name);
        if (id !== undefined) forgotten.add(id);
      }
    }
    return { manifests, forgotten };
  }

  /**
   * Immutable repositories, at the start of gc: forgotten manifests whose retention is over are
   * deleted with their markers (then their chunks are no longer referenced). Those still retained are
   * left, and said in the report's notes. A removal the store refuses all the same is left for later.
   */
  private async removeExpiredForgotten(period: RetentionPeriod): Promise<string[]> {
    const infos = new Map<string, { modifiedAt: number }>();
    const forgotten: string[] = [];
    for await (const info of this.store.list('manifest')) {
      infos.set(info.name, info);
      const id = forgottenBackupOf(info.name);
      if (id !== undefined) forgotten.push(id);
    }
    const now = Date.now();
    const expired: string[] = [];
    let retained = 0;
    for (const id of forgotten) {
      const manifest = infos.get(id);
      // The marker is retained exactly as long as its manifest (forget): both go together, the manifest
      // first (a marker left alone by a crash is removed by the next gc, or refused while retained).
      if (manifest === undefined || !period.isRetained(manifest, now)) expired.push(id);
      else retained += 1;
    }
    const notes: string[] = [];
    if (retained > 0) notes.push(`${retained} forgotten backup(s) are still retained (Object Lock): their manifests and chunks stay until the retention ends`);
    for (const id of expired) {
      try {
        await this.store.remove('manifest', [id]);
        await this.store.remove('manifest', [forgottenMarkerName(id)]);
      } catch (error) {
        if (!(error instanceof StoreError && error.code === 'locked')) throw error;
        notes.push(`The store still refuses to delete forgotten backup ${id} (retained): left for a later gc`);
      }
    }
    if (expired.length > 0) await this.store.barrier('manifest');
    return notes;
  }
}

