/** `dbp runs list [--policy ID] [--limit N] [--json]`: the scheduler's run records, newest first. */
import { Option, type Command } from 'commander';
import type { BackupRun } from '../../store/schema.js';
import { groupCommand, isoTime, leafCommand, printJson, printTable, wholeNumber } from '../options.js';
import { withServices } from '../with-services.js';

export function registerRunsCommand(program: Command): void {
  const runs = groupCommand(program, 'runs', "the scheduler's run records", ['dbp runs list --limit 10']);
  leafCommand(runs, 'list', "the scheduler's run records, newest first", ['dbp runs list', 'dbp runs list --policy dbp_AbCdEfGh12345678 --limit 10 --json'])
    .option('--policy <id>', "only this policy's runs")
    .addOption(new Option('--limit <n>', 'at most this many, 1 to 100000').argParser(wholeNumber('limit', 1, 100_000)).default(100))
    .action(async (flags: { policy?: string; limit: number }, command: Command) =>
      withServices(command, async (services, json) => print(json, await services.runs.list({ policyId: flags.policy, limit: flags.limit }))),
    );
}

function print(json: boolean, runs: BackupRun[]): void {
  if (json) {
    const records = runs.map(({ pk: _pk, target_disk_ids, ...run }) => ({ ...run, target_disk_ids: JSON.parse(target_disk_ids) as string[] }));
    printJson(records);
    return;
  }
  const rows = runs.map((run) => [
    run.id, run.policy_id, isoTime(run.scheduled_at), isoTime(run.started_at), isoTime(run.finished_at), run.status, String(run.attempts), run.error ?? '',
  ]);
  printTable(['id', 'policy', 'scheduled_at', 'started_at', 'finished_at', 'status', 'attempts', 'error'], rows, 'No runs.');
}
