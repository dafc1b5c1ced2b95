/**
 * Damage done to a repository on purpose, through its store (so the same on a local directory and on
 * S3): objects overwritten with altered bytes, truncated, deleted or put beside the engine's own.
 */
import { openRepository, type PackContents, type Repository } from '../../src/engine/repository/index.js';
import type { ObjectKind, ObjectStore, StoreLocation } from '../../src/engine/storage/object-store.js';
import { openStore } from '../../src/engine/storage/open-store.js';

/** Runs `use` with a store of its own on `location` (not the repository's: no cache of it sees the damage). */
export async function withStore<T>(location: StoreLocation, use: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = await openStore(location);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** Flips one byte of an object (a negative position counts from its end). */
export function flipObjectByte(location: StoreLocation, kind: ObjectKind, name: string, position: number): Promise<void> {
  return withStore(location, async (store) => {
    const bytes = await store.get(kind, name);
    bytes[position < 0 ? bytes.length + position : position]! ^= 0x40;
    await store.put(kind, name, [bytes]);
  });
}

/** Cuts an object down to its first `length` bytes. */
export function truncateObject(location: StoreLocation, kind: ObjectKind, name: string, length: number): Promise<void> {
  return withStore(location, async (store) => store.put(kind, name, [(await store.get(kind, name)).subarray(0, length)]));
}

export function deleteObjects(location: StoreLocation, kind: ObjectKind, names: readonly string[]): Promise<void> {
  return withStore(location, (store) => store.remove(kind, names));
}

export function putObject(location: StoreLocation, kind: ObjectKind, name: string, bytes: Uint8Array): Promise<void> {
  return withStore(location, (store) => store.put(kind, name, [bytes]));
}

export function getObject(location: StoreLocation, kind: ObjectKind, name: string): Promise<Buffer> {
  return withStore(location, (store) => store.get(kind, name));
}

/** The names of every object of a kind, sorted. */
export function objectNames(location: StoreLocation, kind: ObjectKind): Promise<string[]> {
  return withStore(location, async (store) => {
    const names: string[] = [];
    for await (const info of store.list(kind)) names.push(info.name);
    return names.sort();
  });
}

/** The directory of a repository in a local directory store. */
export function localPath(repository: Repository): string {
  if (repository.location.type !== 'local') throw new Error('Files exist only in a local directory repository');
  return repository.location.path;
}

/** Flips one byte in the middle of every chunk of the packs `which` selects, through the store; answers how many. */
export async function corruptChunks(repository: Repository, which: (pack: PackContents) => boolean = () => true): Promise<number> {
  const packs = (await repository.packs()).filter(which);
  return withStore(repository.location, async (store) => {
    let damaged = 0;
    for (const pack of packs) {
      const bytes = await store.get('pack', pack.id);
      for (const blob of pack.blobs) {
        bytes[blob.offset + Math.floor(blob.length / 2)]! ^= 0x40;
        damaged += 1;
      }
      await store.put('pack', pack.id, [bytes]);
    }
    return damaged;
  });
}

/** The same, for a repository not open in this process. */
export async function corruptChunksAt(path: string, password: string | null, which?: (pack: PackContents) => boolean): Promise<number> {
  const repository = await openRepository({ location: { type: 'local', path }, password, workers: 1 });
  try {
    return await corruptChunks(repository, which);
  } finally {
    await repository.close();
  }
}

/** The ids of a repository's packs now: with `packsNotIn`, selects the packs written after. */
export async function packIds(repository: Repository): Promise<Set<string>> {
  return new Set((await repository.packs()).map((pack) => pack.id));
}

export const packsNotIn = (earlier: ReadonlySet<string>) => (pack: PackContents) => !earlier.has(pack.id);

/** Bytes of every chunk the packs hold (after gc: exactly the chunks some backup uses). */
export async function storedChunkBytes(repository: Repository): Promise<number> {
  return (await repository.packs()).reduce((sum, pack) => sum + pack.blobs.reduce((packSum, blob) => packSum + blob.length, 0), 0);
}
