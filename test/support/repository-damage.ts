/** Damage done to a repository's pack files on purpose, chunk by chunk (through the packs' own tables). */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openRepository, type PackContents, type Repository } from '../../src/engine/repository/index.js';

/** The directory of a repository in a local directory store. */
export function localPath(repository: Repository): string {
  if (repository.location.type !== 'local') throw new Error('Files exist only in a local directory repository');
  return repository.location.path;
}

/** The file that holds a pack of a repository in a local directory (the layout of docs/REPOSITORY.md). */
export function packFile(repository: Repository, pack: { readonly id: string }): string {
  return join(localPath(repository), 'packs', pack.id.slice(0, 2), pack.id);
}

/** Flips one byte in the middle of every chunk of the packs `which` selects; answers how many. */
export async function corruptChunks(repository: Repository, which: (pack: PackContents, file: string) => boolean = () => true): Promise<number> {
  let damaged = 0;
  for (const pack of await repository.packs()) {
    const file = packFile(repository, pack);
    if (!which(pack, file)) continue;
    const bytes = readFileSync(file);
    for (const blob of pack.blobs) {
      bytes[blob.offset + Math.floor(blob.length / 2)]! ^= 0x40;
      damaged += 1;
    }
    writeFileSync(file, bytes);
  }
  return damaged;
}

/** The same, for a repository not open in this process. */
export async function corruptChunksAt(path: string, password: string | null, which?: (pack: PackContents, file: string) => boolean): Promise<number> {
  const repository = await openRepository({ location: { type: 'local', path }, password, workers: 1 });
  try {
    return await corruptChunks(repository, which);
  } finally {
    await repository.close();
  }
}

/** Packs written at or after the file at `path` was last changed. */
export const packsNewerThan = (path: string) => (_pack: PackContents, file: string) => statSync(file).mtimeMs >= statSync(path).mtimeMs;

/** Bytes of every chunk the packs hold (after gc: exactly the chunks some backup uses). */
export async function storedChunkBytes(repository: Repository): Promise<number> {
  return (await repository.packs()).reduce((sum, pack) => sum + pack.blobs.reduce((packSum, blob) => packSum + blob.length, 0), 0);
}
