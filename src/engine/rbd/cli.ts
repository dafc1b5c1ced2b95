/**
 * The `rbd` command-line tool, the service's hand on Ceph RBD for everything but image bytes
 * (io.ts): image facts, creating and removing images, snapshots, group snapshots and the extents
 * that differ between two snapshots, read as JSON (`--format json`). The cluster is the one the
 * environment names (CEPH_CONF, CEPH_ARGS), as for any Ceph client.
 */
import { execFile } from 'node:child_process';
import { formatRbdImageName, type RbdImageName } from './names.js';

/** A failure of the `rbd` tool, with its own words; `code` tells the usual ones apart. */
export class RbdError extends Error {
  constructor(
    readonly code: 'pool_not_found' | 'image_not_found' | 'image_exists' | 'snapshot_not_found' | 'rbd_unavailable' | 'rbd_failed',
    message: string,
  ) {
    super(message);
    this.name = 'RbdError';
  }
}

/** An extent of an image: `exists` false where it was discarded (reads as zeros). */
export interface RbdExtent {
  readonly offset: number;
  readonly length: number;
  readonly exists: boolean;
}

const RBD_TIMEOUT_MS = 120_000;

function runRbd(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.env.DBP_RBD_COMMAND ?? 'rbd', args, { maxBuffer: 256 * 1024 * 1024, timeout: RBD_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new RbdError('rbd_unavailable', 'The rbd command is not installed (Debian: ceph-common)'));
      }
      reject(rbdFailure(args, stderr.trim() || error.message));
    });
  });
}

/** The tool's message, told apart by what it says: "error opening pool 'x': (2) …", "error opening image x: (2) …". */
function rbdFailure(args: readonly string[], text: string): RbdError {
  const line = text.split('\n').filter((l) => l.trim() !== '').at(-1) ?? text;
  const what = `rbd ${args.filter((arg) => arg !== '--format' && arg !== 'json' && arg !== '--no-progress').join(' ')}`;
  if (/error opening pool/.test(text) && /\(2\)/.test(text)) return new RbdError('pool_not_found', `${what}: no such pool (${line})`);
  if (/error opening image/.test(text) && /\(2\)/.test(text)) return new RbdError('image_not_found', `${what}: no such image (${line})`);
  if (/\(17\) File exists/.test(text)) return new RbdError('image_exists', `${what}: it exists already (${line})`);
  if (/snap/.test(what) && /\(2\)/.test(text)) return new RbdError('snapshot_not_found', `${what}: no such snapshot (${line})`);
  return new RbdError('rbd_failed', `${what} failed: ${line}`);
}

const spec = (name: RbdImageName, snapshot?: string) => `${formatRbdImageName(name)}${snapshot === undefined ? '' : `@${snapshot}`}`;

/** The image's size in bytes (as of `snapshot`, if given); RbdError pool_not_found / image_not_found when it is not there. */
export async function rbdImageSize(name: RbdImageName, snapshot?: string): Promise<number> {
  const info = JSON.parse(await runRbd(['info', spec(name, snapshot), '--format', 'json'])) as { size: number };
  return info.size;
}

/** Creates a thin (unallocated) image of `bytes`. */
export async function rbdCreateImage(name: RbdImageName, bytes: number): Promise<void> {
  await runRbd(['create', '--size', `${bytes}B`, spec(name), '--no-progress']);
}

export async function rbdRemoveImage(name: RbdImageName): Promise<void> {
  await runRbd(['rm', spec(name), '--no-progress']);
}

export async function rbdCreateSnapshot(name: RbdImageName, snapshot: string): Promise<void> {
  await runRbd(['snap', 'create', spec(name, snapshot), '--no-progress']);
}

/** Removes the snapshot; one that is already gone is no error. */
export async function rbdRemoveSnapshot(name: RbdImageName, snapshot: string): Promise<void> {
  try {
    await runRbd(['snap', 'rm', spec(name, snapshot), '--no-progress']);
  } catch (error) {
    if (error instanceof RbdError && error.code === 'snapshot_not_found') return;
    throw error;
  }
}

/** The names of the image's snapshots (user snapshots; group snapshots show there too, under their own names). */
export async function rbdSnapshots(name: RbdImageName): Promise<string[]> {
  const list = JSON.parse(await runRbd(['snap', 'ls', spec(name), '--format', 'json'])) as { name: string }[];
  return list.map((snap) => snap.name);
}

/**
 * The extents of `snapshot` that differ from `fromSnapshot` (every allocated extent without it), as
 * RBD tracks them: a superset of the bytes that changed, never less.
 */
export async function rbdDiff(name: RbdImageName, snapshot: string, fromSnapshot?: string): Promise<RbdExtent[]> {
  const args = ['diff', ...(fromSnapshot === undefined ? [] : ['--from-snap', fromSnapshot]), spec(name, snapshot), '--format', 'json'];
  const extents = JSON.parse(await runRbd(args)) as { offset: number; length: number; exists: string | boolean }[];
  return extents.map((extent) => ({ offset: extent.offset, length: extent.length, exists: extent.exists === true || extent.exists === 'true' }));
}

// ---- groups: a virtual machine's images snapshotted at one instant ---------------------------------

/** Creates the group unless it exists. */
export async function rbdEnsureGroup(pool: string, group: string): Promise<void> {
  const groups = JSON.parse(await runRbd(['group', 'ls', pool, '--format', 'json'])) as string[];
  if (!groups.includes(group)) await runRbd(['group', 'create', `${pool}/${group}`]);
}

/** The group's images, as POOL/IMAGE. */
export async function rbdGroupImages(pool: string, group: string): Promise<string[]> {
  const images = JSON.parse(await runRbd(['group', 'image', 'list', `${pool}/${group}`, '--format', 'json'])) as { image: string; pool: string }[];
  return images.map((image) => `${image.pool}/${image.image}`);
}

export async function rbdGroupAddImage(pool: string, group: string, image: RbdImageName): Promise<void> {
  await runRbd(['group', 'image', 'add', `${pool}/${group}`, spec(image)]);
}

export async function rbdGroupSnapshotCreate(pool: string, group: string, snapshot: string): Promise<void> {
  await runRbd(['group', 'snap', 'create', `${pool}/${group}@${snapshot}`]);
}

export async function rbdGroupSnapshotRemove(pool: string, group: string, snapshot: string): Promise<void> {
  await runRbd(['group', 'snap', 'rm', `${pool}/${group}@${snapshot}`]);
}

/** The names of the group's snapshots. */
export async function rbdGroupSnapshots(pool: string, group: string): Promise<string[]> {
  const snapshots = JSON.parse(await runRbd(['group', 'snap', 'ls', `${pool}/${group}`, '--format', 'json'])) as { snapshot: string }[];
  return snapshots.map((snapshot) => snapshot.snapshot);
}

/** The names of the pool's groups. */
export async function rbdGroups(pool: string): Promise<string[]> {
  return JSON.parse(await runRbd(['group', 'ls', pool, '--format', 'json'])) as string[];
}
