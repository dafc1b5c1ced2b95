/**
 * This service's RBD snapshots: an image's are named `dbp.<run id>.<backup id>`, a group's
 * `dbp.<run id>`. The snapshot of a disk's newest backup is kept as the next one's base; every other
 * one is removed by the reconciles here (before and after each backup, and at worker start), unless an
 * unfinished run whose lease still holds made it.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.js';
import { rbdRemoveSnapshot, rbdSnapshots } from './cli.js';
import type { RbdImageName } from './names.js';

export const SNAPSHOT_PREFIX = 'dbp.';

export function snapshotName(runId: string, backupId: string): string {
  return `${SNAPSHOT_PREFIX}${runId}.${backupId}`;
}

/** The run a disk snapshot of this service (`dbp.<run>.<backup>`) was taken for. */
function runOfSnapshot(name: string): string | undefined {
  if (!name.startsWith(SNAPSHOT_PREFIX)) return undefined;
  const parts = name.slice(SNAPSHOT_PREFIX.length).split('.');
  return parts.length === 2 ? parts[0] : undefined;
}

/**
 * Removes this service's snapshots of the image (named `dbp.…`) that nothing needs: all but the
 * snapshot of the disk's newest backup and those of unfinished runs whose lease has not expired at
 * `now` (but `ownRun`'s: the caller is that run and knows which of its snapshots it still needs).
 * Answers the snapshots removed.
 */
export async function reconcileDiskSnapshots(db: Kysely<Database>, diskId: string, image: RbdImageName, now: number, ownRun?: string): Promise<string[]> {
  const ours = (await rbdSnapshots(image)).filter((name) => runOfSnapshot(name) !== undefined);
  if (ours.length === 0) return [];
  const newest = await newestSnapshotBackup(db, diskId);
  const removed: string[] = [];
  for (const snapshot of ours) {
    if (snapshot === newest?.source_snapshot) continue;
    const runId = runOfSnapshot(snapshot)!;
    if (runId !== ownRun && (await runHoldsLease(db, runId, now))) continue;
    await rbdRemoveSnapshot(image, snapshot);
    removed.push(snapshot);
  }
  return removed;
}

export async function runHoldsLease(db: Kysely<Database>, runId: string, now: number): Promise<boolean> {
  const run = await db.selectFrom('backup_runs').select(['finished_at', 'lease_expires_at']).where('id', '=', runId).executeTakeFirst();
  return run !== undefined && run.finished_at === null && run.lease_expires_at !== null && Number(run.lease_expires_at) > now;
}

export function newestSnapshotBackup(db: Kysely<Database>, diskId: string) {
  return db
    .selectFrom('backups')
    .select(['id', 'repository_backup_id', 'source_snapshot', 'verify_outcome', 'disk_size_bytes'])
    .where('disk_id', '=', diskId)
    .where('source_snapshot', 'is not', null)
    .orderBy('created_at', 'desc')
    .orderBy('pk', 'desc')
    .executeTakeFirst();
}
