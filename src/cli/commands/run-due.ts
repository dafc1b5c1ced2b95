/**
 * `dbp run-due [--now UNIX] [--json]`: runs every policy due at that instant once (and every run
 * whose worker died), waits for the runs to finish, prints them and exits. With `--now` the whole
 * scheduler — claims, leases, `next_invocation_at` — sees that fixed time.
 */
import { Option, type Command } from 'commander';
import pino from 'pino';
import { fixedClock } from '../../domain/clock.js';
import { openRuntime } from '../../runtime.js';
import { schedulerFor, type FinishedRun } from '../../scheduler/index.js';
import { addCopyToOption, addEngineOptions, engineIfConfigured, LOG_LEVELS, type EngineValues } from '../engine-options.js';
import { commonOptions, leafCommand, printJson, wholeNumber, type CommonOptions } from '../options.js';

export function registerRunDueCommand(program: Command): void {
  addEngineOptions(addCopyToOption(
    leafCommand(program, 'run-due', 'run every policy due at that instant once, wait, print the runs', ['dbp run-due', 'dbp run-due --now 1893456000 --json']),
  ))
    .addOption(new Option('--now <unix>', 'the instant (Unix time) the whole scheduler sees (default: the clock)').argParser(wholeNumber('now', 0, 253402300799)))
    .addOption(new Option('--log-level <level>', 'of the log lines on stderr').env('DBP_LOG_LEVEL').default('info').choices(LOG_LEVELS))
    .action(async (flags: EngineValues & { now?: number; logLevel: string }, command: Command) => runDue(commonOptions(command), flags));
}

async function runDue(options: CommonOptions, flags: EngineValues & { now?: number; logLevel: string }): Promise<void> {
  const { now } = flags;
  // Log lines (one per run) go to stderr, so that stdout holds only the result.
  const logger = pino({ level: flags.logLevel }, pino.destination(2));
  const runtime = await openRuntime({ ...options, ...(now === undefined ? {} : { clock: fixedClock(now) }) });
  const engine = await engineIfConfigured(runtime, options, flags, logger).catch(async (error: unknown) => {
    await runtime.close();
    throw error;
  });
  try {
    const at = runtime.services.clock.now();
    const finished = await schedulerFor(runtime, { logger, ...(engine ? { runner: engine } : {}) }).runDue();
    print(options.json, at, finished);
  } finally {
    await engine?.close();
    await runtime.close();
  }
}

function print(json: boolean, at: number, finished: FinishedRun[]): void {
  const counts = { succeeded: 0, failed: 0, skipped: 0 };
  for (const run of finished) counts[run.status]++;
  const runs = finished.map(({ run, status, error, liveRead, recorded }) => ({
    id: run.id,
    policy_id: run.policyId,
    organization_id: run.organizationId,
    target_disk_ids: run.targetDiskIds,
    scheduled_at: run.scheduledAt,
    attempt: run.attempt,
    status,
    error,
    live_read: liveRead,
    recorded,
  }));
  if (json) {
    printJson({ now: at, counts, runs });
    return;
  }
  process.stdout.write(
    `${finished.length} run${finished.length === 1 ? '' : 's'} due at ${new Date(at * 1000).toISOString()}: ` +
      `${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.skipped} skipped\n`,
  );
  for (const run of runs) {
    const when = new Date(run.scheduled_at * 1000).toISOString();
    process.stdout.write(`  ${run.id}  ${run.policy_id}  ${when}  ${run.status}${run.error ? ` (${run.error})` : ''}\n`);
  }
}
