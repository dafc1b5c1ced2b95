/**
 * Durable file operations. Every file of a repository is written whole or not at all: into a
 * temporary file beside its final name, synced, renamed over the name, and the directory synced so
 * that the rename itself survives a crash. Readers never see a half-written file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Temporary files start with this; garbage collection removes old ones a crash left behind. */
export const TEMPORARY_PREFIX = '.tmp-';

export function temporaryPathFor(path: string): string {
  return join(dirname(path), `${TEMPORARY_PREFIX}${basename(path)}-${randomBytes(6).toString('hex')}`);
}

export function syncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` atomically and durably (see the module comment). */
export function writeFileAtomically(path: string, data: Uint8Array | readonly Uint8Array[]): void {
  const temporary = temporaryPathFor(path);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    for (const part of Array.isArray(data) ? data : [data]) writeFully(fd, part as Uint8Array);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
  syncDirectory(dirname(path));
}

/**
 * The same as writeFileAtomically without the directory sync (packs: a backup syncs every pack
 * directory once, before an index that names them is written), with the write and the sync done off
 * the calling thread, so that the next pack fills meanwhile.
 */
export async function writeFileAtomicallyInBackground(path: string, data: readonly Uint8Array[]): Promise<void> {
  const temporary = temporaryPathFor(path);
  const file = await open(temporary, 'wx', 0o600);
  try {
    await file.writev(data as Uint8Array[]);
    await file.sync();
  } catch (error) {
    await file.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await file.close();
  await rename(temporary, path);
}

export function writeFully(fd: number, data: Uint8Array, position: number | null = null): void {
  let written = 0;
  while (written < data.length) {
    written += writeSync(fd, data, written, data.length - written, position === null ? null : position + written);
  }
}

const writeAt = promisify(write);

/** writeFully in the thread pool: the calling thread goes on meanwhile. */
export async function writeFullyInBackground(fd: number, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await writeAt(fd, data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

export function ensureDirectory(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}
