/**
 * Backing up an RBD disk from a snapshot (docs/RBD.md). A backup takes a snapshot named after its
 * run and itself (`dbp.<run id>.<backup id>`) and reads that, never the live image: with a base (the
 * snapshot of the disk's previous backup, still there, that backup not failed verification, the
 * image the same size) only the extents RBD says changed since the base are read and every other
 * chunk is the previous backup's; otherwise every allocated extent is read, and the backup says why.
 *
 * The snapshot of a disk's newest backup is kept as the next one's base; every other snapshot of
 * this service on the image is removed by `reconcileDiskSnapshots` (before each backup of the disk,
 * after it, and at worker start), unless an unfinished run whose lease still holds made it.
 */
import type { Kysely } from 'kysely';
import type { ChangesBackupResult, Repository, ProgressListener } from '../repository/index.js';
import type { Database, ReadMode } from '../../store/schema.js';
import { rbdCreateSnapshot, rbdDiff, rbdImageSize, rbdRemoveSnapshot, rbdSnapshots } from './cli.js';
import { RbdSnapshotReader } from './io.js';
import type { RbdImageName } from './names.js';

const SNAPSHOT_PREFIX = 'dbp.';

export function snapshotName(runId: string, backupId: string): string {
  return `${SNAPSHOT_PREFIX}${runId}.${backupId}`;
}

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

async function runHoldsLease(db: Kysely<Database>, runId: string, now: number): Promise<boolean> {
  const run = await db.selectFrom('backup_runs').select(['finished_at', 'lease_expires_at']).where('id', '=', runId).executeTakeFirst();
  return run !== undefined && run.finished_at === null && run.lease_expires_at !== null && Number(run.lease_expires_at) > now;
}

function newestSnapshotBackup(db: Kysely<Database>, diskId: string) {
  return db
    .selectFrom('backups')
    .select(['id', 'repository_backup_id', 'source_snapshot', 'verify_outcome', 'disk_size_bytes'])
    .where('disk_id', '=', diskId)
    .where('source_snapshot', 'is not', null)
    .orderBy('created_at', 'desc')
    .orderBy('pk', 'desc')
    .executeTakeFirst();
}

export interface RbdBackupRequest {
  readonly image: RbdImageName;
  readonly diskId: string;
  readonly runId: string;
  /** The catalogue id the backup will have (it names the snapshot). */
  readonly backupId: string;
  readonly now: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  readonly onProgress?: ProgressListener | undefined;
}

export interface RbdBackupOutcome {
  readonly result: ChangesBackupResult;
  readonly snapshot: string;
  readonly readMode: ReadMode;
  /** The catalogue id of the backup an incremental built on. */
  readonly baseBackupId: string | null;
  /** Why the read was full although the disk had an earlier backup; null otherwise. */
  readonly note: string | null;
}

/** Snapshots the image and backs the snapshot up, incrementally when it can (see the module comment). */
export async function backUpRbdDisk(db: Kysely<Database>, repository: Repository, request: RbdBackupRequest): Promise<RbdBackupOutcome> {
  const { image } = request;
  await reconcileDiskSnapshots(db, request.diskId, image, request.now, request.runId);
  const snapshot = snapshotName(request.runId, request.backupId);
  await rbdCreateSnapshot(image, snapshot);
  try {
    const diskSize = await rbdImageSize(image, snapshot);
    const base = await chooseBase(db, repository, request.diskId, image, diskSize);
    const extents = await rbdDiff(image, snapshot, base.base?.snapshot);
    const reader = RbdSnapshotReader.open(image, snapshot);
    let result: ChangesBackupResult;
    try {
      result = await repository.backupChanges({
        diskSize,
        extents,
        ...(base.base ? { baseBackupId: base.base.repositoryBackupId } : {}),
        read: (position, length) => reader.read(position, length),
        tags: request.tags,
        signal: request.signal,
        ...(request.onProgress ? { onProgress: request.onProgress } : {}),
      });
    } finally {
      await reader.close();
    }
    return { result, snapshot, readMode: base.base ? 'incremental' : 'full', baseBackupId: base.base?.backupId ?? null, note: base.note };
  } catch (error) {
    await rbdRemoveSnapshot(image, snapshot).catch(() => {});
    throw error;
  }
}

interface BaseChoice {
  readonly base?: { readonly backupId: string; readonly repositoryBackupId: string; readonly snapshot: string };
  readonly note: string | null;
}

/** The disk's newest backup as the base of an incremental, or why there is none. */
async function chooseBase(db: Kysely<Database>, repository: Repository, diskId: string, image: RbdImageName, diskSize: number): Promise<BaseChoice> {
  const previous = await newestSnapshotBackup(db, diskId);
  if (!previous) return { note: null };
  const snapshot = previous.source_snapshot!;
  const full = (why: string): BaseChoice => ({ note: `full read: ${why}` });
  if (previous.verify_outcome === 'failed') return full(`the previous backup ${previous.id} failed its last verification`);
  if (!(await rbdSnapshots(image)).includes(snapshot)) return full(`the previous backup's snapshot ${snapshot} is gone`);
  let summary;
  try {
    summary = await repository.getBackup(previous.repository_backup_id);
  } catch (error) {
    return full(`the previous backup ${previous.id} cannot be read (${(error as Error).message})`);
  }
  if (summary.diskSize !== diskSize) return full(`the image is ${diskSize} bytes, ${summary.diskSize} at the previous backup`);
  return { base: { backupId: previous.id, repositoryBackupId: previous.repository_backup_id, snapshot }, note: null };
}
