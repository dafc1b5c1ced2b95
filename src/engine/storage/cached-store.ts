/**
 * A local cache in front of a remote store (S3): the config, index files and manifests that listing
 * backups, planning one and gc read again and again are kept in a local directory after their first
 * get, so that they are downloaded once. Packs (the bulk) and locks (which change) are never cached.
 *
 * Those objects are immutable by name, so a cached copy never goes stale while its name exists; each
 * cache file starts with the SHA-256 of its content, checked on every read: a damaged file is dropped
 * and the object fetched again, and a lost cache directory only means downloading again. The cache
 * holds at most `maxBytes` (least recently used dropped first), and is seeded from the directory when
 * opened, most recently used last (by file time).
 *
 * Listing, stat and everything written go to the inner store, which stays the only authority: puts
 * and removals also update the cache.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import {
  StoreError,
  type ByteRange,
  type ObjectInfo,
  type ObjectKind,
  type ObjectStore,
  type ObjectWriter,
  type PutOptions,
  type StoreLocation,
} from './object-store.js';
import { checkObjectName } from './s3-keys.js';

const CACHED_KINDS: ReadonlySet<ObjectKind> = new Set(['config', 'index', 'manifest']);
const DIGEST_BYTES = 32;
export const DEFAULT_CACHE_BYTES = 1024 * 1024 * 1024;

export interface CachedStoreOptions {
  /** The cache's directory (created if missing); one per repository. */
  readonly directory: string;
  /** Bytes of cached objects kept at most; default 1 GiB. */
  readonly maxBytes?: number;
}

export interface CacheStats {
  /** Gets answered from the cache. */
  readonly hits: number;
  /** Gets of a cached kind that went to the inner store. */
  readonly misses: number;
  /** Cache files found damaged (digest mismatch) and dropped. */
  readonly damaged: number;
  readonly entries: number;
  readonly bytes: number;
}

interface Entry {
  readonly file: string;
  readonly size: number;
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** The bytes of `range` in a whole object; past the end is an error, as in every store. */
function sliceRange(bytes: Buffer, range: ByteRange | undefined, what: string): Buffer {
  if (!range) return bytes;
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || length < 0 || (offset < 0 && length > -offset)) {
    throw new RangeError(`invalid byte range: offset ${offset}, length ${length}`);
  }
  const start = offset < 0 ? bytes.length + offset : offset;
  if (start < 0 || start + length > bytes.length) {
    throw new StoreError('not_found', `bytes ${offset}+${length} of ${what} are past its end (it has ${bytes.length} bytes)`);
  }
  return bytes.subarray(start, start + length);
}

export class CachedObjectStore implements ObjectStore {
  readonly description: string;
  readonly location: StoreLocation;
  readonly remote?: boolean;
  private readonly entries: LRUCache<string, Entry>;
  private counts = { hits: 0, misses: 0, damaged: 0 };

