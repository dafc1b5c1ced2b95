/** Object names of a repository (docs/REPOSITORY.md); where a store keeps them is the store's business. */

/** The config object's name (the only object of its kind). */
export const CONFIG_NAME = 'config';

/** Chunk ids are 64 lowercase hex digits. */
export const CHUNK_ID = /^[0-9a-f]{64}$/;
/** Backup, pack and index ids are 32 lowercase hex digits; they are also the objects' names. */
export const BACKUP_ID = /^[0-9a-f]{32}$/;
export const PACK_ID = BACKUP_ID;
export const INDEX_ID = BACKUP_ID;

/** The names objects are sealed with (authenticated with their content: an object cannot be swapped for another). */
export const manifestName = (backupId: string) => `backup:${backupId}`;
export const packTableName = (packId: string) => `pack:${packId}`;
export const indexName = (indexId: string) => `index:${indexId}`;
