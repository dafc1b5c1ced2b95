/**
 * `dbp repository rebind`: moves the catalogue to another repository on purpose. Every process on a
 * database must use the repository the catalogue is bound to (see src/engine/repository-binding.ts);
 * this is the one way to change which, and it needs `--yes`, because the catalogue then forgets the
 * backups the new repository does not hold.
 */
import type { Command } from 'commander';
import { rebindRepository } from '../../engine/index.js';
import { openRuntime } from '../../runtime.js';
import { addEngineOptions, type EngineValues } from '../engine-options.js';
import { commonOptions, groupCommand, leafCommand, printObject, UsageError } from '../options.js';

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
        const report = await rebindRepository(runtime, {
          dataDir: options.dataDir,
          repositoryPath: flags.repository,
          unencrypted: flags.unencryptedRepository === true,
        });
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
