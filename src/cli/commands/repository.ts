/**
 * `dbp repository init`: creates a repository, optionally immutable (every object retained with S3
 * Object Lock for N days: docs/S3.md "Immutable backups").
 *
 * `dbp repository rebind`: moves the catalogue to another repository on purpose. Every process on a
 * database must use the repository the catalogue is bound to (see src/engine/repository-binding.ts);
 * this is the one way to change which, and it needs `--yes`, because the catalogue then forgets the
 * backups the new repository does not hold.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { passphrase, rebindRepository, repositoryLocationOf } from '../../engine/index.js';
import { DEFAULT_CHUNK_SIZE, initRepository, MAX_IMMUTABLE_DAYS } from '../../engine/repository/index.js';
import { openRuntime } from '../../runtime.js';
import { addEngineOptions, engineSettingsOf, type EngineValues } from '../engine-options.js';
import { commonOptions, groupCommand, leafCommand, printObject, UsageError, wholeNumber } from '../options.js';

const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

/** `--chunk-size`: bytes, or with a K/KiB/M/MiB suffix; a power of two from 4 KiB to 16 MiB. */
function chunkSize(value: string): number {
  const match = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(value.trim());
  const unit = match?.[2]?.toLowerCase().startsWith('m') ? 1024 * 1024 : match?.[2] ? 1024 : 1;
  const bytes = match ? Number(match[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 4096 || bytes > MAX_CHUNK_SIZE || (bytes & (bytes - 1)) !== 0) {
    throw new InvalidArgumentError(`--chunk-size must be a power of two from 4096 bytes (4K) to 16M (got "${value}")`);
  }
  return bytes;
}

/** The `repository` group, shared with any other `repository` subcommand registered beside this one. */
export function repositoryGroup(program: Command): Command {
  return (
    program.commands.find((command) => command.name() === 'repository') ??
    groupCommand(program, 'repository', 'the backup repository itself', ['dbp repository rebind --repository /srv/dbp-repository --yes'])
  );
}

export function registerRepositoryCommands(program: Command): void {
  addEngineOptions(
    leafCommand(
      repositoryGroup(program),
      'init',
      'create a new backup repository (refused where one exists); --immutable-days makes every backup object undeletable for that long (S3 Object Lock)',
      [
        'dbp repository init --repository s3:https://s3.example.com/backups --immutable-days 30',
        'dbp repository init --repository /srv/dbp-repository --chunk-size 64K',
      ],
    ),
  )
    .option(
      '--immutable-days <days>',
      `keep every object written (but locks) immutable for this many days, 1 to ${MAX_IMMUTABLE_DAYS} (S3 bucket with Object Lock enabled only)`,
      wholeNumber('immutable-days', 1, MAX_IMMUTABLE_DAYS),
    )
    .option('--chunk-size <bytes>', `chunk size, a power of two from 4K to 16M (default ${DEFAULT_CHUNK_SIZE / 1024}K)`, chunkSize)
    .action(async (flags: EngineValues & { immutableDays?: number; chunkSize?: number }, command: Command) => {
      const options = commonOptions(command);
      const settings = { dataDir: options.dataDir, repositoryPath: flags.repository, unencrypted: flags.unencryptedRepository === true };
      const repository = await initRepository({
        location: repositoryLocationOf(settings),
        password: passphrase(settings),
        workers: 1,
        ...(flags.chunkSize !== undefined ? { chunkSize: flags.chunkSize } : {}),
        ...(flags.immutableDays !== undefined ? { immutableDays: flags.immutableDays } : {}),
      });
      try {
        printObject(options.json, 'Repository created', {
          repository_id: repository.id,
          location: repository.description,
          encrypted: repository.encrypted,
          immutable_days: repository.immutableDays ?? null,
        });
      } finally {
        await repository.close();
      }
    });

  addEngineOptions(
    leafCommand(
      repositoryGroup(program),
      'rebind',
      'bind the catalogue to this repository instead of its own (stop every process first); the next gc forgets the backups it lacks',
      ['dbp repository rebind --repository /srv/dbp-repository --yes'],
    ),
  )
    .option('--yes', 'confirm: the catalogue forgets (at the next gc) every backup this repository does not hold')
    .action(async (flags: EngineValues & { yes?: boolean }, command: Command) => {
      const options = commonOptions(command);
      if (flags.yes !== true) {
        throw new UsageError('--yes is required: the catalogue then forgets every backup this repository does not hold (stop every other process first)');
      }
      const runtime = await openRuntime(options);
      try {
        // The same settings as every other command, `--cache-dir` included (an S3 repository's cache).
        const report = await rebindRepository(runtime, engineSettingsOf(options, flags));
        printObject(options.json, 'Catalogue bound to this repository', {
          repository_id: report.repositoryId,
          location: report.location,
          previous_repository_id: report.previous?.id ?? null,
          previous_location: report.previous?.location ?? null,
          backups_missing: report.backupsMissing,
        });
        if (report.backupsMissing > 0 && !options.json) {
          process.stderr.write(`dbp repository rebind: ${report.backupsMissing} catalogued backups are not in this repository; the next gc deletes their rows\n`);
        }
      } finally {
        await runtime.close();
      }
    });
}
