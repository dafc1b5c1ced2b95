/** Where things live in a repository directory (see docs/REPOSITORY.md). */
import { join } from 'node:path';

export const CONFIG_FILE = 'config';
export const CHUNKS_DIRECTORY = 'chunks';
export const BACKUPS_DIRECTORY = 'backups';
export const LOCKS_DIRECTORY = 'locks';

/** Chunk ids are 64 lowercase hex digits; a chunk lives in a directory named by its first two. */
export const CHUNK_ID = /^[0-9a-f]{64}$/;
/** Backup ids are 32 lowercase hex digits. */
export const BACKUP_ID = /^[0-9a-f]{32}$/;

export function chunkPath(root: string, chunkId: string): string {
  return join(root, CHUNKS_DIRECTORY, chunkId.slice(0, 2), chunkId);
}

export function manifestPath(root: string, backupId: string): string {
  return join(root, BACKUPS_DIRECTORY, backupId);
}

/** The name a manifest is sealed with (authenticated with its content). */
export function manifestName(backupId: string): string {
  return `backup:${backupId}`;
}
