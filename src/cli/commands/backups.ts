/**
 * The backup engine's commands: `backups list`, `restore`, `verify`, `policy run`, `gc`.
 * Each opens the runtime and the repository (see src/engine/index.ts for the passphrase rules).
 */
import type { BackupEngine, BackupRecord } from '../../engine/index.js';
import { diskFromRestoredImage } from '../../services/backups.js';
import { openRuntime, type Runtime } from '../../runtime.js';
import { commonOptions, parseCommand, printObject, requireString, UsageError, type CommonOptions } from '../options.js';
import { ENGINE_OPTIONS, openEngine, type EngineValues } from '../engine-options.js';
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

function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
}

export async function backupsCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action !== 'list') throw new UsageError(`usage: dbp backups list [--policy ID]  (got "${action ?? ''}")`);
  const { values, positionals } = parseCommand(rest, { ...ENGINE_OPTIONS, policy: { type: 'string' } });
  noPositionals(positionals);
  const options = commonOptions(values);
  const backups = await withEngine(options, values, (engine) => engine.listBackups(values.policy as string | undefined));
  printBackups(options.json, backups);
}

export async function restoreCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, { ...ENGINE_OPTIONS, backup: { type: 'string' }, to: { type: 'string' }, 'new-disk': { type: 'string' } });
  noPositionals(positionals);
  const options = commonOptions(values);
  const backupId = requireString(values.backup, 'backup');
  const to = values.to as string | undefined;
  const newDisk = values['new-disk'] as string | undefined;
  if ((to === undefined) === (newDisk === undefined)) throw new UsageError('give exactly one of --to PATH and --new-disk NAME');
  if (newDisk !== undefined && newDisk.trim() === '') throw new UsageError('--new-disk needs a name');
  await withEngine(options, values, async (engine, runtime) => {
    const progress = progressReporter('restore');
    if (to !== undefined) {
      const backup = await engine.restoreToPath(backupId, to, (p) => progress.update(p));
      progress.done();
      printObject(options.json, `Restored ${backup.id} to ${to}`, { backup: backup.id, path: to, bytes: backup.disk_size_bytes });
      return;
    }
    const backup = await engine.findBackup(backupId);
    const imagePath = await engine.restoreToNewImage(backupId, (p) => progress.update(p));
    progress.done();
    const disk = await diskFromRestoredImage(runtime.services.inventory, backup, newDisk!, imagePath);
    printObject(options.json, `Restored ${backup.id} to a new disk`, { backup: backup.id, disk: disk.id, name: disk.name, image: imagePath });
  });
}

export async function verifyCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, { ...ENGINE_OPTIONS, backup: { type: 'string' } });
  noPositionals(positionals);
  const options = commonOptions(values);
  const report = await withEngine(options, values, async (engine) => {
    const progress = progressReporter('verify');
    const result = await engine.verify(values.backup as string | undefined, (p) => progress.update(p));
    progress.done();
    return result;
  });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`Checked ${report.backupsChecked} backups, ${report.chunksChecked} chunks: ${report.ok ? 'all good' : 'PROBLEMS FOUND'}\n`);
    for (const chunk of report.badChunks) process.stdout.write(`  chunk ${chunk.chunkId} ${chunk.problem}: ${chunk.detail}\n`);
    for (const manifest of report.badManifests) process.stdout.write(`  backup ${manifest.backupId}: ${manifest.detail}\n`);
    if (!report.ok) process.stdout.write(`Backups affected: ${report.affectedBackups.join(', ')}\n`);
  }
  if (!report.ok) process.exitCode = 1;
}

export async function policyCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action !== 'run') throw new UsageError(`usage: dbp policy run ID  (got "${action ?? ''}")`);
  const { values, positionals } = parseCommand(rest, ENGINE_OPTIONS);
  if (positionals.length !== 1) throw new UsageError('usage: dbp policy run ID');
  const options = commonOptions(values);
  const { runId, result } = await withEngine(options, values, async (engine) => {
    const progress = progressReporter('backup');
    const outcome = await engine.runPolicyNow(positionals[0]!, (p) => progress.update(p));
    progress.done();
    return outcome;
  });
  printObject(options.json, `Run ${runId}: ${result.status}`, { run: runId, status: result.status, error: result.error ?? null });
  if (result.status === 'failed') process.exitCode = 1;
}

export async function gcCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, ENGINE_OPTIONS);
  noPositionals(positionals);
  const options = commonOptions(values);
  const report = await withEngine(options, values, (engine) => engine.collectGarbage());
  printObject(options.json, 'Garbage collection', { ...report });
}

function printBackups(json: boolean, backups: BackupRecord[]): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(backups.map(({ pk: _pk, ...backup }) => backup), null, 2)}\n`);
    return;
  }
  if (backups.length === 0) {
    process.stdout.write('No backups.\n');
    return;
  }
  const time = (at: number) => new Date(at * 1000).toISOString().replace('.000Z', 'Z');
  const rows = backups.map((b) => [b.id, b.policy_id, b.disk_id, time(b.created_at), String(b.disk_size_bytes), String(b.new_stored_bytes), b.consistency]);
  const header = ['id', 'policy', 'disk', 'created_at', 'disk_bytes', 'new_stored_bytes', 'consistency'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()}\n`);
}
