/**
 * Opening a repository, creating it when asked. Creation is exclusive: the config object is put with
 * `ifAbsent`, which fails when one is there and never replaces it (store.ts: a local directory
 * hard-links its temporary file to the name); the process that loses the race reads the config that
 * won. So two processes creating one repository at once use the same salt and keys, and neither sees
 * half a config.
 */
import { LocalDirectoryStore } from '../storage/local-store.js';
import { StoreError, type ObjectStore } from '../storage/object-store.js';
import { RepositoryError } from './errors.js';
import { checkImmutableDays, RetentionPeriod } from './immutability.js';
import { FORMAT_VERSION, newConfig, type RepositoryConfig } from './keys.js';
import { CONFIG_NAME } from './layout.js';

/** How to make a bucket an immutable repository can use (in the message that refuses one without). */
const OBJECT_LOCK_HOW_TO =
  'create the bucket with Object Lock enabled (e.g. `aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket`); it cannot be turned on for the objects of an existing bucket here';

/**
 * `dbp repository init`: creates the repository, refusing when the store already holds one. With an
 * immutability period the store must keep objects immutable (an S3 bucket with Object Lock), checked
 * before anything is written, and the config itself is written retained.
 */
export async function createConfig(store: ObjectStore, password: string | null, chunkSize: number, immutableDays?: number): Promise<RepositoryConfig> {
  checkChunkSize(chunkSize);
  if (await store.stat('config', CONFIG_NAME)) {
    throw new RepositoryError('repository_exists', `${store.description} already holds a backup repository; init creates a new one only`);
  }
  if (store instanceof LocalDirectoryStore && store.foreignEntries().length > 0) {
    throw new RepositoryError('not_a_repository', `${store.description} is not empty and not a backup repository; choose an empty or new directory`);
  }
  let retainUntil: Date | undefined;
  if (immutableDays !== undefined) {
    checkImmutableDays(immutableDays);
    if (!store.checkObjectLock) {
      throw new RepositoryError(
        'immutability_unsupported',
        `${store.description} cannot keep backups immutable: a local directory has no retention; use an S3 bucket with Object Lock enabled`,
      );
    }
    if (!(await store.checkObjectLock())) {
      throw new RepositoryError('immutability_unsupported', `The bucket of ${store.description} does not have Object Lock enabled, which immutable backups need: ${OBJECT_LOCK_HOW_TO}`);
    }
    retainUntil = new Date(Date.now() + RetentionPeriod.of(immutableDays)!.ms);
  }
  const { config } = newConfig(password, chunkSize, Math.floor(Date.now() / 1000), immutableDays);
  try {
    await store.put('config', CONFIG_NAME, [Buffer.from(`${JSON.stringify(config, null, 2)}\n`)], { ifAbsent: true, ...(retainUntil ? { retainUntil } : {}) });
  } catch (error) {
    if (error instanceof StoreError && (error.code === 'exists' || error.code === 'locked')) {
      throw new RepositoryError('repository_exists', `${store.description} already holds a backup repository; init creates a new one only`);
    }
    throw error;
  }
  await store.barrier('config');
  return config;
}

function checkChunkSize(chunkSize: number): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 4096 || (chunkSize & (chunkSize - 1)) !== 0) {
    throw new RangeError('The chunk size must be a power of two of at least 4096 bytes');
  }
}

/** The repository's config, creating the repository first when `create` and it has none yet. */
export async function openOrCreateConfig(store: ObjectStore, password: string | null, create: boolean, chunkSize: number): Promise<RepositoryConfig> {
  const existing = await readConfig(store);
  if (existing) return existing;
  if (!create) throw new RepositoryError('not_a_repository', `${store.description} is not a backup repository (it has no config)`);
  checkChunkSize(chunkSize);
  // A directory that holds other things is not made a repository (what a concurrent creation puts there is not "foreign").
  if (store instanceof LocalDirectoryStore && store.foreignEntries().length > 0) {
    throw new RepositoryError('not_a_repository', `${store.description} is not empty and not a backup repository; choose an empty or new directory`);
  }
  const { config } = newConfig(password, chunkSize, Math.floor(Date.now() / 1000));
  try {
    await store.put('config', CONFIG_NAME, [Buffer.from(`${JSON.stringify(config, null, 2)}\n`)], { ifAbsent: true });
  } catch (error) {
    if (!(error instanceof StoreError && error.code === 'exists')) throw error;
  }
  await store.barrier('config');
  // Whichever config won, everyone uses that one.
  const winner = await readConfig(store);
  if (!winner) throw new RepositoryError('not_a_repository', `${store.description}: the config just written is gone`);
  return winner;
}

async function readConfig(store: ObjectStore): Promise<RepositoryConfig | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.get('config', CONFIG_NAME);
  } catch (error) {
    if (error instanceof StoreError && error.code === 'not_found') return undefined;
    throw error;
  }
  let config: RepositoryConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as RepositoryConfig;
  } catch (error) {
    throw new RepositoryError('not_a_repository', `${store.description} has no valid repository config: ${(error as Error).message}`);
  }
  if (config === null || typeof config !== 'object' || config.format !== FORMAT_VERSION) {
    throw new RepositoryError('not_a_repository', `Unknown repository format ${String((config as RepositoryConfig | null)?.format)}`);
  }
  if (config.immutableDays !== undefined) {
    try {
      checkImmutableDays(config.immutableDays);
    } catch {
      throw new RepositoryError('not_a_repository', `${store.description} has an invalid immutability period in its config: ${JSON.stringify(config.immutableDays)}`);
    }
  }
  return config;
}
