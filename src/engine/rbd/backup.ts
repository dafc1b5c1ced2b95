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
import {
  rbdCreateSnapshot,
  rbdDiff,
  rbdEnsureGroup,
  rbdGroupAddImage,
  rbdGroupImages,
  rbdGroups,
  rbdGroupSnapshotCreate,
  rbdGroupSnapshotRemove,
  rbdGroupSnapshots,
  rbdImageSize,
  rbdRemoveSnapshot,
  rbdSnapshots,
  type RbdExtent,
} from './cli.js';
import { rbdDiffAt, RbdSnapshotReader, type SnapshotRef } from './io.js';
import { formatRbdImageName, type RbdImageName } from './names.js';

const SNAPSHOT_PREFIX = 'dbp.';
/** Reader processes per backup (engine/rbd/io.ts). */
const READERS = 4;

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
  /** A virtual machine's run: the disk's snapshots are already taken (see prepareGroupSnapshot). */
  readonly prepared?: PreparedDisk | undefined;
}

/** A group snapshot of a virtual machine's images: `POOL/GROUP@NAME`. */
export interface GroupSnapshot {
  readonly pool: string;
  readonly group: string;
  readonly name: string;
}

/** One disk of a group snapshot: its own snapshot (taken just before the group's, kept as the next base) and the group's. */
export interface PreparedDisk {
  readonly backupId: string;
  readonly snapshot: string;
  readonly group: GroupSnapshot;
}

export interface RbdBackupOutcome {
  readonly result: ChangesBackupResult;
  readonly snapshot: string;
  readonly readMode: ReadMode;
  /** The catalogue id of the backup an incremental built on. */
  readonly baseBackupId: string | null;
  /** Why the read was full although the disk had an earlier backup; null otherwise. */
  readonly note: string | null;
  /** The group snapshot it was read from, written `POOL/GROUP@NAME`; null for a disk's own snapshot. */
  readonly snapshotGroup: string | null;
}

/**
 * Snapshots the image and backs the snapshot up, incrementally when it can (see the module comment).
 * A prepared disk (a virtual machine's) is read from the group snapshot instead; its own snapshot,
 * taken just before the group's, is the next backup's base: the changes since it are a superset of
 * those since the group snapshot, so nothing is missed.
 */
export async function backUpRbdDisk(db: Kysely<Database>, repository: Repository, request: RbdBackupRequest): Promise<RbdBackupOutcome> {
  const { image, prepared } = request;
  const snapshot = prepared?.snapshot ?? snapshotName(request.runId, request.backupId);
  if (!prepared) {
    await reconcileDiskSnapshots(db, request.diskId, image, request.now, request.runId);
    await rbdCreateSnapshot(image, snapshot);
  }
  const readFrom: SnapshotRef = prepared ? { kind: 'group', group: prepared.group.group, name: prepared.group.name } : { kind: 'user', name: snapshot };
  try {
    const diskSize = await rbdImageSize(image, snapshot);
    const base = await chooseBase(db, repository, request.diskId, image, diskSize);
    let extents: RbdExtent[];
    if (prepared) {
      const diff = await rbdDiffAt(image, readFrom, base.base?.snapshot);
      if (diff.size !== diskSize) throw new Error(`The image was resized between its snapshot and the group snapshot (${diskSize} and ${diff.size} bytes)`);
      extents = diff.extents;
    } else {
      extents = await rbdDiff(image, snapshot, base.base?.snapshot);
    }
    // A few readers side by side: each read waits on the cluster, and one reader answers one at a time.
    const readers = Array.from({ length: READERS }, () => RbdSnapshotReader.open(image, readFrom));
    let next = 0;
    let result: ChangesBackupResult;
    try {
      result = await repository.backupChanges({
        diskSize,
        extents,
        ...(base.base ? { baseBackupId: base.base.repositoryBackupId } : {}),
        read: (position, length) => readers[next++ % READERS]!.read(position, length),
        tags: request.tags,
        signal: request.signal,
        ...(request.onProgress ? { onProgress: request.onProgress } : {}),
      });
    } finally {
      await Promise.all(readers.map((reader) => reader.close()));
    }
    const snapshotGroup = prepared ? `${prepared.group.pool}/${prepared.group.group}@${prepared.group.name}` : null;
    return { result, snapshot, readMode: base.base ? 'incremental' : 'full', baseBackupId: base.base?.backupId ?? null, note: base.note, snapshotGroup };
  } catch (error) {
    await rbdRemoveSnapshot(image, snapshot).catch(() => {});
    throw error;
  }
}

/** The group of a virtual machine's images: `dbp-<vm id>`, in the pool of its first disk's image. */
export function groupOf(virtualMachineId: string, images: readonly RbdImageName[]): { pool: string; group: string } {
  return { pool: images[0]!.pool, group: `dbp-${virtualMachineId}` };
}

/**
 * A virtual machine's disks at one instant: each image gets its own snapshot (the next backup's base),
 * then the group of the machine's images (made, and the images added, as needed) one group snapshot
 * `dbp.<run id>`, which the backups read. `release` removes the group snapshot once they are done.
 */
export async function prepareGroupSnapshot(
  db: Kysely<Database>,
  virtualMachineId: string,
  runId: string,
  now: number,
  disks: readonly { diskId: string; image: RbdImageName; backupId: string }[],
): Promise<{ prepared: Map<string, PreparedDisk>; release: () => Promise<void> }> {
  const { pool, group } = groupOf(virtualMachineId, disks.map((disk) => disk.image));
  await rbdEnsureGroup(pool, group);
  const members = new Set(await rbdGroupImages(pool, group));
  for (const disk of disks) if (!members.has(formatRbdImageName(disk.image))) await rbdGroupAddImage(pool, group, disk.image);
  await reconcileGroupSnapshots(db, pool, group, now, runId);
  const made: { image: RbdImageName; snapshot: string }[] = [];
  const name = `${SNAPSHOT_PREFIX}${runId}`;
  try {
    for (const disk of disks) {
      await reconcileDiskSnapshots(db, disk.diskId, disk.image, now, runId);
      const snapshot = snapshotName(runId, disk.backupId);
      await rbdCreateSnapshot(disk.image, snapshot);
      made.push({ image: disk.image, snapshot });
    }
    await rbdGroupSnapshotCreate(pool, group, name);
  } catch (error) {
    for (const { image, snapshot } of made) await rbdRemoveSnapshot(image, snapshot).catch(() => {});
    throw error;
  }
  const prepared = new Map(disks.map((disk) => [disk.diskId, { backupId: disk.backupId, snapshot: snapshotName(runId, disk.backupId), group: { pool, group, name } }]));
  return { prepared, release: () => rbdGroupSnapshotRemove(pool, group, name) };
}

/** Removes the group's snapshots of this service (`dbp.<run id>`) but those of unfinished runs whose lease holds (and not `ownRun`'s). */
export async function reconcileGroupSnapshots(db: Kysely<Database>, pool: string, group: string, now: number, ownRun?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await rbdGroupSnapshots(pool, group)) {
    if (!name.startsWith(SNAPSHOT_PREFIX)) continue;
    const runId = name.slice(SNAPSHOT_PREFIX.length);
    if (runId !== ownRun && (await runHoldsLease(db, runId, now))) continue;
    await rbdGroupSnapshotRemove(pool, group, name);
    removed.push(name);
  }
  return removed;
}

/** Every group of this service (`dbp-…`) in the pool. */
export async function serviceGroups(pool: string): Promise<string[]> {
  return (await rbdGroups(pool)).filter((group) => group.startsWith('dbp-'));
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
