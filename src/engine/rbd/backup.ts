/**
 * Backing up an RBD disk from a snapshot (docs/RBD.md). A backup takes a snapshot named after its
 * run and itself (`dbp.<run id>.<backup id>`) and reads that, never the live image: with a base (the
 * snapshot of the disk's previous backup, still there, that backup not failed verification, the
 * image the same size) only the extents RBD says changed since the base are read and every other
 * chunk is the previous backup's; otherwise every allocated extent is read, and the backup says why.
 * Which snapshots are kept and removed: snapshots.ts; a virtual machine's disks together: group.ts.
 */
import type { Kysely } from 'kysely';
import type { ChangesBackupResult, Repository, ProgressListener } from '../repository/index.js';
import type { Database, ReadMode } from '../../store/schema.js';
import { rbdCreateSnapshot, rbdDiff, rbdImageSize, rbdRemoveSnapshot, rbdSnapshots, type RbdExtent } from './cli.js';
import type { PreparedDisk } from './group.js';
import { rbdDiffAt, RbdSnapshotReader, type SnapshotRef } from './io.js';
import type { RbdImageName } from './names.js';
import { newestSnapshotBackup, reconcileDiskSnapshots, snapshotName } from './snapshots.js';

/** Reader processes per backup (engine/rbd/io.ts): each keeps many reads in flight; two share the work of copying bytes. */
const READERS = 2;

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
  // The readers start (and connect to the cluster) while the size, the base and the diff are asked for.
  // Whole chunks are read: the zero ones (most of an object RBD names whole) come as a flag only.
  const readers = Array.from({ length: READERS }, () => RbdSnapshotReader.open(image, readFrom, repository.chunkSize));
  try {
    const sizeAsked = rbdImageSize(image, snapshot);
    sizeAsked.catch(() => {}); // awaited below; a failure is thrown there, not left unhandled meanwhile
    const base = await chooseBase(db, repository, request.diskId, image, sizeAsked);
    const diskSize = await sizeAsked;
    let extents: RbdExtent[];
    if (prepared) {
      const diff = await rbdDiffAt(image, readFrom, base.base?.snapshot);
      if (diff.size !== diskSize) throw new Error(`The image was resized between its snapshot and the group snapshot (${diskSize} and ${diff.size} bytes)`);
      extents = diff.extents;
    } else {
      extents = await rbdDiff(image, snapshot, base.base?.snapshot);
    }
    let next = 0;
    let result: ChangesBackupResult;
    try {
      result = await repository.backupChanges({
        diskSize,
        extents,
        ...(base.base ? { baseBackupId: base.base.repositoryBackupId } : {}),
        read: (position, _length, into) => readers[next++ % READERS]!.readInto(position, into),
        tags: request.tags,
        signal: request.signal,
        ...(request.onProgress ? { onProgress: request.onProgress } : {}),
      });
    } finally {
      await closeReaders(readers);
    }
    const snapshotGroup = prepared ? `${prepared.group.pool}/${prepared.group.group}@${prepared.group.name}` : null;
    return { result, snapshot, readMode: base.base ? 'incremental' : 'full', baseBackupId: base.base?.backupId ?? null, note: base.note, snapshotGroup };
  } catch (error) {
    await closeReaders(readers);
    await rbdRemoveSnapshot(image, snapshot).catch(() => {});
    throw error;
  }
}

/** Ends the readers (again: closing one twice is harmless); a reader that failed has said so to its reads. */
async function closeReaders(readers: readonly RbdSnapshotReader[]): Promise<void> {
  await Promise.all(readers.map((reader) => reader.close().catch(() => {})));
}

interface BaseChoice {
  readonly base?: { readonly backupId: string; readonly repositoryBackupId: string; readonly snapshot: string };
  readonly note: string | null;
}

/** The disk's newest backup as the base of an incremental, or why there is none. */
async function chooseBase(db: Kysely<Database>, repository: Repository, diskId: string, image: RbdImageName, sizeAsked: Promise<number>): Promise<BaseChoice> {
  const previous = await newestSnapshotBackup(db, diskId);
  if (!previous) return { note: null };
  const snapshot = previous.source_snapshot!;
  const full = (why: string): BaseChoice => ({ note: `full read: ${why}` });
  if (previous.verify_outcome === 'failed') return full(`the previous backup ${previous.id} failed its last verification`);
  const [snapshots, summary] = await Promise.all([rbdSnapshots(image), repository.getBackup(previous.repository_backup_id).catch((error: unknown) => error as Error)]);
  if (!snapshots.includes(snapshot)) return full(`the previous backup's snapshot ${snapshot} is gone`);
  if (summary instanceof Error) return full(`the previous backup ${previous.id} cannot be read (${summary.message})`);
  const diskSize = await sizeAsked;
  if (summary.diskSize !== diskSize) return full(`the image is ${diskSize} bytes, ${summary.diskSize} at the previous backup`);
  return { base: { backupId: previous.id, repositoryBackupId: previous.repository_backup_id, snapshot }, note: null };
}
