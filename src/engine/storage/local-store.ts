/**
 * The object store on a local directory (the layout docs/REPOSITORY.md describes):
 *
 *   config          <root>/config
 *   pack <id>       <root>/packs/<first two characters of id>/<id>
 *   index <id>      <root>/index/<id>
 *   manifest <id>   <root>/backups/<id>
 *   lock <name>     <root>/locks/<name>
 *
 * An object is written into a temporary file beside its name (TEMPORARY_PREFIX), synced, and renamed
 * over the name — or, for an exclusive put, hard-linked to it (`link` fails when the name exists and
 * never replaces it). A reader therefore never sees half an object. Directory entries (renames,
 * deletions, new directories) are made durable by `barrier`, which syncs the kind's directories.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readdirSync, readSync, statfsSync, statSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { StoreError, type ByteRange, type ObjectInfo, type ObjectKind, type ObjectStore, type ObjectWriter, type PutOptions, type StoreLocation } from './object-store.js';

/** Temporary files start with this; they are never listed, and removeIncomplete deletes them. */
export const TEMPORARY_PREFIX = '.tmp-';

const KIND_DIRECTORIES: Readonly<Record<Exclude<ObjectKind, 'config'>, string>> = {
  pack: 'packs',
  index: 'index',
  manifest: 'backups',
  lock: 'locks',
};
const CONFIG_NAME = 'config';
/** A pack's directory is named by the first two characters of its name. */
const PACK_SUBDIRECTORY = /^[0-9a-f]{2}$/;
/** Names are single path components that cannot be mistaken for temporary or hidden files. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
/** Files kept open at once for ranged reads (see `get`). */
const MAX_OPEN_HANDLES = 64;

export class LocalDirectoryStore implements ObjectStore {
  readonly description: string;
  readonly location: StoreLocation;
  /**
   * Files opened by ranged reads, kept open until the event loop turns: a batch of reads from one pack
   * opens it once, and no handle outlives the turn (an open handle would keep a deleted pack's space).
   */
  private readonly handles = new Map<string, number>();
  private closeScheduled = false;

  constructor(readonly root: string) {
    this.description = root;
    this.location = { type: 'local', path: root };
  }

  /** The file that holds an object. */
  pathOf(kind: ObjectKind, name: string): string {
    if (!SAFE_NAME.test(name)) throw new RangeError(`"${name}" is not a valid object name`);
    if (kind === 'config') {
      if (name !== CONFIG_NAME) throw new RangeError(`The config object is named "${CONFIG_NAME}", not "${name}"`);
      return join(this.root, CONFIG_NAME);
    }
    if (kind === 'pack') {
      if (name.length < 3) throw new RangeError(`"${name}" is too short for a pack name`);
      return join(this.root, KIND_DIRECTORIES.pack, name.slice(0, 2), name);
    }
    return join(this.root, KIND_DIRECTORIES[kind], name);
  }

  async put(kind: ObjectKind, name: string, parts: readonly Uint8Array[], options: PutOptions = {}): Promise<void> {
    refuseRetention(options);
    const path = this.pathOf(kind, name);
    // A new repository's directories are all made with its config (the layout is the same from the start).
    if (kind === 'config') for (const directory of Object.values(KIND_DIRECTORIES)) await makeDirectory(join(this.root, directory));
    const temporary = await this.createTemporary(path);
    try {
      if (parts.length > 0) await temporary.file.writev(parts as Uint8Array[]);
      await temporary.file.sync();
    } catch (error) {
      await temporary.file.close();
      await rm(temporary.path, { force: true });
      throw error;
    }
    await temporary.file.close();
    await placeTemporary(temporary.path, path, options.ifAbsent === true, kind, name);
  }

