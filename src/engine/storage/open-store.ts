/** Opens the store a location names (the `--repository` argument, parsed by location.ts). */
import { LocalDirectoryStore } from './local-store.js';
import type { ObjectStore, StoreLocation } from './object-store.js';

export async function openStore(location: StoreLocation): Promise<ObjectStore> {
  if (location.type === 'local') return new LocalDirectoryStore(location.path);
  // Loaded only when asked for: the AWS SDK is large, and a directory repository does not need it.
  const { S3ObjectStore } = await import('./s3-store.js');
  return S3ObjectStore.open(location);
}
