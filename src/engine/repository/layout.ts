/** Where things live in a repository directory (see docs/REPOSITORY.md). */
import { join } from 'node:path';

export const CONFIG_FILE = 'config';
export const PACKS_DIRECTORY = 'packs';
export const INDEX_DIRECTORY = 'index';
export const BACKUPS_DIRECTORY = 'backups';
export const LOCKS_DIRECTORY = 'locks';

/** Chunk ids are 64 lowercase hex digits. */
export const CHUNK_ID = /^[0-9a-f]{64}$/;
/** Backup, pack and index ids are 32 lowercase hex digits. */
export const BACKUP_ID = /^[0-9a-f]{32}$/;
export const PACK_ID = BACKUP_ID;
export const INDEX_ID = BACKUP_ID;

/** A pack lives in a directory named by the first two hex digits of its id. */
export function packPath(root: string, packId: string): string {
  return join(root, PACKS_DIRECTORY, packId.slice(0, 2), packId);
}

export function indexPath(root: string, indexId: string): string {
  return join(root, INDEX_DIRECTORY, indexId);
}

export function manifestPath(root: string, backupId: string): string {
  return join(root, BACKUPS_DIRECTORY, backupId);
}

/** The names objects are sealed with (authenticated with their content: a file cannot be swapped for another). */
export const manifestName = (backupId: string) => `backup:${backupId}`;
export const packTableName = (packId: string) => `pack:${packId}`;
export const indexName = (indexId: string) => `index:${indexId}`;
