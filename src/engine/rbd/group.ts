/**
 * A virtual machine's RBD disks at one instant (docs/RBD.md): an RBD group per machine, `dbp-<vm id>`,
 * and one group snapshot per run, which its backups read; each image's own snapshot, taken just
 * before, is kept as the next backup's base.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.js';
import {
  rbdCreateSnapshot,
  rbdEnsureGroup,
  rbdGroupAddImage,
  rbdGroupImages,
  rbdGroups,
  rbdGroupSnapshotCreate,
  rbdGroupSnapshotRemove,
  rbdGroupSnapshots,
  rbdRemoveSnapshot,
} from './cli.js';
import { formatRbdImageName, type RbdImageName } from './names.js';
import { reconcileDiskSnapshots, runHoldsLease, SNAPSHOT_PREFIX, snapshotName } from './snapshots.js';

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
