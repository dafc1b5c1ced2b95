/** Opens the store a location names (the `--repository` argument, parsed by location.ts). */
import { LocalDirectoryStore } from './local-store.js';
import { StoreError, type ObjectStore, type StoreLocation } from './object-store.js';

export async function openStore(location: StoreLocation): Promise<ObjectStore> {
  if (location.type === 'local') return new LocalDirectoryStore(location.path);
  throw new StoreError('unsupported', 'S3 stores are not built in this branch');
}
