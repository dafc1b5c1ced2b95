/** `dbp runs list [--policy ID] [--limit N] [--json]`: the scheduler's run records, newest first. */
import { openRuntime } from '../../runtime.js';
import type { BackupRun } from '../../store/schema.js';
import { commonOptions, integerOption, parseCommand, UsageError } from '../options.js';

export async function runsCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action !== 'list') throw new UsageError(`usage: dbp runs list [--policy ID] [--limit N]  (got "${action ?? ''}")`);
  const { values, positionals } = parseCommand(rest, { policy: { type: 'string' }, limit: { type: 'string', default: '100' } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const options = commonOptions(values);
  const limit = integerOption(values.limit, 'limit', 1, 100_000)!;
  const runtime = await openRuntime(options);
  try {
    const runs = await runtime.services.runs.list({ policyId: values.policy as string | undefined, limit });
    print(options.json, runs);
  } finally {
    await runtime.close();
  }
}

function print(json: boolean, runs: BackupRun[]): void {
  if (json) {
    const records = runs.map(({ pk: _pk, target_disk_ids, ...run }) => ({ ...run, target_disk_ids: JSON.parse(target_disk_ids) as string[] }));
    process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    return;
  }
  if (runs.length === 0) {
    process.stdout.write('No runs.\n');
    return;
  }
  const time = (at: number | null) => (at === null ? '-' : new Date(at * 1000).toISOString().replace('.000Z', 'Z'));
  const rows = runs.map((run) => [
    run.id, run.policy_id, time(run.scheduled_at), time(run.started_at), time(run.finished_at), run.status, String(run.attempts), run.error ?? '',
  ]);
  const header = ['id', 'policy', 'scheduled_at', 'started_at', 'finished_at', 'status', 'attempts', 'error'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows]) {
    process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()}\n`);
  }
}
