/**
 * Opens the store a location names (the `--repository` argument, parsed by location.ts). An S3 store
 * is put behind a local cache of its config, index and manifests (cached-store.ts) when the caller
 * gives a cache directory: listing backups, planning one and gc then read them from disk, not the network.
 */
import { CachedObjectStore, DEFAULT_CACHE_BYTES } from './cached-store.js';
import { LocalDirectoryStore } from './local-store.js';
import type { ObjectStore, StoreLocation } from './object-store.js';

export interface OpenStoreOptions {
  /** The local cache of a remote store (ignored for a local directory, which needs none). */
  readonly cache?: { readonly directory: string; readonly maxBytes?: number };
}

export { DEFAULT_CACHE_BYTES };

export async function openStore(location: StoreLocation, options: OpenStoreOptions = {}): Promise<ObjectStore> {
  if (location.type === 'local') return new LocalDirectoryStore(location.path);
  // Loaded only when asked for: the AWS SDK is large, and a directory repository does not need it.
  const { S3ObjectStore } = await import('./s3-store.js');
  const remote = await S3ObjectStore.open(location);
  if (!options.cache) return remote;
  try {
    return await CachedObjectStore.open(remote, { directory: options.cache.directory, ...(options.cache.maxBytes ? { maxBytes: options.cache.maxBytes } : {}) });
  } catch (error) {
    await remote.close();
    throw error;
  }
}
