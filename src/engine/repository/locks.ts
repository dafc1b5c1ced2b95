/**
 * Who is using the repository. A backup holds a `backup` lock while it writes packs, its index and
 * its manifest; a restore or verification a `read` lock while it reads packs (which a collection may
 * rewrite); garbage collection holds the only lock while it rewrites and deletes. Each puts its own
 * lock object *before* looking at the others, so of a backup (or read) and a collection that start
 * together at least one sees the other: the collection then gives up and the other waits for it.
 *
 * A lock is an empty object (taking one needs no free space: a collection must be able to start on a
 * full disk) whose name says everything (docs/REPOSITORY.md, "Locks"):
 *
 *   <kind>-<pid>-<host, hex>-<holder random, 16 hex>-<taken at, ms>-<written at, ms>
 *
 * No store renames or touches objects, so a held lock is refreshed by putting a new object with a
 * new "written at" and then removing the previous one (a reader in between sees both: never none).
 * A lock whose newest object was written more than STALE_AFTER_MS ago is stale, whatever the store's
 * own times say; on the same host, one whose process is gone is stale at once.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ObjectStore } from '../storage/object-store.js';
import { RepositoryError } from './errors.js';

export type LockKind = 'backup' | 'read' | 'gc';
/** A held lock writes a new object this often… */
export const REFRESH_EVERY_MS = 20_000;
/** …and one not refreshed for this long is taken for abandoned (its holder died on another machine). */
export const STALE_AFTER_MS = 10 * 60_000;
const WAIT_STEP_MS = 250;

interface LockContent {
  readonly kind: LockKind;
  readonly pid: number;
  readonly host: string;
  /** When the holder took the lock (kept through refreshes). */
  readonly takenAt: number;
  /** When this object was written (the last refresh). */
  readonly writtenAt: number;
}

export interface HeldLock {
  release(): Promise<void>;
}

const lockName = (lock: LockContent, holder: string) =>
  `${lock.kind}-${lock.pid}-${Buffer.from(lock.host).toString('hex')}-${holder}-${lock.takenAt}-${lock.writtenAt}`;

const LOCK_NAME = /^(backup|read|gc)-(\d+)-((?:[0-9a-f]{2})*)-([0-9a-f]{16})-(\d+)-(\d+)$/;
/** The name an earlier version gave its lock files (kept fresh by their mtime, which no longer counts). */
const LEGACY_LOCK_NAME = /^(backup|read|gc)-(\d+)-((?:[0-9a-f]{2})*)-(\d+)-[0-9a-f]{16}$/;

/** What a lock object's name says, or undefined for a name that is no lock's. */
function parseLock(name: string): LockContent | undefined {
  const parts = LOCK_NAME.exec(name);
  if (parts) {
    return { kind: parts[1] as LockKind, pid: Number(parts[2]), host: Buffer.from(parts[3]!, 'hex').toString(), takenAt: Number(parts[5]), writtenAt: Number(parts[6]) };
  }
  const legacy = LEGACY_LOCK_NAME.exec(name);
  if (legacy) {
    const at = Number(legacy[4]);
    return { kind: legacy[1] as LockKind, pid: Number(legacy[2]), host: Buffer.from(legacy[3]!, 'hex').toString(), takenAt: at, writtenAt: at };
  }
  return undefined;
}

/** Puts a lock object and keeps it fresh until released (`refreshEveryMs`: tests shorten it). */
export async function acquireLock(store: ObjectStore, kind: LockKind, refreshEveryMs = REFRESH_EVERY_MS): Promise<HeldLock> {
  const holder = randomBytes(8).toString('hex');
  const now = Date.now();
  const base = { kind, pid: process.pid, host: hostname(), takenAt: now };
  let current = lockName({ ...base, writtenAt: now }, holder);
  await store.put('lock', current, []);
  await store.barrier('lock');
  let released = false;
  // Refreshes run one after the other, and the release after the last of them.
  let refreshing: Promise<void> = Promise.resolve();
  const refresh = setInterval(() => {
    refreshing = refreshing.then(async () => {
      if (released) return;
      const next = lockName({ ...base, writtenAt: Math.max(Date.now(), parseLock(current)!.writtenAt + 1) }, holder);
      try {
        await store.put('lock', next, []);
        const previous = current;
        current = next;
        await store.remove('lock', [previous]);
      } catch {
        // The store is unreachable for now: the next refresh tries again (STALE_AFTER_MS leaves room for many).
      }
    });
  }, refreshEveryMs);
  refresh.unref();
  return {
    async release() {
      clearInterval(refresh);
      released = true;
      await refreshing;
      await store.remove('lock', [current]);
      await store.barrier('lock');
    },
  };
}

/** A backup's or a reader's lock (any number of them at once): waits while a collection runs. */
export async function acquireSharedLock(store: ObjectStore, kind: 'backup' | 'read', signal?: AbortSignal): Promise<HeldLock> {
  for (;;) {
    const lock = await acquireLock(store, kind);
    if (!(await liveLocks(store)).some((other) => other.kind === 'gc')) return lock;
    await lock.release();
    if (signal?.aborted) throw new RepositoryError('aborted', `Stopped before it began (a garbage collection was running)`);
    await sleep(WAIT_STEP_MS);
  }
}

/** The collection's lock: only when nobody else holds one. */
export async function acquireGcLock(store: ObjectStore): Promise<HeldLock> {
  const lock = await acquireLock(store, 'gc');
  const others = (await liveLocks(store)).map((other) => other.kind);
  // Our own lock is one of the `gc` entries.
  others.splice(others.indexOf('gc'), 1);
  if (others.length > 0) {
    await lock.release();
    // A holder caught between a refresh's put and remove shows twice: each kind is said once.
    throw new RepositoryError('repository_locked', `The repository is in use (${[...new Set(others)].join(', ')} running); try again when it is done`);
  }
  return lock;
}

/** Removes the lock objects that are stale (and any object in the locks that is no lock); answers how many. */
export async function removeStaleLocks(store: ObjectStore): Promise<number> {
  const stale: string[] = [];
  for await (const { name } of store.list('lock')) {
    const lock = parseLock(name);
    if (lock === undefined || !isLive(lock)) stale.push(name);
  }
  if (stale.length === 0) return 0;
  await store.remove('lock', stale);
  await store.barrier('lock');
  return stale.length;
}

/** When the oldest live lock of this kind was taken (ms since the epoch), or undefined when none is live. */
export async function oldestLiveLock(store: ObjectStore, kind: LockKind): Promise<number | undefined> {
  let oldest: number | undefined;
  for (const lock of await liveLocks(store)) if (lock.kind === kind && (oldest === undefined || lock.takenAt < oldest)) oldest = lock.takenAt;
  return oldest;
}

async function liveLocks(store: ObjectStore): Promise<LockContent[]> {
  const live: LockContent[] = [];
  for await (const { name } of store.list('lock')) {
    const lock = parseLock(name);
    if (lock !== undefined && isLive(lock)) live.push(lock);
  }
  return live;
}

function isLive(lock: LockContent): boolean {
  // On this host a dead holder is known at once; elsewhere only by the lock's age.
  if (lock.host === hostname() && !processExists(lock.pid)) return false;
  return Date.now() - lock.writtenAt < STALE_AFTER_MS;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
