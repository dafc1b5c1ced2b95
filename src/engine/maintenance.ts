/**
 * The worker's periodic garbage collection: reconcile the catalogue with the repository, then delete
 * the chunks no backup uses. A collection that finds the repository busy (a backup running in any
 * process) simply waits for the next turn.
 */
import type { Logger } from 'pino';
import type { BackupEngine } from './backup-engine.js';
import { openRepositoryOf, passphrase, type EngineSettings } from './index.js';
import { RepositoryError, type GcReport } from './repository/index.js';

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

/**
 * `dbp gc` on any disk: reconciles the catalogue and collects (`withCatalogue`). On a disk so full
 * that the catalogue cannot even be opened (SQLite needs room for its shared-memory file), the
 * repository is collected alone first — safe without the catalogue, as it keeps every chunk a
 * manifest names, and it needs no free space — then again with the catalogue, which the space freed
 * lets open (its reconcile may forget more backups, which that second collection removes).
 */
export async function collectGarbageOnAnyDisk(settings: EngineSettings, withCatalogue: () => Promise<GcReport>): Promise<GcReport> {
  try {
    return await withCatalogue();
  } catch (error) {
    if (!isDiskFull(error)) throw error;
  }
  const repository = await openRepositoryOf(settings, { password: passphrase(settings), workers: 1 });
  let first: GcReport;
  try {
    first = await repository.gc();
  } finally {
    await repository.close();
  }
  let second: GcReport;
  try {
    second = await withCatalogue();
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    const note = `The catalogue could not be opened for want of disk space (${(error as Error).message}): it was not reconciled; run gc again once there is room`;
    return { ...first, notes: [...(first.notes ?? []), note] };
  }
  const notes = [...(first.notes ?? []), ...(second.notes ?? [])];
  const report: GcReport = { chunksRemoved: first.chunksRemoved + second.chunksRemoved, bytesRemoved: first.bytesRemoved + second.bytesRemoved, chunksKept: second.chunksKept };
  return notes.length > 0 ? { ...report, notes } : report;
}

/** An error of a full disk: the system's, or SQLite's (a full database, or no room for its shared-memory or journal files). */
function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}
