/**
 * Who is using the repository. A backup holds a `backup` lock while it writes packs, its index and
 * its manifest; a restore or verification a `read` lock while it reads packs (which a collection may
 * rewrite); garbage collection holds the only lock while it rewrites and deletes. Each writes its own
 * lock file *before* looking at the others, so of a backup (or read) and a collection that start
 * together at least one sees the other: the collection then gives up and the other waits for it. A lock is
 * kept fresh (its mtime) while held; one whose process is gone (same host) or that has not been
 * refreshed for STALE_AFTER_MS is stale and ignored, and removed by the next collection.
 * A lock file is empty: what it says is in its name (kind, pid, host, time), so that taking a lock
 * needs no free space — a collection must be able to start on a full disk to free some.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RepositoryError } from './errors.js';
import { syncDirectory, TEMPORARY_PREFIX } from './files.js';
import { LOCKS_DIRECTORY } from './layout.js';

export type LockKind = 'backup' | 'read' | 'gc';
const REFRESH_EVERY_MS = 20_000;
const STALE_AFTER_MS = 10 * 60_000;
const WAIT_STEP_MS = 250;

interface LockContent {
  readonly kind: LockKind;
  readonly pid: number;
  readonly host: string;
  readonly createdAt: number;
}

export interface HeldLock {
  release(): void;
}

export function acquireLock(root: string, kind: LockKind): HeldLock {
  const directory = join(root, LOCKS_DIRECTORY);
  const content: LockContent = { kind, pid: process.pid, host: hostname(), createdAt: Date.now() };
  const name = `${kind}-${content.pid}-${Buffer.from(content.host).toString('hex')}-${content.createdAt}-${randomBytes(8).toString('hex')}`;
  const path = join(directory, name);
  closeSync(openSync(path, 'wx', 0o600));
  syncDirectory(directory);
  const refresh = setInterval(() => {
    const now = new Date();
    try {
      utimesSync(path, now, now);
    } catch {
      // Removed under us (by hand); the lock is lost, which the next collection would notice.
    }
  }, REFRESH_EVERY_MS);
  refresh.unref();
  return {
    release() {
      clearInterval(refresh);
      rmSync(path, { force: true });
      syncDirectory(directory);
    },
  };
}

/** A backup's or a reader's lock (any number of them at once): waits while a collection runs. */
export async function acquireSharedLock(root: string, kind: 'backup' | 'read', signal?: AbortSignal): Promise<HeldLock> {
  for (;;) {
    const lock = acquireLock(root, kind);
    if (!liveKinds(root).includes('gc')) return lock;
    lock.release();
    if (signal?.aborted) throw new RepositoryError('aborted', `Stopped before it began (a garbage collection was running)`);
    await sleep(WAIT_STEP_MS);
  }
}

/** The collection's lock: only when nobody else holds one. */
export function acquireGcLock(root: string): HeldLock {
  const lock = acquireLock(root, 'gc');
  const others = liveKinds(root);
  // Our own lock is one of the `gc` entries.
  others.splice(others.indexOf('gc'), 1);
  if (others.length > 0) {
    lock.release();
    throw new RepositoryError('repository_locked', `The repository is in use (${others.join(', ')} running); try again when it is done`);
  }
  return lock;
}

export function removeStaleLocks(root: string): number {
  const directory = join(root, LOCKS_DIRECTORY);
  let removed = 0;
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    const content = name.startsWith(TEMPORARY_PREFIX) ? undefined : readLock(directory, name);
    if (content !== undefined && isLive(content, path)) continue;
    rmSync(path, { force: true });
    removed += 1;
  }
  if (removed > 0) syncDirectory(directory);
  return removed;
}

/** When the oldest live lock of this kind was taken (ms since the epoch), or undefined when none is live. */
export function oldestLiveLock(root: string, kind: LockKind): number | undefined {
  let oldest: number | undefined;
  const directory = join(root, LOCKS_DIRECTORY);
  for (const name of readdirSync(directory)) {
    if (name.startsWith(TEMPORARY_PREFIX)) continue;
    const path = join(directory, name);
    // The time is the one in the lock's name (lock files are empty), or an older lock's JSON content.
    const content = readLock(directory, name);
    if (content?.kind === kind && isLive(content, path) && (oldest === undefined || content.createdAt < oldest)) oldest = content.createdAt;
  }
  return oldest;
}

function liveKinds(root: string): LockKind[] {
  const directory = join(root, LOCKS_DIRECTORY);
  const kinds: LockKind[] = [];
  for (const name of readdirSync(directory)) {
    if (name.startsWith(TEMPORARY_PREFIX)) continue;
    const content = readLock(directory, name);
    if (content !== undefined && isLive(content, join(directory, name))) kinds.push(content.kind);
  }
  return kinds;
}

const LOCK_NAME = /^(backup|read|gc)-(\d+)-((?:[0-9a-f]{2})*)-(\d+)-[0-9a-f]{16}$/;

/** What a lock says: from its name, or (a lock an earlier version wrote) its JSON content. */
function readLock(directory: string, name: string): LockContent | undefined {
  const parts = LOCK_NAME.exec(name);
  if (parts) return { kind: parts[1] as LockKind, pid: Number(parts[2]), host: Buffer.from(parts[3]!, 'hex').toString(), createdAt: Number(parts[4]) };
  try {
    return JSON.parse(readFileSync(join(directory, name), 'utf8')) as LockContent;
  } catch {
    return undefined;
  }
}

function isLive(lock: LockContent, path: string): boolean {
  if (lock.host === hostname()) return processExists(lock.pid);
  try {
    return Date.now() - statSync(path).mtimeMs < STALE_AFTER_MS;
  } catch {
    return false;
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
