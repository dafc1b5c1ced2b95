/**
 * What the backup engine offers the API's extension endpoints. The engine (src/engine) implements
 * it; a process without an engine (no repository passphrase configured) has none, and those
 * endpoints then answer `backup_engine_unavailable`.
 */
import { rmSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { Backup, BackupRow, Database } from '../store/schema.js';
import type { DiskRecord, InventoryService } from './inventory.js';
import { backupRestoredEvent, recordEvents } from '../webhooks/events.js';

export interface BackupVerification {
  readonly ok: boolean;
  readonly chunksChecked: number;
  readonly badChunks: readonly { readonly chunkId: string; readonly problem: string; readonly detail: string }[];
}

/** One disk's backup taken by a run, as `runPolicyNow` answers it. */
export interface TakenBackup {
  /** The catalogue id (`backups.id`). */
  readonly id: string;
  readonly diskId: string;
  /** Bytes read from the disk (its whole image). */
  readonly bytesRead: number;
  /** Stored bytes this backup newly added to the repository (0 when every chunk was already there). */
  readonly bytesStored: number;
  /** Wall time of reading and storing the disk, in milliseconds. */
  readonly durationMs: number;
  /** True when the disk was read in place, not from a point-in-time clone. */
  readonly liveRead: boolean;
}

/** How a manual run ended. `error` is null when it succeeded; a live read is `liveRead`, not an error. */
export interface PolicyRunResult {
  readonly status: 'succeeded' | 'failed' | 'skipped';
  readonly error: string | null;
  /** True when any of its backups was read live. */
  readonly liveRead: boolean;
  /** The backups it took, in the order of its disks (a disk that failed has none). */
  readonly backups: TakenBackup[];
  /** True when it failed because the repository's store could not be reached (it is not retried). */
  readonly storeUnreachable?: boolean;
}

/** Bytes handled so far of a long operation: a run's disks (its total grows as each disk starts), a restored or verified image. */
export type BytesProgress = (progress: { readonly bytesDone: number; readonly bytesTotal: number }) => void;

export interface BackupOperations {
  /** A local repository's directory (to tell its file-system failures from others'); absent for other stores. */
  readonly repositoryPath?: string;
  /** `onStarted` is told the run's id once it is recorded (a policy with a run in progress throws before). */
  runPolicyNow(
    policyId: string,
    options?: { onProgress?: BytesProgress; onStarted?: (runId: string) => void },
  ): Promise<{ runId: string; result: PolicyRunResult }>;
  /** Restores the backup into a new image under the data directory; answers its path. */
  restoreToNewImage(backupId: string, onProgress?: BytesProgress): Promise<string>;
  verify(backupId: string, onProgress?: BytesProgress): Promise<BackupVerification>;
}

/**
 * A new disk of the backup's organization whose data is the restored image (removed again if the
 * disk cannot be made). The disk is announced to the organization's webhooks (`backup.restored`) in
 * the transaction that makes it.
 */
export async function diskFromRestoredImage(inventory: InventoryService, backup: Backup, name: string, imagePath: string, now: number): Promise<DiskRecord> {
  try {
    return await inventory.createDisk({
      organizationId: backup.organization_id,
      name,
      sizeInGb: Math.max(1, Math.ceil(backup.disk_size_bytes / 1_000_000_000)),
      imagePath,
      alsoWrite: (trx, disk) => recordEvents(trx, [backupRestoredEvent(backup.organization_id, backup, { type: 'disk', diskId: disk.id }, now)]),
    });
  } catch (error) {
    rmSync(imagePath, { force: true });
    throw error;
  }
}

/** A catalogue row as the services answer it: `live_read` a boolean; the verification scheduler's lease left out. */
export function backupRecord({ live_read, verify_claimed_until: _lease, ...row }: BackupRow): Backup {
  return { ...row, live_read: Number(live_read) === 1 };
}

/** The catalogue of backups (rows the engine writes), for lookups and listings. */
export class BackupCatalogue {
  constructor(private readonly db: Kysely<Database>) {}

  async find(id: string): Promise<Backup | null> {
    const row = await this.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? backupRecord(row) : null;
  }

  /** Newest first: one policy's, or (no policy) every backup. */
  async list(policyId?: string): Promise<Backup[]> {
    let query = this.db.selectFrom('backups').selectAll().orderBy('created_at', 'desc').orderBy('pk', 'desc');
    if (policyId !== undefined) query = query.where('policy_id', '=', policyId);
    return (await query.execute()).map(backupRecord);
  }
}