  private constructor(
    private readonly inner: ObjectStore,
    private readonly directory: string,
    maxBytes: number,
  ) {
    this.description = inner.description;
    this.location = inner.location;
    if (inner.remote !== undefined) this.remote = inner.remote;
    this.entries = new LRUCache<string, Entry>({
      maxSize: maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.size),
      // An entry replaced by a newer file of the same name keeps its file ('set'); evicted or deleted
      // ones lose it. Synchronous, so that a later write of the same name is never undone by it.
      dispose: (entry, _key, reason) => {
        if (reason === 'set') return;
        try {
          unlinkSync(entry.file);
        } catch {
          // already gone
        }
      },
    });
  }

  static async open(inner: ObjectStore, options: CachedStoreOptions): Promise<CachedObjectStore> {
    const maxBytes = options.maxBytes ?? DEFAULT_CACHE_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`the cache size must be a positive number of bytes, not ${maxBytes}`);
    const store = new CachedObjectStore(inner, options.directory, maxBytes);
    await store.seed();
    return store;
  }

  /** Immutability is the inner store's business (the cache never keeps anything immutable itself). */
  checkObjectLock(): Promise<boolean> {
    return this.inner.checkObjectLock ? this.inner.checkObjectLock() : Promise.resolve(false);
  }

  stats(): CacheStats {
    return { ...this.counts, entries: this.entries.size, bytes: this.entries.calculatedSize };
  }

  private fileOf(kind: ObjectKind, name: string): string {
    checkObjectName(kind, name);
    return join(this.directory, kind, name);
  }

  /** What the directory holds from earlier runs, oldest first so the newest are kept longest. */
  private async seed(): Promise<void> {
    const found: { key: string; file: string; size: number; time: number }[] = [];
    for (const kind of CACHED_KINDS) {
      const folder = join(this.directory, kind);
      await mkdir(folder, { recursive: true });
      for (const name of await readdir(folder)) {
        const file = join(folder, name);
        if (name.startsWith('.tmp-')) {
          await rm(file, { force: true }); // left by a process killed while writing
          continue;
        }
        const info = await stat(file).catch(() => undefined);
        if (!info?.isFile()) continue;
        if (info.size < DIGEST_BYTES) {
          await rm(file, { force: true });
          continue;
        }
        found.push({ key: `${kind}/${name}`, file, size: info.size - DIGEST_BYTES, time: info.mtimeMs });
      }
    }
    found.sort((a, b) => a.time - b.time);
    for (const { key, file, size } of found) this.entries.set(key, { file, size });
  }

  async get(kind: ObjectKind, name: string, range?: ByteRange): Promise<Buffer> {
    if (!CACHED_KINDS.has(kind)) return this.inner.get(kind, name, range);
    const key = `${kind}/${name}`;
    const file = this.fileOf(kind, name);
    const cached = await this.readCached(key, file);
    if (cached) {
      this.counts.hits += 1;
      return sliceRange(cached, range, `${this.description} ${key}`);
    }
    this.counts.misses += 1;
    const whole = await this.inner.get(kind, name);
    await this.remember(key, file, whole);
    return sliceRange(whole, range, `${this.description} ${key}`);
  }

  /** The cached bytes if present and intact; a damaged or vanished file is forgotten. */
  private async readCached(key: string, file: string): Promise<Buffer | undefined> {
    if (!this.entries.has(key)) return undefined;
    const content = await readFile(file).catch(() => undefined);
    const body = content?.subarray(DIGEST_BYTES);
    if (!content || content.length < DIGEST_BYTES || !sha256(body!).equals(content.subarray(0, DIGEST_BYTES))) {
      if (content) this.counts.damaged += 1;
      this.entries.delete(key); // unlinks the file
      return undefined;
    }
    this.entries.get(key); // most recently used now
    const now = new Date();
    await utimes(file, now, now).catch(() => {}); // and so at the next open too
    return body;
  }

  /** Writes the cache file whole (temporary file, then rename) and records it. */
  private async remember(key: string, file: string, bytes: Buffer): Promise<void> {
    if (bytes.length > this.entries.maxSize) return; // would evict everything and still not fit
    const folder = join(file, '..');
    const temporary = join(folder, `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(folder, { recursive: true });
      await writeFile(temporary, Buffer.concat([sha256(bytes), bytes]));
      await rename(temporary, file);
      this.entries.set(key, { file, size: bytes.length });
    } catch {
      // A cache that cannot be written (full disk…) costs downloads, never a failure.
      await rm(temporary, { force: true }).catch(() => {});
    }
  }

  private forget(kind: ObjectKind, names: readonly string[]): void {
    if (!CACHED_KINDS.has(kind)) return;
    for (const name of names) this.entries.delete(`${kind}/${name}`);
  }

  async put(kind: ObjectKind, name: string, parts: readonly Uint8Array[], options?: PutOptions): Promise<void> {
    await this.inner.put(kind, name, parts, options);
    if (CACHED_KINDS.has(kind)) await this.remember(`${kind}/${name}`, this.fileOf(kind, name), Buffer.concat(parts));
  }

  async writer(kind: ObjectKind, name: string, options?: PutOptions): Promise<ObjectWriter> {
    const inner = await this.inner.writer(kind, name, options);
    // Large objects written in pieces are not copied into the cache (that would hold them in memory):
    // any stale copy is dropped, and the first get caches the new one.
    return {
      write: (data) => inner.write(data),
      commit: async () => {
        await inner.commit();
        this.forget(kind, [name]);
      },
      abort: () => inner.abort(),
    };
  }

  stat(kind: ObjectKind, name: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(kind, name);
  }

  list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    return this.inner.list(kind);
  }

  async remove(kind: ObjectKind, names: readonly string[]): Promise<void> {
    // Forgotten first: whatever the inner store manages to delete, no copy survives it here.
    this.forget(kind, names);
    await this.inner.remove(kind, names);
  }

  barrier(kind: ObjectKind): Promise<void> {
    return this.inner.barrier(kind);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
