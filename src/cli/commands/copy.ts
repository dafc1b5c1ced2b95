/**
 * `dbp copy --from REPO --to REPO [--policy ID]`: a second copy of the backups (3-2-1). Works on the
 * repositories alone (no database): every backup of the source the target lacks is copied, re-encrypted
 * for the target, sending only the chunks the target does not hold. The target is created if absent.
 * Passphrases: --from-password-file / --to-password-file, else DBP_REPOSITORY_PASSWORD for both.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { openRepository, type CopyReport, type Repository } from '../../engine/repository/index.js';
import { parseRepositoryLocation, RepositoryLocationError } from '../../engine/storage/location.js';
import { commonOptions, leafCommand, printJson, snakeKeys, UsageError } from '../options.js';
import { progressReporter } from '../progress.js';

interface CopyFlags {
  from: string;
  to: string;
  policy?: string;
  fromPasswordFile?: string;
  toPasswordFile?: string;
}

export function registerCopyCommand(program: Command): void {
  leafCommand(
    program,
    'copy',
    'copy the backups a second repository lacks into it (re-encrypted for it; only the chunks it does not hold are sent); creates the target if absent',
    [
      'dbp copy --from /srv/dbp-repository --to /mnt/usb/dbp --policy dbp_AbCdEfGh12345678 --from-password-file /etc/dbp/key --to-password-file /etc/dbp/usb-key --json',
      'DBP_REPOSITORY_PASSWORD=… dbp copy --from /srv/dbp-repository --to s3:https://s3.example.com/backups/dbp',
    ],
  )
    .requiredOption('--from <repository>', 'the source repository: a directory or s3:http(s)://host[:port]/bucket[/prefix] (required)')
    .requiredOption('--to <repository>', 'the target repository, in the same forms (required; created if absent)')
    .option('--policy <id>', "only this policy's backups")
    .addOption(new Option('--from-password-file <file>', "a file holding the source's passphrase (default: DBP_REPOSITORY_PASSWORD)"))
    .addOption(new Option('--to-password-file <file>', "a file holding the target's passphrase (default: DBP_REPOSITORY_PASSWORD)"))
    .action(async (flags: CopyFlags, command: Command) => {
      const options = commonOptions(command);
      const from = location(flags.from, '--from');
      const to = location(flags.to, '--to');
      const fromPassword = passwordFor(flags.fromPasswordFile, '--from-password-file');
      const toPassword = passwordFor(flags.toPasswordFile, '--to-password-file');
      const source = await openRepository({ location: from, password: fromPassword });
      let target: Repository;
      try {
        target = await openRepository({ location: to, password: toPassword, create: true });
      } catch (error) {
        await source.close();
        throw error;
      }
      try {
        const progress = progressReporter('copy');
        const report = await source.copyTo(target, {
          ...(flags.policy ? { tags: { policy_id: flags.policy } } : {}),
          onProgress: (step) => progress.update(step),
        });
        progress.done();
        printReport(options.json, report);
        if (report.failed.length > 0) process.exitCode = 1;
      } finally {
        await source.close();
        await target.close();
      }
    });
}

function location(text: string, flag: string) {
  try {
    return parseRepositoryLocation(text);
  } catch (error) {
    if (error instanceof RepositoryLocationError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
}

/** The passphrase from the file given, else DBP_REPOSITORY_PASSWORD; a copy never uses an unencrypted repository. */
function passwordFor(file: string | undefined, flag: string): string {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new UsageError(`${flag}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    if (text === '') throw new UsageError(`${flag}: ${file} is empty`);
    return text;
  }
  const fromEnvironment = process.env.DBP_REPOSITORY_PASSWORD;
  if (fromEnvironment) return fromEnvironment;
  throw new UsageError(`a passphrase is needed: give ${flag} or set DBP_REPOSITORY_PASSWORD`);
}

function printReport(json: boolean, report: CopyReport): void {
  if (json) {
    printJson(snakeKeys(report));
    return;
  }
  const out = process.stdout;
  out.write(`Copied ${report.copied.length} of ${report.backupsSelected} backups (${report.backupsAlreadyThere} already there)\n`);
  out.write(`  chunks sent     ${report.chunksSent} (${report.bytesSent} bytes)\n`);
  out.write(`  chunks skipped  ${report.chunksSkipped} (${report.bytesSkipped} bytes the target already held)\n`);
  for (const failure of report.failed) process.stderr.write(`dbp copy: backup ${failure.backupId} not copied: ${failure.message}\n`);
}
