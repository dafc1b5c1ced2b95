/**
 * Where a disk's bytes come from (the `DiskSource` seam): an image file or block device named by
 * `disks.image_path`. A backup reads a point-in-time view: a reflink clone of the image where the
 * filesystem can make one (instant, and no later write to the disk changes it), else the image
 * itself, live — which the run record then says.
 */
import { closeSync, constants, existsSync, ftruncateSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { copyFile, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

export type Consistency = 'snapshot' | 'live';

export interface DiskView {
  /** The path to read. */
  readonly path: string;
  readonly consistency: Consistency;
  /** Removes the clone, if one was made. */
  release(): Promise<void>;
}

export async function pointInTimeView(imagePath: string, scratchDirectory: string): Promise<DiskView> {
  const stat = statSync(imagePath);
  if (stat.isFile()) {
    mkdirSync(scratchDirectory, { recursive: true });
    const clone = join(scratchDirectory, `clone-${randomBytes(6).toString('hex')}`);
    try {
      await copyFile(imagePath, clone, constants.COPYFILE_FICLONE_FORCE);
      return { path: clone, consistency: 'snapshot', release: () => rm(clone, { force: true }) };
    } catch {
      await rm(clone, { force: true });
    }
  }
  return { path: imagePath, consistency: 'live', release: async () => {} };
}

/** The image file the service keeps for a disk of its own, under the data directory. */
export function managedImagePath(dataDir: string, diskId: string): string {
  return join(dataDir, 'disks', `${diskId}.img`);
}

/** Creates a sparse (all-zero, taking no space) image of `sizeBytes` unless it exists. */
export function createSparseImage(path: string, sizeBytes: number): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'wx', 0o600);
  try {
    ftruncateSync(fd, sizeBytes);
  } finally {
    closeSync(fd);
  }
}

/** Deterministic content for demo disks: a few MiB at the start of the image (the rest stays sparse). */
export function writeDemoContent(path: string, seed: string, bytes = 4 * 1024 * 1024): void {
  const fd = openSync(path, 'r+');
  try {
    let block = createHash('sha256').update(seed).digest();
    const buffer = Buffer.alloc(bytes);
    for (let offset = 0; offset < bytes; offset += block.length) {
      block = createHash('sha256').update(block).digest();
      block.copy(buffer, offset);
    }
    writeSync(fd, buffer, 0, bytes, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * The disk's image and organization. A disk without an image gets a sparse one of its size under the
 * data directory (recorded on the disk); `onCreated` may fill a new image before it is recorded.
 */
export async function diskImage(
  db: Kysely<Database>,
  dataDir: string,
  diskId: string,
  onCreated: (path: string) => void = () => {},
): Promise<{ path: string; organizationId: string }> {
  const disk = await db.selectFrom('disks').select(['id', 'organization_id', 'image_path', 'size_in_gb']).where('id', '=', diskId).executeTakeFirst();
  if (!disk) throw new Error(`Disk ${diskId} no longer exists`);
  if (disk.image_path) return { path: disk.image_path, organizationId: disk.organization_id };
  const path = resolve(managedImagePath(dataDir, disk.id));
  if (!existsSync(path)) {
    createSparseImage(path, disk.size_in_gb * 1_000_000_000);
    onCreated(path);
  }
  await db.updateTable('disks').set({ image_path: path }).where('id', '=', disk.id).where('image_path', 'is', null).execute();
  return { path, organizationId: disk.organization_id };
}
