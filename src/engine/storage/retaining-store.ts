/**
 * A store that writes every object immutable for a period (an immutable repository, docs/S3.md
 * "Immutable backups"): each put and writer of a kind other than lock gets retainUntil = now + period,
 * unless the caller gives its own retainUntil. Lock objects are never retained: they must be removable
 * when released. Everything else is the inner store's.
 */
import type { ByteRange, ObjectInfo, ObjectKind, ObjectStore, ObjectWriter, PutOptions, StoreLocation } from './object-store.js';

export class RetainingStore implements ObjectStore {
  readonly description: string;
  readonly location: StoreLocation;
  readonly freeBytes?: () => Promise<number>;
  readonly remote?: boolean;
  readonly removeIncomplete?: (kind: ObjectKind) => Promise<number>;
  readonly checkObjectLock?: () => Promise<boolean>;

  constructor(
    private readonly inner: ObjectStore,
    /** Milliseconds each object is retained for from its writing. */
    readonly periodMs: number,
  ) {
    this.description = inner.description;
    this.location = inner.location;
    // Optional abilities stay optional: present only when the inner store has them.
    if (inner.freeBytes) this.freeBytes = () => inner.freeBytes!();
    if (inner.remote !== undefined) this.remote = inner.remote;
    if (inner.removeIncomplete) this.removeIncomplete = (kind) => inner.removeIncomplete!(kind);
    if (inner.checkObjectLock) this.checkObjectLock = () => inner.checkObjectLock!();
  }

  private retained(kind: ObjectKind, options: PutOptions | undefined): PutOptions {
    if (kind === 'lock' || options?.retainUntil) return options ?? {};
    return { ...options, retainUntil: new Date(Date.now() + this.periodMs) };
  }

  put(kind: ObjectKind, name: string, parts: readonly Uint8Array[], options?: PutOptions): Promise<void> {
    return this.inner.put(kind, name, parts, this.retained(kind, options));
  }

  writer(kind: ObjectKind, name: string, options?: PutOptions): Promise<ObjectWriter> {
    return this.inner.writer(kind, name, this.retained(kind, options));
  }

  get(kind: ObjectKind, name: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(kind, name, range);
  }

  stat(kind: ObjectKind, name: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(kind, name);
  }

  list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    return this.inner.list(kind);
  }

  remove(kind: ObjectKind, names: readonly string[]): Promise<void> {
    return this.inner.remove(kind, names);
  }

  barrier(kind: ObjectKind): Promise<void> {
    return this.inner.barrier(kind);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
