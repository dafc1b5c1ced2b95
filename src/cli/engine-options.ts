/** The backup engine's flags, shared by the backup commands, `serve` and `run-due`. */
import type { Logger } from 'pino';
import { EngineNotConfigured, openBackupEngine, type BackupEngine } from '../engine/index.js';
import type { Runtime } from '../runtime.js';
import type { CommonOptions } from './options.js';

export const ENGINE_OPTIONS = {
  repository: { type: 'string' },
  'unencrypted-repository': { type: 'boolean', default: false },
} as const;

export type EngineValues = { repository?: unknown; 'unencrypted-repository'?: unknown };

export function openEngine(runtime: Runtime, options: CommonOptions, values: EngineValues, logger: Logger | false = false): Promise<BackupEngine> {
  return openBackupEngine(
    runtime,
    { dataDir: options.dataDir, repositoryPath: values.repository as string | undefined, unencrypted: values['unencrypted-repository'] === true },
    logger,
  );
}

/**
 * For the scheduler: the engine, or — when no passphrase is configured — none, said loudly in the
 * log; runs are then recorded as skipped (no backup engine), never as backups.
 */
export async function engineIfConfigured(runtime: Runtime, options: CommonOptions, values: EngineValues, logger: Logger): Promise<BackupEngine | undefined> {
  try {
    return await openEngine(runtime, options, values, logger);
  } catch (error) {
    if (!(error instanceof EngineNotConfigured)) throw error;
    logger.warn({ reason: error.message }, 'backup engine not configured: runs will be recorded as skipped');
    return undefined;
  }
}
