/**
 * The worker's periodic garbage collection: reconcile the catalogue with the repository, then delete
 * the chunks no backup uses. A collection that finds the repository busy (a backup running in any
 * process) simply waits for the next turn.
 */
import type { Logger } from 'pino';
import type { BackupEngine } from './backup-engine.js';
import { RepositoryError } from './repository/index.js';

export const GARBAGE_COLLECTION_INTERVAL_MS = 60 * 60_000;

export function startGarbageCollection(engine: BackupEngine, logger: Logger, intervalMs = GARBAGE_COLLECTION_INTERVAL_MS): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    engine
      .collectGarbage()
      // Notes say a step was skipped (e.g. packs partly in use not rewritten for want of disk space).
      .then((report) => (report.notes ? logger.warn({ ...report }, 'garbage collection skipped a step') : logger.info({ ...report }, 'garbage collection')))
      .catch((error: unknown) => {
        if (error instanceof RepositoryError && error.code === 'repository_locked') logger.info({ reason: error.message }, 'garbage collection postponed');
        else logger.error({ err: error }, 'garbage collection failed');
      })
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
