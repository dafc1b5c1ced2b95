/**
 * What the backup engine offers the API's extension endpoints. The engine (src/engine) implements
 * it; a process without an engine (no repository passphrase configured) has none, and those
 * endpoints then answer `backup_engine_unavailable`.
 */
import { rmSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { Backup, Database } from '../store/schema.js';
import type { DiskRecord, InventoryService } from './inventory.js';

export interface BackupVerification {
  readonly ok: boolean;
  readonly chunksChecked: number;
  readonly badChunks: readonly { readonly chunkId: string; readonly problem: string; readonly detail: string }[];
}

export interface BackupOperations {
  runPolicyNow(policyId: string): Promise<{ runId: string; result: { status: string; error?: string | null | undefined } }>;
  /** Restores the backup into a new image under the data directory; answers its path. */
  restoreToNewImage(backupId: string): Promise<string>;
  verify(backupId: string): Promise<BackupVerification>;
}

/** A new disk of the backup's organization whose data is the restored image (removed again if the disk cannot be made). */
export async function diskFromRestoredImage(inventory: InventoryService, backup: Backup, name: string, imagePath: string): Promise<DiskRecord> {
  try {
    return await inventory.createDisk({
      organizationId: backup.organization_id,
      name,
      sizeInGb: Math.max(1, Math.ceil(backup.disk_size_bytes / 1_000_000_000)),
      imagePath,
    });
  } catch (error) {
    rmSync(imagePath, { force: true });
    throw error;
  }
}

/** The catalogue of backups (rows the engine writes), for lookups and listings. */
export class BackupCatalogue {
  constructor(private readonly db: Kysely<Database>) {}

  async find(id: string): Promise<Backup | null> {
    return (await this.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  /** Newest first: one policy's, or (no policy) every backup. */
  list(policyId?: string): Promise<Backup[]> {
    let query = this.db.selectFrom('backups').selectAll().orderBy('created_at', 'desc').orderBy('pk', 'desc');
    if (policyId !== undefined) query = query.where('policy_id', '=', policyId);
    return query.execute();
  }
}