  async writer(kind: ObjectKind, name: string, options: PutOptions = {}): Promise<ObjectWriter> {
    refuseRetention(options);
    const path = this.pathOf(kind, name);
    const { path: temporaryPath, file } = await this.createTemporary(path);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await file.close();
    };
    return {
      async write(data: Uint8Array) {
        let written = 0;
        while (written < data.length) written += (await file.write(data, written, data.length - written)).bytesWritten;
      },
      async commit() {
        await file.sync();
        await close();
        await placeTemporary(temporaryPath, path, options.ifAbsent === true, kind, name);
      },
      async abort() {
        await close().catch(() => {});
        await rm(temporaryPath, { force: true });
      },
    };
  }

  async get(kind: ObjectKind, name: string, range?: ByteRange): Promise<Buffer> {
    const path = this.pathOf(kind, name);
    if (range === undefined) {
      try {
        return await readFile(path);
      } catch (error) {
        throw notFoundOr(error, kind, name);
      }
    }
    if (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.length < 0) {
      throw new RangeError(`Bad byte range ${range.offset}+${range.length}`);
    }
    // A positioned read on a kept handle: reading a pack's chunks must stay as fast as plain file reads.
    const fd = this.handleOf(path, kind, name);
    const start = range.offset < 0 ? fstatSync(fd).size + range.offset : range.offset;
    if (start < 0) throw outOfRange(kind, name, range);
    const buffer = Buffer.allocUnsafe(range.length);
    let done = 0;
    while (done < range.length) {
      const read = readSync(fd, buffer, done, range.length - done, start + done);
      if (read === 0) throw outOfRange(kind, name, range);
      done += read;
    }
    return buffer;
  }

  async stat(kind: ObjectKind, name: string): Promise<ObjectInfo | undefined> {
    try {
      const stats = await stat(this.pathOf(kind, name));
      return { name, size: stats.size, modifiedAt: stats.mtimeMs };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    if (kind === 'config') {
      const config = await this.stat('config', CONFIG_NAME);
      if (config) yield config;
      return;
    }
    const directory = join(this.root, KIND_DIRECTORIES[kind]);
    const directories = kind === 'pack' ? entriesOf(directory).filter((name) => PACK_SUBDIRECTORY.test(name)).map((name) => join(directory, name)) : [directory];
    for (const where of directories) {
      for (const name of entriesOf(where)) {
        if (name.startsWith(TEMPORARY_PREFIX) || !SAFE_NAME.test(name)) continue;
        yield lazyInfo(join(where, name), name);
      }
    }
  }

  async remove(kind: ObjectKind, names: readonly string[]): Promise<void> {
    for (const name of names) {
      const path = this.pathOf(kind, name);
      this.forgetHandle(path);
      await rm(path, { force: true });
    }
  }

  async barrier(kind: ObjectKind): Promise<void> {
    if (kind === 'config') return syncDirectory(this.root);
    const directory = join(this.root, KIND_DIRECTORIES[kind]);
    if (kind === 'pack') for (const name of entriesOf(directory)) if (PACK_SUBDIRECTORY.test(name)) syncDirectory(join(directory, name));
    try {
      syncDirectory(directory);
    } catch (error) {
      if (!isMissing(error)) throw error; // nothing of that kind was ever written
    }
  }

  async close(): Promise<void> {
    this.closeHandles();
  }

  /** Bytes an unprivileged writer may still put on the directory's file system. */
  async freeBytes(): Promise<number> {
    const stats = statfsSync(this.root);
    return stats.bavail * stats.bsize;
  }

  /** Deletes the temporary files interrupted writes left of this kind; answers how many. */
  async removeIncomplete(kind: ObjectKind): Promise<number> {
    const directories =
      kind === 'config'
        ? [this.root]
        : kind === 'pack'
          ? entriesOf(join(this.root, KIND_DIRECTORIES.pack)).filter((name) => PACK_SUBDIRECTORY.test(name)).map((name) => join(this.root, KIND_DIRECTORIES.pack, name))
          : [join(this.root, KIND_DIRECTORIES[kind])];
    let removed = 0;
    for (const directory of directories) {
      for (const name of entriesOf(directory)) {
        if (!name.startsWith(TEMPORARY_PREFIX)) continue;
        await rm(join(directory, name), { force: true });
        removed += 1;
      }
    }
    return removed;
  }

  /** Names in the root that belong to no object kind (a directory used for something else). */
  foreignEntries(): string[] {
    const own = new Set([CONFIG_NAME, ...Object.values(KIND_DIRECTORIES)]);
    return entriesOf(this.root).filter((name) => !own.has(name) && !name.startsWith(TEMPORARY_PREFIX));
  }

  /**
   * A new temporary file beside `path`. Missing directories inside the store's root are made (and
   * synced), never the root itself: when that is gone (moved, unmounted), writing fails rather than
   * starting an empty repository in its place.
   */
  private async createTemporary(path: string): Promise<{ path: string; file: Awaited<ReturnType<typeof open>> }> {
    const directory = dirname(path);
    const temporary = join(directory, `${TEMPORARY_PREFIX}${randomBytes(6).toString('hex')}-${path.slice(directory.length + 1)}`);
    try {
      return { path: temporary, file: await open(temporary, 'wx', 0o600) };
    } catch (error) {
      if (!isMissing(error) || directory === this.root) throw error;
    }
    statSync(this.root); // throws ENOENT when the root is gone
    await makeDirectory(directory);
    return { path: temporary, file: await open(temporary, 'wx', 0o600) };
  }

  private handleOf(path: string, kind: ObjectKind, name: string): number {
    let fd = this.handles.get(path);
    if (fd !== undefined) return fd;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw notFoundOr(error, kind, name);
    }
    if (this.handles.size >= MAX_OPEN_HANDLES) this.closeHandles();
    this.handles.set(path, fd);
    if (!this.closeScheduled) {
      this.closeScheduled = true;
      setImmediate(() => this.closeHandles());
    }
    return fd;
  }

  private forgetHandle(path: string): void {
    const fd = this.handles.get(path);
    if (fd === undefined) return;
    this.handles.delete(path);
    closeSync(fd);
  }

  private closeHandles(): void {
    this.closeScheduled = false;
    for (const fd of this.handles.values()) closeSync(fd);
    this.handles.clear();
  }
}

