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
 *
 * A lock object that could not be removed (the store was unreachable when its holder released it, or
 * in the middle of a refresh) is not left to go stale: this process remembers it as released (it
 * counts as no lock here, so its own gc is not blocked by it), removes it in the background with
 * backoff, and again before it puts any new lock on that store (the retry of a failed backup removes
 * the lock of the failed attempt first). Other processes see it live until it is removed or stale.
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
  await unremoved.flush(store);
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
      } catch {
        // The store is unreachable for now: the next refresh tries again (STALE_AFTER_MS leaves room for many).
        // The put may have landed all the same (its answer lost): that object is removed when it can be.
        unremoved.add(store, next);
        return;
      }
      const previous = current;
      current = next;
      await store.remove('lock', [previous]).catch(() => unremoved.add(store, previous));
    });
  }, refreshEveryMs);
  refresh.unref();
  return {
    async release() {
      clearInterval(refresh);
      released = true;
      await refreshing;
      // A lock that cannot be removed now is no reason to fail what held it (a backup whose manifest is
      // durable stands): it is removed later (see the module comment).
      try {
        await store.remove('lock', [current]);
        await store.barrier('lock');
      } catch {
        unremoved.add(store, current);
      }
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
    if (lock === undefined || !isLive(lock) || unremoved.has(store, name)) stale.push(name);
  }
  if (stale.length === 0) return 0;
  await store.remove('lock', stale);
  await store.barrier('lock');
  unremoved.forget(store, stale);
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
    if (lock !== undefined && isLive(lock) && !unremoved.has(store, name)) live.push(lock);
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

/** Retries of the removal of a lock object this process released but could not remove: 1 s, 2 s, … 30 s. */
const REMOVAL_RETRY_FIRST_MS = 1_000;
const REMOVAL_RETRY_MAX_MS = 30_000;

/**
 * The lock objects this process released but could not remove, by repository (a store's description:
 * the same repository opened again is the same one). Removed in the background, with backoff, until
 * they are gone or stale for everyone (then the next gc deletes them), and before any new lock is put
 * on the repository. The timers never keep the process alive.
 */
class UnremovedLocks {
  private readonly byStore = new Map<string, { store: ObjectStore; names: Set<string>; timer?: NodeJS.Timeout; delayMs: number; since: number }>();

  add(store: ObjectStore, name: string): void {
    let entry = this.byStore.get(store.description);
    if (!entry) {
      entry = { store, names: new Set(), delayMs: REMOVAL_RETRY_FIRST_MS, since: Date.now() };
      this.byStore.set(store.description, entry);
    }
    entry.store = store; // the newest handle: an older one may have been closed
    entry.names.add(name);
    this.schedule(store.description);
  }

  has(store: ObjectStore, name: string): boolean {
    return this.byStore.get(store.description)?.names.has(name) === true;
  }

  forget(store: ObjectStore, names: readonly string[]): void {
    const entry = this.byStore.get(store.description);
    if (!entry) return;
    for (const name of names) entry.names.delete(name);
    if (entry.names.size === 0) this.drop(store.description);
  }

  /** Tries once to remove the repository's unremoved locks (through `store`); a failure leaves them to the retries. */
  async flush(store: ObjectStore): Promise<void> {
    const entry = this.byStore.get(store.description);
    if (!entry) return;
    entry.store = store;
    const names = [...entry.names];
    try {
      await store.remove('lock', names);
      await store.barrier('lock');
      this.forget(store, names);
    } catch {
      // Still unreachable: the background retries go on.
    }
  }

  private schedule(key: string): void {
    const entry = this.byStore.get(key);
    if (!entry || entry.timer) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.flush(entry.store).then(() => {
        if (this.byStore.get(key) !== entry) return;
        // Stale for everyone by now: the next gc deletes them; no need to keep trying.
        if (Date.now() - entry.since > STALE_AFTER_MS) return this.drop(key);
        entry.delayMs = Math.min(entry.delayMs * 2, REMOVAL_RETRY_MAX_MS);
        this.schedule(key);
      });
    }, entry.delayMs);
    entry.timer.unref();
  }

  private drop(key: string): void {
    const entry = this.byStore.get(key);
    if (entry?.timer) clearTimeout(entry.timer);
    this.byStore.delete(key);
  }
}

const unremoved = new UnremovedLocks();
