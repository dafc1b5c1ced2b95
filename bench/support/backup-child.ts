/**
 * One measured operation of `npm run bench:backup`, in its own process so that its peak RSS is its own:
 *   backup  REPOSITORY IMAGE CHUNK_SIZE      → {"seconds", "backupId", "newStoredBytes"}
 *   restore REPOSITORY BACKUP_ID TARGET      → {"seconds"}
 * The passphrase comes from DBP_REPOSITORY_PASSWORD. Prints one JSON line with `peakRssBytes` (VmHWM).
 */
import { readFileSync } from 'node:fs';
import { openRepository } from '../../src/engine/repository/index.js';

const [operation, repositoryPath, ...rest] = process.argv.slice(2) as [string, string, ...string[]];
const password = process.env.DBP_REPOSITORY_PASSWORD ?? null;

function peakRssBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

if (operation === 'backup') {
  const [imagePath, chunkSize] = rest as [string, string];
  const repository = await openRepository({ location: { type: 'local', path: repositoryPath }, password, create: true, chunkSize: Number(chunkSize) });
  const started = performance.now();
  const result = await repository.backup({ sourcePath: imagePath });
  const seconds = (performance.now() - started) / 1000;
  await repository.close();
  process.stdout.write(`${JSON.stringify({ seconds, backupId: result.id, newStoredBytes: result.newStoredBytes, peakRssBytes: peakRssBytes() })}\n`);
} else if (operation === 'restore') {
  const [backupId, target] = rest as [string, string];
  const repository = await openRepository({ location: { type: 'local', path: repositoryPath }, password });
  const started = performance.now();
  await repository.restore(backupId, { toPath: target });
  const seconds = (performance.now() - started) / 1000;
  await repository.close();
  process.stdout.write(`${JSON.stringify({ seconds, peakRssBytes: peakRssBytes() })}\n`);
} else {
  throw new Error(`unknown operation ${operation}`);
}