/** Renames (or, exclusive, hard-links) a written temporary file to its name. */
async function placeTemporary(temporary: string, path: string, exclusive: boolean, kind: ObjectKind, name: string): Promise<void> {
  if (!exclusive) {
    await rename(temporary, path);
    return;
  }
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new StoreError('exists', `The ${kind} object ${name} already exists`);
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Creates a directory and any missing parents, syncing each parent so that the new entries survive a crash. */
async function makeDirectory(path: string): Promise<void> {
  const missing: string[] = [];
  for (let at = path; ; at = dirname(at)) {
    try {
      statSync(at);
      break;
    } catch (error) {
      if (!isMissing(error) || dirname(at) === at) throw error;
      missing.unshift(at);
    }
  }
  for (const directory of missing) {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    syncDirectory(dirname(directory));
  }
}

export function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    // fsync of a directory makes its entries (renames, links, deletions) durable.
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The entries of a directory; none when it does not exist (nothing of that kind written yet). */
function entriesOf(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

/** An entry of a listing whose size and time are read (one stat) only when asked: most listings need names only. */
function lazyInfo(path: string, name: string): ObjectInfo {
  let stats: { size: number; mtimeMs: number } | undefined;
  const read = () => {
    if (stats) return stats;
    try {
      stats = statSync(path);
    } catch (error) {
      if (!isMissing(error)) throw error;
      stats = { size: 0, mtimeMs: 0 }; // removed meanwhile: a reader of it will find it missing
    }
    return stats;
  };
  return {
    name,
    get size() {
      return read().size;
    },
    get modifiedAt() {
      return read().mtimeMs;
    },
  };
}

function refuseRetention(options: PutOptions): void {
  if (options.retainUntil !== undefined) throw new StoreError('unsupported', 'A local directory cannot keep objects immutable (retention needs an S3 bucket with Object Lock)');
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function notFoundOr(error: unknown, kind: ObjectKind, name: string): unknown {
  return isMissing(error) ? new StoreError('not_found', `The ${kind} object ${name} is missing`, { cause: error }) : error;
}

function outOfRange(kind: ObjectKind, name: string, range: ByteRange): StoreError {
  return new StoreError('out_of_range', `The ${kind} object ${name} ends before the bytes asked for (${range.offset}+${range.length}): it is truncated`);
}
