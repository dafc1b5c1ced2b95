/** The backup engine's flags, shared by the backup commands, `serve` and `run-due`. */
import { Option, type Command } from 'commander';
import type { Logger } from 'pino';
import { EngineNotConfigured, openBackupEngine, type BackupEngine, type EngineSettings } from '../engine/index.js';
import type { Runtime } from '../runtime.js';
import type { CommonOptions } from './options.js';

/** The log levels `serve` and `run-due` take. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Adds `--repository`, `--cache-dir` and `--unencrypted-repository` to a command. */
export function addEngineOptions(command: Command): Command {
  return command
    .addOption(new Option('--repository <path>', 'the backup repository: a directory or s3:http(s)://host[:port]/bucket[/prefix] (default: DATA-DIR/repository)').env('DBP_REPOSITORY'))
    .addOption(new Option('--cache-dir <path>', 'local cache of an S3 repository\'s index and manifests (default: DATA-DIR/cache/…; size: DBP_CACHE_MAX_MIB)').env('DBP_CACHE_DIR'))
    .addOption(
      new Option(
        '--unencrypted-repository',
        'without a passphrase (DBP_REPOSITORY_PASSWORD or DATA-DIR/repository.key), use an unencrypted repository',
      ),
    );
}

/**
 * Adds `--copy-to` (DBP_COPY_TO) to a command that runs policies: a second repository each succeeded
 * run's backups are copied to (its passphrase: DBP_COPY_TO_PASSWORD, else the repository's own).
 */
export function addCopyToOption(command: Command): Command {
  return command.addOption(
    new Option('--copy-to <repository>', "after each succeeded run, copy its backups to this second repository (created if absent; passphrase DBP_COPY_TO_PASSWORD, else the repository's)").env('DBP_COPY_TO'),
  );
}

export type EngineValues = { repository?: string; cacheDir?: string; unencryptedRepository?: boolean; copyTo?: string };

/** The engine settings the flags give. */
export function engineSettingsOf(options: CommonOptions, values: EngineValues): EngineSettings {
  return {
    dataDir: options.dataDir,
    repositoryPath: values.repository,
    cacheDir: values.cacheDir,
    unencrypted: values.unencryptedRepository === true,
    copyTo: values.copyTo,
  };
}

export function openEngine(runtime: Runtime, options: CommonOptions, values: EngineValues, logger: Logger | false = false): Promise<BackupEngine> {
  return openBackupEngine(runtime, engineSettingsOf(options, values), logger);
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
