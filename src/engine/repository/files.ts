/**
 * File operations of the restore target (an image file beside the disks, not repository storage:
 * the repository's objects go through an ObjectStore). A restored image is written into a temporary
 * file beside its name, synced, renamed over the name, and the directory synced.
 */
import { write } from 'node:fs';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { syncDirectory, TEMPORARY_PREFIX } from '../storage/local-store.js';

export { syncDirectory };

export function temporaryPathFor(path: string): string {
  return join(dirname(path), `${TEMPORARY_PREFIX}${basename(path)}-${randomBytes(6).toString('hex')}`);
}

const writeAt = promisify(write);

/** Writes all of `data` at `position`, in the thread pool: the calling thread goes on meanwhile. */
export async function writeFullyInBackground(fd: number, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await writeAt(fd, data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}
