/**
 * The backup engine's commands: `backups list`, `restore`, `verify`, `repair index`, `policy run`, `gc`.
 * Each opens the runtime and the repository (see src/engine/index.ts for the passphrase rules).
 */
import type { Command } from 'commander';
import type { BackupEngine, BackupRecord } from '../../engine/index.js';
import { collectGarbageOnAnyDisk } from '../../engine/maintenance.js';
import { diskFromRestoredImage, type PolicyRunResult } from '../../services/backups.js';
import { openRuntime, type Runtime } from '../../runtime.js';
import { RbdError } from '../../engine/rbd/cli.js';
import { parseRbdImageName, RbdNameError, type RbdImageName } from '../../engine/rbd/names.js';
import { commonOptions, groupCommand, isoTime, leafCommand, printJson, printObject, printTable, snakeKeys, UsageError, type CommonOptions } from '../options.js';
import { addCopyToOption, addEngineOptions, engineSettingsOf, openEngine, type EngineValues } from '../engine-options.js';
import { progressReporter } from '../progress.js';
async function withEngine<T>(options: CommonOptions, values: EngineValues, work: (engine: BackupEngine, runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(options);
  try {
    const engine = await openEngine(runtime, options, values);
    try {
      return await work(engine, runtime);
    } finally {
      await engine.close();
    }
  } finally {
    await runtime.close();
  }
}

export function registerBackupCommands(program: Command): void {
  const backups = groupCommand(program, 'backups', 'the backups taken', ['dbp backups list --policy dbp_AbCdEfGh12345678']);
  addEngineOptions(
    leafCommand(backups, 'list', 'the backups taken, newest first', ['dbp backups list', 'dbp backups list --policy dbp_AbCdEfGh12345678 --json']),
  )
    .option('--policy <id>', "only this policy's backups")
    .action(async (flags: EngineValues & { policy?: string }, command: Command) => {
      const options = commonOptions(command);
      printBackups(options.json, await withEngine(options, flags, (engine) => engine.listBackups(flags.policy)));
    });

  addEngineOptions(
    leafCommand(program, 'restore', "write a backup's image (byte-exact, sparse) to a new file, a new RBD image, or a new disk of the backup's organization", [
      'dbp restore --backup bkp_AbCdEfGh12345678 --to /tmp/disk.img',
      'dbp restore --backup bkp_AbCdEfGh12345678 --to-rbd rbd/web-1-root-restored',
      'dbp restore --backup bkp_AbCdEfGh12345678 --new-disk "restored data"',
    ]),
  )
    .requiredOption('--backup <id>', 'the backup to restore (required)')
    .option('--to <path>', 'a new file to write the image to (refused if it exists)')
    .option('--to-rbd <pool/image>', 'a new Ceph RBD image to write the image to, thin (refused if it exists; docs/RBD.md)')
    .option('--new-disk <name>', "a new disk of the backup's organization, with this name")
    .action(async (flags: EngineValues & { backup: string; to?: string; toRbd?: string; newDisk?: string }, command: Command) => restore(commonOptions(command), flags));

  addEngineOptions(
    leafCommand(program, 'verify', 're-read and authenticate every chunk; names the backups a bad chunk affects (exit 1 when not clean)', [
      'dbp verify',
      'dbp verify --backup bkp_AbCdEfGh12345678 --json',
    ]),
  )
    .option('--backup <id>', 'only this backup (default: every backup)')
    .action(async (flags: EngineValues & { backup?: string }, command: Command) => verify(commonOptions(command), flags));

  const repair = groupCommand(program, 'repair', 'mend derived data of the backup repository', ['dbp repair index']);
  addEngineOptions(
    leafCommand(repair, 'index', "rebuild the repository's index from the packs' own tables and replace every index file (runs alone, like gc)", [
      'dbp repair index',
      'dbp repair index --json',
    ]),
  ).action(async (flags: EngineValues, command: Command) => {
    const options = commonOptions(command);
    const report = await withEngine(options, flags, (engine) => engine.repository.repairIndex());
    printObject(options.json, 'Index rebuilt from the packs', snakeKeys(report) as Record<string, unknown>);
  });

  addEngineOptions(leafCommand(program, 'gc', 'mend the catalogue after a crash, delete the chunks no backup uses', ['dbp gc --json'])).action(
    async (flags: EngineValues, command: Command) => {
      const options = commonOptions(command);
      const settings = engineSettingsOf(options, flags);
      const report = await collectGarbageOnAnyDisk(settings, () => withEngine(options, flags, (engine) => engine.collectGarbage()));
      printObject(options.json, 'Garbage collection', snakeKeys(report) as Record<string, unknown>);
    },
  );
}

/** `policy run ID`: registered with the other policy commands (see policies.ts). */
export function registerPolicyRun(policy: Command): void {
  addEngineOptions(addCopyToOption(
    leafCommand(policy, 'run', "back the policy's disks up now (recorded as a run); exit 1 when the run failed", [
      'dbp policy run dbp_AbCdEfGh12345678 --json',
    ]),
  ))
    .argument('<ID>', 'the policy')
    .action(async (id: string, flags: EngineValues, command: Command) => {
      const options = commonOptions(command);
      const interrupted = onInterrupt();
      let runId: string;
      let result: PolicyRunResult;
      try {
        ({ runId, result } = await withEngine(options, flags, async (engine) => {
          const progress = progressReporter('backup');
          const outcome = await engine.runPolicyNow(id, {
            onProgress: (p) => progress.update(p),
            signal: interrupted.signal,
            leaseSeconds: manualLeaseSeconds(),
          });
          progress.done();
          return outcome;
        }));
      } finally {
        interrupted.dispose();
      }
      if (interrupted.exitCode !== undefined) {
        // The run is recorded (failed, "cancelled: …"); the exit code says which signal ended it.
        process.stderr.write(`dbp policy run: ${result.error ?? 'cancelled'}; run ${runId} recorded as failed\n`);
        process.exitCode = interrupted.exitCode;
        return;
      }
      const backups = backupsOfRun(result);
      if (options.json) {
        printJson({ run_id: runId, status: result.status, error: result.error ?? null, backups });
      } else {
        printObject(false, `Run ${runId}: ${result.status}`, { run_id: runId, status: result.status, error: result.error ?? null });
        printTable(
          ['backup', 'disk', 'bytes_read', 'bytes_stored', 'duration_ms', 'live_read'],
          backups.map((b) => [b.id, b.disk_id, String(b.bytes_read), String(b.bytes_stored), String(b.duration_ms), String(b.live_read)]),
          'No backups taken.',
        );
      }
      if (result.status === 'failed') process.exitCode = 1;
    });
}

/**
 * SIGINT (Ctrl-C) and SIGTERM while a manual run works: the run is aborted and recorded as failed
 * with the reason before the process exits with 128 + the signal's number (130, 143). A second
 * signal, or a run that does not stop within a few seconds, ends the process at once; its run's
 * short lease then expires (see scheduler/manual-runs.ts).
 */
function onInterrupt(): { signal: AbortSignal; exitCode: number | undefined; dispose(): void } {
  const controller = new AbortController();
  const state = { signal: controller.signal, exitCode: undefined as number | undefined, dispose };
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const [name, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const handler = () => {
      if (state.exitCode !== undefined) process.exit(state.exitCode);
      state.exitCode = code;
      controller.abort(new Error(`interrupted by ${name}`));
      setTimeout(() => process.exit(code), INTERRUPT_GRACE_MS).unref();
    };
    handlers.set(name, handler);
    process.on(name, handler);
  }
  function dispose(): void {
    for (const [name, handler] of handlers) process.off(name, handler);
  }
  return state;
}

const INTERRUPT_GRACE_MS = 10_000;

/** The manual run's lease: DBP_RUN_LEASE_SECONDS (whole seconds ≥ 1), else the default of 60 s. */
function manualLeaseSeconds(): number | undefined {
  const value = process.env.DBP_RUN_LEASE_SECONDS;
  if (value === undefined || value === '') return undefined;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1) throw new UsageError(`DBP_RUN_LEASE_SECONDS must be a whole number of seconds ≥ 1 (got "${value}")`);
  return seconds;
}

