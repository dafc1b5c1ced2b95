/**
 * One measured operation of `npm run bench:backup`, in its own process so that its peak RSS is its own:
 *   backup  REPOSITORY IMAGE CHUNK_SIZE      → {"seconds", "backupId", "newStoredBytes"}
 *   restore REPOSITORY BACKUP_ID TARGET      → {"seconds"}
 * REPOSITORY is a `--repository` location (a directory or an s3: URL); an S3 one is opened behind the
 * local cache as the CLI opens it, in DBP_CACHE_DIR. The passphrase comes from DBP_REPOSITORY_PASSWORD.
 * Prints one JSON line with `peakRssBytes` (VmHWM).
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRepository, type Repository } from '../../src/engine/repository/index.js';
import { parseRepositoryLocation } from '../../src/engine/storage/location.js';
import { openStore } from '../../src/engine/storage/open-store.js';

const [operation, repositoryText, ...rest] = process.argv.slice(2) as [string, string, ...string[]];
const password = process.env.DBP_REPOSITORY_PASSWORD ?? null;

function peakRssBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

async function open(create: boolean, chunkSize?: number): Promise<Repository> {
  const location = parseRepositoryLocation(repositoryText);
  const cache = { directory: process.env.DBP_CACHE_DIR ?? join(tmpdir(), 'dbp-bench-cache') };
  const store = await openStore(location, location.type === 's3' ? { cache } : {});
  return openRepository({ store, password, create, ...(chunkSize ? { chunkSize } : {}) });
}

if (operation === 'backup') {
  const [imagePath, chunkSize] = rest as [string, string];
  const repository = await open(true, Number(chunkSize));
  const started = performance.now();
  const result = await repository.backup({ sourcePath: imagePath });
  const seconds = (performance.now() - started) / 1000;
  await repository.close();
  process.stdout.write(`${JSON.stringify({ seconds, backupId: result.id, newStoredBytes: result.newStoredBytes, peakRssBytes: peakRssBytes() })}\n`);
} else if (operation === 'restore') {
  const [backupId, target] = rest as [string, string];
  const repository = await open(false);
  const started = performance.now();
  await repository.restore(backupId, { toPath: target });
  const seconds = (performance.now() - started) / 1000;
  await repository.close();
  process.stdout.write(`${JSON.stringify({ seconds, peakRssBytes: peakRssBytes() })}\n`);
} else {
  throw new Error(`unknown operation ${operation}`);
}
