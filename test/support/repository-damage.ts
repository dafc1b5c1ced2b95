/** Damage done to a repository's pack files on purpose, chunk by chunk (through the packs' own tables). */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { openRepository, type PackContents, type Repository } from '../../src/engine/repository/index.js';

/** Flips one byte in the middle of every chunk of the packs `which` selects; answers how many. */
export async function corruptChunks(repository: Repository, which: (pack: PackContents) => boolean = () => true): Promise<number> {
  let damaged = 0;
  for (const pack of (await repository.packs()).filter(which)) {
    const bytes = readFileSync(pack.path);
    for (const blob of pack.blobs) {
      bytes[blob.offset + Math.floor(blob.length / 2)]! ^= 0x40;
      damaged += 1;
    }
    writeFileSync(pack.path, bytes);
  }
  return damaged;
}

/** The same, for a repository not open in this process. */
export async function corruptChunksAt(path: string, password: string | null, which?: (pack: PackContents) => boolean): Promise<number> {
  const repository = await openRepository({ path, password, workers: 1 });
  try {
    return await corruptChunks(repository, which);
  } finally {
    await repository.close();
  }
}

/** Packs written at or after the file at `path` was last changed. */
export const packsNewerThan = (path: string) => (pack: PackContents) => statSync(pack.path).mtimeMs >= statSync(path).mtimeMs;

/** Bytes of every chunk the packs hold (after gc: exactly the chunks some backup uses). */
export async function storedChunkBytes(repository: Repository): Promise<number> {
  return (await repository.packs()).reduce((sum, pack) => sum + pack.blobs.reduce((packSum, blob) => packSum + blob.length, 0), 0);
}