/** Each backup a run took, in the CLI's snake_case. */
function backupsOfRun(result: PolicyRunResult) {
  return result.backups.map((b) => ({
    id: b.id,
    disk_id: b.diskId,
    bytes_read: b.bytesRead,
    bytes_stored: b.bytesStored,
    duration_ms: b.durationMs,
    live_read: b.liveRead,
  }));
}

async function restore(options: CommonOptions, flags: EngineValues & { backup: string; to?: string; toRbd?: string; newDisk?: string }): Promise<void> {
  const { backup: backupId, to, toRbd, newDisk } = flags;
  if ([to, toRbd, newDisk].filter((target) => target !== undefined).length !== 1) throw new UsageError('give exactly one of --to PATH, --to-rbd POOL/IMAGE and --new-disk NAME');
  if (toRbd !== undefined) return restoreToRbd(options, flags, backupId, toRbd);
  if (to !== undefined && to.trim() === '') throw new UsageError('--to needs a path');
  if (newDisk !== undefined && newDisk.trim() === '') throw new UsageError('--new-disk needs a name');
  await withEngine(options, flags, async (engine, runtime) => {
    const progress = progressReporter('restore');
    if (to !== undefined) {
      // Ctrl-C or SIGTERM stops the restore the way a failure does: writes finished, temporary file removed, exit 1.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      let backup: BackupRecord;
      try {
        backup = await engine.restoreToPath(backupId, to, { signal: stop.signal, onProgress: (p) => progress.update(p) });
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
      progress.done();
      printObject(options.json, `Restored ${backup.id} to ${to}`, { backup: backup.id, path: to, bytes: backup.disk_size_bytes });
      return;
    }
    const backup = await engine.findBackup(backupId);
    const imagePath = await engine.restoreToNewImage(backupId, (p) => progress.update(p));
    progress.done();
    const disk = await diskFromRestoredImage(runtime.services.inventory, backup, newDisk!, imagePath, runtime.services.clock.now());
    printObject(options.json, `Restored ${backup.id} to a new disk`, { backup: backup.id, disk: disk.id, name: disk.name, image: imagePath });
  });
}

async function restoreToRbd(options: CommonOptions, flags: EngineValues, backupId: string, target: string): Promise<void> {
  let image: RbdImageName;
  try {
    image = parseRbdImageName(target);
  } catch (error) {
    if (error instanceof RbdNameError) throw new UsageError(`--to-rbd ${error.message}`);
    throw error;
  }
  await withEngine(options, flags, async (engine) => {
    const progress = progressReporter('restore');
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    let backup: BackupRecord;
    try {
      backup = await engine.restoreToRbd(backupId, image, { signal: stop.signal, onProgress: (p) => progress.update(p) });
    } catch (error) {
      if (error instanceof RbdError) throw new UsageError(`--to-rbd ${target}: ${error.message}`);
      throw error;
    } finally {
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    }
    progress.done();
    printObject(options.json, `Restored ${backup.id} to RBD image ${target}`, { backup: backup.id, rbd: target, bytes: backup.disk_size_bytes });
  });
}

async function verify(options: CommonOptions, flags: EngineValues & { backup?: string }): Promise<void> {
  const report = await withEngine(options, flags, async (engine) => {
    const progress = progressReporter('verify');
    const result = await engine.verify(flags.backup, (p) => progress.update(p));
    progress.done();
    return result;
  });
  if (options.json) {
    printJson(snakeKeys(report));
  } else {
    process.stdout.write(`Checked ${report.backupsChecked} backups, ${report.chunksChecked} chunks: ${report.ok ? 'all good' : 'PROBLEMS FOUND'}\n`);
    for (const chunk of report.badChunks) process.stdout.write(`  chunk ${chunk.chunkId} ${chunk.problem}: ${chunk.detail}\n`);
    for (const manifest of report.badManifests) process.stdout.write(`  backup ${manifest.backupId}: ${manifest.detail}\n`);
    for (const problem of report.indexProblems) process.stdout.write(`  ${problem.file ?? 'index'}: ${problem.detail} (rebuilt from the packs)\n`);
    if (!report.ok) process.stdout.write(`Backups affected: ${report.affectedBackups.join(', ')}\n`);
  }
  if (!report.ok) process.exitCode = 1;
}

function printBackups(json: boolean, backups: BackupRecord[]): void {
  if (json) {
    printJson(backups.map(({ pk: _pk, ...backup }) => backup));
    return;
  }
  const rows = backups.map((b) => [
    b.id, b.policy_id, b.disk_id, isoTime(b.created_at), String(b.disk_size_bytes), String(b.new_stored_bytes), b.consistency,
    // The last verification: "ok 2026-12-07T04:00:00Z", "FAILED …", or "never".
    b.verified_at === null ? 'never' : `${b.verify_outcome === 'failed' ? 'FAILED' : 'ok'} ${isoTime(b.verified_at)}`,
  ]);
  printTable(['id', 'policy', 'disk', 'created_at', 'disk_bytes', 'new_stored_bytes', 'consistency', 'last_verified'], rows, 'No backups.');
}
