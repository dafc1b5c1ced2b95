/**
 * The backup engine: what a policy's run does. For each target disk it reads a point-in-time view
 * of the disk's image into the repository, then records the backup in the catalogue (`backups`);
 * after the run it keeps the newest `retention` backups per disk, forgets the rest in the
 * repository, and sets the policy's `total_size` to the stored bytes its remaining backups use.
 *
 * The repository's manifests are the truth about backups; the catalogue follows them and
 * `reconcile` mends it after a crash:
 * - a catalogue row is written only after its manifest is durable, and a pruned backup's manifest is
 *   forgotten before its row is deleted, so a row whose manifest is missing was being pruned: delete it;
 * - a manifest with no row was being recorded (adopt it, when its policy still exists) or belongs
 *   to a policy purged from the trash, whose rows went with it (forget it).
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { backupsToPrune } from '../domain/retention.js';
import type { BackupRunner, ClaimedRun, RunResult } from '../scheduler/runner.js';
import { BackupCatalogue, type BackupOperations, type PolicyRunResult, type TakenBackup } from '../services/backups.js';
import { recordVerifications, type VerificationResult } from '../services/verifications.js';
import type { Backup, Database, RunCopy } from '../store/schema.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { diskImage, managedImagePath, pointInTimeView, type Consistency } from './disk-sources.js';
import { backUpRbdDisk, type RbdBackupOutcome } from './rbd/backup.js';
import { prepareGroupSnapshot, reconcileGroupSnapshots, serviceGroups, type PreparedDisk } from './rbd/group.js';
import { reconcileDiskSnapshots } from './rbd/snapshots.js';
import { formatRbdImageName, rbdImageOfPath, rbdImagePath, type RbdImageName } from './rbd/names.js';
import { rbdCreateImage, rbdRemoveImage } from './rbd/cli.js';
import { RbdImageWriter } from './rbd/io.js';
import { DEFAULT_MANUAL_LEASE_SECONDS, finishManualRun, renewManualRun, startManualRun } from '../scheduler/manual-runs.js';
import { isStoreUnavailable, storeUnreachableError } from '../scheduler/store-outage.js';
import { isTransientDatabaseError } from '../scheduler/transient-errors.js';
import type { Engine } from '../store/database.js';
import { backupRestoredEvent, recordEvents, verifyFailedEvent } from '../webhooks/events.js';
import type { BackupResult, BackupSummary, GcReport, ProgressListener, Repository, VerifyReport } from './repository/index.js';

export interface BackupEngineOptions {
  readonly db: Kysely<Database>;
  readonly repository: Repository;
  readonly clock: Clock;
  /** The service's data directory: images of disks it manages, scratch space for clones. */
  readonly dataDir: string;
  readonly logger?: Logger | false;
  /** The database's engine (for the write transaction that starts a manual run); SQLite by default. */
  readonly engine?: Engine;
  /** A second repository (`--copy-to`): a succeeded run's backups are copied there, and the run records how that went. */
  readonly copyTo?: Repository;
  /** Where runs and verifications are reported (the process's metrics); nowhere when absent. */
  readonly metrics?: EngineMetrics;
}

/** What the engine reports to the process's metrics (src/metrics implements it). */
export interface EngineMetrics {
  /** A run the engine finished (scheduled or manual): how long it took, bytes read from its disks and newly stored. */
  observeRun(run: { status: RunResult['status']; durationSeconds: number; bytesRead: number; bytesStored: number }): void;
  /** A verification that completed: `ok`, or `failed` when it found damage. */
  countVerify(outcome: 'ok' | 'failed'): void;
}

/** A catalogue row, as the CLI and the API show it. */
export type BackupRecord = Backup;

export interface CatalogueVerifyReport extends Omit<VerifyReport, 'bytesByBackup'> {
  /** Catalogue ids of the backups a bad chunk or manifest affects. */
  readonly affectedBackups: readonly string[];
}

const TAGS = { policy: 'policy_id', disk: 'disk_id', run: 'run_id', backup: 'backup_id' } as const;

export class BackupEngine implements BackupRunner, BackupOperations {
  private readonly catalogue: BackupCatalogue;

  constructor(private readonly options: BackupEngineOptions) {
    this.catalogue = new BackupCatalogue(options.db);
  }

  get repository(): Repository {
    return this.options.repository;
  }

  /** A local repository's directory (its file-system failures are told by their paths); undefined for other stores. */
  get repositoryPath(): string | undefined {
    const location = this.options.repository.location;
    return location.type === 'local' ? location.path : undefined;
  }

  /** The scheduler's runner: backs up every target disk of the run, then applies retention. */
  async run(run: ClaimedRun, signal: AbortSignal): Promise<RunResult> {
    return this.backupPolicy(run.policyId, run.targetDiskIds, run.id, run.resumed, signal);
  }

  /**
   * Runs a policy now, outside its schedule, recorded as a run like a scheduled one (its scheduled
   * instant is the clock's now); answers the run and each backup it took. Refused with
   * `RunInProgress` while the policy has an unfinished run (see scheduler/manual-runs.ts). The run
   * holds a short lease, renewed while it works, and ends recorded on every path this process sees:
   * succeeded or failed, `failed` with the reason when `signal` aborts it (Ctrl-C, SIGTERM) or it
   * throws. A process killed outright leaves a lease that expires within `leaseSeconds`.
   */
  async runPolicyNow(
    policyId: string,
    options: { onProgress?: ProgressListener; onStarted?: (runId: string) => void; signal?: AbortSignal; leaseSeconds?: number } = {},
  ): Promise<{ runId: string; result: PolicyRunResult }> {
    const { db, clock } = this.options;
    const engine = this.options.engine ?? 'sqlite';
    const leaseSeconds = Math.max(1, options.leaseSeconds ?? DEFAULT_MANUAL_LEASE_SECONDS);
    const policy = await db.selectFrom('disk_backup_policies').selectAll().where('id', '=', policyId).executeTakeFirst();
    if (!policy) throw new Error(`No disk backup policy ${policyId}`);
    const diskIds = await this.targetDisks(policy.target_type, policy.target_id);
    const run = await startManualRun(db, engine, { id: policy.id, organizationId: policy.organization_id, targetDiskIds: diskIds }, clock.now(), leaseSeconds);
    options.onStarted?.(run.id);
    const controller = new AbortController();
    const abort = () => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    const renewal = setInterval(() => {
      renewManualRun(db, run, clock.now() + leaseSeconds).then(
        (held) => {
          if (!held) controller.abort(new Error('the run was finished by another process (its lease had expired)'));
        },
        (error: unknown) => this.log('warn', { runId: run.id, err: error }, 'could not renew the lease of a manual run; trying again'),
      );
    }, (leaseSeconds * 1000) / 3);
    let result: PolicyRunResult;
    try {
      result = await this.backupPolicy(policy.id, diskIds, run.id, false, controller.signal, options.onProgress);
    } catch (error) {
      // A manual run is never retried (a person is waiting): an unreachable store fails it at once, saying so.
      if (isStoreUnavailable(error)) result = { status: 'failed', error: storeUnreachableError(error), liveRead: false, backups: [], storeUnreachable: true };
      else result = { status: 'failed', error: (error as Error)?.message ?? String(error), liveRead: false, backups: [] };
    } finally {
      clearInterval(renewal);
      options.signal?.removeEventListener('abort', abort);
    }
    if (controller.signal.aborted) {
      const reason = (controller.signal.reason as Error | undefined)?.message ?? 'aborted';
      result = { ...result, status: 'failed', error: `cancelled: ${reason}${result.error ? ` (${result.error})` : ''}` };
    }
    await finishManualRun(db, engine, run, { status: result.status, error: result.error ?? null, liveRead: result.liveRead === true, finishedAt: clock.now() });
    return { runId: run.id, result };
  }

  /** Backs up the policy's disks (see backupDisks) and reports the run to the metrics. */
  private async backupPolicy(...args: Parameters<typeof this.backupDisks>): Promise<PolicyRunResult> {
    const started = performance.now();
    const result = await this.backupDisks(...args);
    // A run that throws (a transient database error) is given back and tried again: not reported.
    this.options.metrics?.observeRun({
      status: result.status,
      durationSeconds: (performance.now() - started) / 1000,
      bytesRead: result.backups.reduce((sum, backup) => sum + backup.bytesRead, 0),
      bytesStored: result.backups.reduce((sum, backup) => sum + backup.bytesStored, 0),
    });
    return result;
  }

  private async backupDisks(
    policyId: string,
    diskIds: readonly string[],
    runId: string,
    resumed: boolean,
    signal: AbortSignal,
    onProgress?: ProgressListener,
  ): Promise<PolicyRunResult> {
    // A resumed run does not take again what an earlier attempt of it completed.
    const earlier = resumed ? await this.backupsOfRun(policyId, runId) : new Map<string, TakenBackup>();
    const group = await this.groupSnapshot(policyId, diskIds.filter((diskId) => !earlier.has(diskId)), runId);
    try {
      return await this.backupEachDisk(policyId, diskIds, runId, signal, earlier, group?.prepared, onProgress);
    } finally {
      await group?.release().catch((error: unknown) => this.log('warn', { policyId, runId, err: error }, 'could not remove the group snapshot of a run; the next reconcile tries again'));
    }
  }

  /**
   * A virtual machine's run whose disks (two or more) are all on RBD: their images snapshotted at one
   * instant (a group snapshot, rbd/backup.ts prepareGroupSnapshot). Otherwise, or when the group
   * snapshot cannot be made (said in the log), each disk gets its own snapshot as it is backed up.
   */
  private async groupSnapshot(policyId: string, diskIds: readonly string[], runId: string) {
    const { db, clock } = this.options;
    if (diskIds.length < 2) return undefined;
    const policy = await db.selectFrom('disk_backup_policies').select(['target_type', 'target_id']).where('id', '=', policyId).executeTakeFirst();
    if (policy?.target_type !== 'VirtualMachine') return undefined;
    const rows = await db.selectFrom('disks').select(['id', 'image_path']).where('id', 'in', [...diskIds]).execute();
    const disks = rows.map((row) => ({ diskId: row.id, image: row.image_path ? rbdImageOfPath(row.image_path) : undefined, backupId: newId('backup') }));
    if (disks.length !== diskIds.length || disks.some((disk) => disk.image === undefined)) return undefined;
    try {
      return await prepareGroupSnapshot(db, policy.target_id, runId, clock.now(), disks as { diskId: string; image: RbdImageName; backupId: string }[]);
    } catch (error) {
      this.log('warn', { policyId, runId, err: error }, "could not snapshot the machine's RBD disks together; each disk gets its own snapshot");
      return undefined;
    }
  }

  private async backupEachDisk(
    policyId: string,
    diskIds: readonly string[],
    runId: string,
    signal: AbortSignal,
    earlier: Map<string, TakenBackup>,
    prepared: Map<string, PreparedDisk> | undefined,
    onProgress?: ProgressListener,
  ): Promise<PolicyRunResult> {
    const failures: string[] = [];
    const backups: TakenBackup[] = [];
    // Progress over the whole run: the bytes of the disks before this one, plus this one's.
    let bytesBefore = 0;
    let diskTotal = 0;
    const runProgress: ProgressListener | undefined =
      onProgress &&
      ((progress) => {
        diskTotal = progress.bytesTotal;
        onProgress({ bytesDone: bytesBefore + progress.bytesDone, bytesTotal: bytesBefore + progress.bytesTotal });
      });
    for (const diskId of diskIds) {
      bytesBefore += diskTotal;
      diskTotal = 0;
      if (signal.aborted) {
        failures.push(`${diskId}: not backed up (${(signal.reason as Error | undefined)?.message ?? 'aborted'})`);
        continue;
      }
      const done = earlier.get(diskId);
      if (done) {
        backups.push(done);
        continue;
      }
      try {
        backups.push(await this.backupDisk(policyId, diskId, runId, signal, runProgress, prepared?.get(diskId)));
      } catch (error) {
        // Not the disk's fault: the run is given back and tried again (see the scheduler), at once after
        // a database error, after a backoff when the repository's store is unreachable.
        if (isTransientDatabaseError(error) || isStoreUnavailable(error)) throw error;
        failures.push(`${diskId}: ${(error as Error).message}`);
        this.log('warn', { policyId, diskId, runId, err: error }, 'disk backup failed');
      }
    }
    // Retention is the run's last step; a run cut short leaves it to the policy's next run.
    if (!signal.aborted) await this.applyRetention(policyId);
    // A backup read live is a backup all the same: the run says so in `liveRead`, not in its error.
    const liveRead = backups.some((backup) => backup.liveRead);
    if (failures.length > 0) return { status: 'failed', error: failures.join('; '), liveRead, backups };
    if (!signal.aborted) await this.copyRun(runId, signal);
    return { status: 'succeeded', error: null, liveRead, backups };
  }

  /**
   * The second copy (`copyTo`): the run's backups (found by their run_id tag, so a resumed run's
   * earlier ones too) copied to the other repository. A failed copy does not fail the run: its
   * backups stand in this repository, and the run's `copy` says what went wrong.
   */
  private async copyRun(runId: string, signal: AbortSignal): Promise<void> {
    const target = this.options.copyTo;
    if (!target) return;
    let copy: RunCopy;
    try {
      const report = await this.options.repository.copyTo(target, { tags: { [TAGS.run]: runId }, signal });
      const error = report.failed.map((failure) => `${failure.backupId}: ${failure.message}`).join('; ');
      copy = { to: target.description, backups_copied: report.copied.length, chunks_sent: report.chunksSent, bytes_sent: report.bytesSent, error: error || null };
    } catch (error) {
      copy = { to: target.description, backups_copied: 0, chunks_sent: 0, bytes_sent: 0, error: (error as Error)?.message ?? String(error) };
    }
    if (copy.error) this.log('warn', { runId, copy }, 'second copy failed; the run\'s backups stand');
    await this.options.db.updateTable('backup_runs').set({ copy: JSON.stringify(copy) }).where('id', '=', runId).execute();
  }

  /**
   * Backs up one disk into the repository and records it in the catalogue. Its `created_at` is the
   * wall-clock second its manifest became durable (the repository's own stamp), never the injected
   * clock: a run for a simulated instant (`run-due --now`) keeps that instant as its `scheduled_at`.
   */
  private async backupDisk(policyId: string, diskId: string, runId: string, signal: AbortSignal, onProgress?: ProgressListener, prepared?: PreparedDisk): Promise<TakenBackup> {
    const { db, dataDir, repository, clock } = this.options;
    const started = performance.now();
    const image = await diskImage(db, dataDir, diskId);
    const id = prepared?.backupId ?? newId('backup');
    const tags = { [TAGS.policy]: policyId, [TAGS.disk]: diskId, [TAGS.run]: runId, [TAGS.backup]: id };
    const rbdImage = rbdImageOfPath(image.path);
    let taken: { result: BackupResult; bytesRead: number; consistency: Consistency; rbd?: RbdBackupOutcome };
    if (rbdImage) {
      const rbd = await backUpRbdDisk(db, repository, { image: rbdImage, diskId, runId, backupId: id, now: clock.now(), tags, signal, onProgress, prepared });
      taken = { result: rbd.result, bytesRead: rbd.result.bytesRead, consistency: 'snapshot', rbd };
    } else {
      const view = await pointInTimeView(image.path, `${dataDir}/scratch`);
      try {
        const result = await repository.backup({ sourcePath: view.path, tags, signal, ...(onProgress ? { onProgress } : {}) });
        taken = { result, bytesRead: result.diskSize, consistency: view.consistency };
      } finally {
        await view.release();
      }
    }
    const { result, consistency, rbd } = taken;
    const liveRead = consistency === 'live';
    const row = {
      id,
      organization_id: image.organizationId,
      policy_id: policyId,
      disk_id: diskId,
      run_id: runId,
      repository_backup_id: result.id,
      created_at: result.createdAt,
      disk_size_bytes: result.diskSize,
      new_stored_bytes: result.newStoredBytes,
      consistency,
      live_read: liveRead ? 1 : 0,
      source_snapshot: rbd?.snapshot ?? null,
      read_mode: rbd?.readMode ?? null,
      base_backup_id: rbd?.baseBackupId ?? null,
      read_note: rbd?.note ?? null,
      snapshot_group: rbd?.snapshotGroup ?? null,
    } as const;
    // Reconcile (another process) may have adopted it from its manifest a moment ago: then it gets the RBD facts here.
    await db.insertInto('backups').values(row).onConflict((oc) => oc.doNothing()).execute();
    if (rbd) {
      await db.updateTable('backups').set({ source_snapshot: row.source_snapshot, read_mode: row.read_mode, base_backup_id: row.base_backup_id, read_note: row.read_note, snapshot_group: row.snapshot_group, consistency, live_read: 0 }).where('repository_backup_id', '=', result.id).execute();
    }
    const recorded = await db.selectFrom('backups').select('id').where('repository_backup_id', '=', result.id).executeTakeFirstOrThrow();
    const durationMs = Math.round(performance.now() - started);
    const rbdFields = rbd ? { snapshot: rbd.snapshot, snapshotGroup: rbd.snapshotGroup, readMode: rbd.readMode, baseBackupId: rbd.baseBackupId, chunksRead: rbd.result.chunksRead, ...(rbd.note ? { note: rbd.note } : {}) } : {};
    this.log('info', { policyId, diskId, runId, backupId: recorded.id, bytes: result.diskSize, bytesRead: taken.bytesRead, newStoredBytes: result.newStoredBytes, consistency, durationMs, ...rbdFields }, 'disk backed up');
    // The new snapshot is now the disk's base: the one before it goes.
    if (rbdImage) await this.removeUnneededSnapshots(diskId, rbdImage, runId);
    return { id: recorded.id, diskId, bytesRead: taken.bytesRead, bytesStored: result.newStoredBytes, durationMs, liveRead };
  }

  /** Snapshots of the disk's RBD image that nothing needs any more, removed; a failure is logged (the next reconcile retries). */
  private async removeUnneededSnapshots(diskId: string, image: RbdImageName, ownRun?: string): Promise<void> {
    try {
      const removed = await reconcileDiskSnapshots(this.options.db, diskId, image, this.options.clock.now(), ownRun);
      if (removed.length > 0) this.log('info', { diskId, image: formatRbdImageName(image), removed }, 'RBD snapshots no backup needs removed');
    } catch (error) {
      this.log('warn', { diskId, image: formatRbdImageName(image), err: error }, 'could not remove RBD snapshots no backup needs; the next reconcile tries again');
    }
  }

  /**
   * Every RBD disk's image: this service's snapshots that no backup or unfinished run needs, removed
   * (after a crash, kill -9). The worker does it when it starts; each RBD backup does it for its disk.
   */
  async reconcileSnapshots(): Promise<void> {
    const disks = await this.options.db.selectFrom('disks').select(['id', 'image_path']).where('image_path', 'like', 'rbd:%').execute();
    const pools = new Set<string>();
    for (const disk of disks) {
      const image = rbdImageOfPath(disk.image_path!);
      if (!image) continue;
      pools.add(image.pool);
      await this.removeUnneededSnapshots(disk.id, image);
    }
    // Group snapshots of runs that are over (a run removes its own when done; a killed one cannot).
    for (const pool of pools) {
      try {
        for (const group of await serviceGroups(pool)) await reconcileGroupSnapshots(this.options.db, pool, group, this.options.clock.now());
      } catch (error) {
        this.log('warn', { pool, err: error }, 'could not remove group snapshots no run needs; the next reconcile tries again');
      }
    }
  }

  /**
   * The backups an earlier attempt of the run completed, by disk: its catalogue rows, and manifests
   * tagged with the run that never got their row (the attempt stopped between the two), which are
   * recorded now. Only a resumed run looks (reading every manifest's header is not free).
   */
  private async backupsOfRun(policyId: string, runId: string): Promise<Map<string, TakenBackup>> {
    const { db, repository } = this.options;
    const taken = new Map<string, TakenBackup>();
    const summaries = (await repository.listBackups()).filter((summary) => summary.tags[TAGS.run] === runId && summary.tags[TAGS.disk]);
    const policy = await db.selectFrom('disk_backup_policies').select(['id', 'organization_id']).where('id', '=', policyId).executeTakeFirst();
    if (!policy) return taken;
    for (const summary of summaries) {
      await recordAdoptedManifest(db, policy, summary, summary.tags[TAGS.disk]!, runId, summary.createdAt);
    }
    const rows = await db.selectFrom('backups').selectAll().where('run_id', '=', runId).orderBy('pk').execute();
    for (const row of rows) {
      if (taken.has(row.disk_id)) continue;
      taken.set(row.disk_id, { id: row.id, diskId: row.disk_id, bytesRead: row.disk_size_bytes, bytesStored: 0, durationMs: 0, liveRead: Number(row.live_read) === 1 });
    }
    if (taken.size > 0) this.log('info', { policyId, runId, disks: [...taken.keys()] }, 'resumed run: backups an earlier attempt completed are not taken again');
    return taken;
  }

  private async targetDisks(targetType: string, targetId: string): Promise<string[]> {
    if (targetType === 'Disk') return [targetId];
    const rows = await this.options.db.selectFrom('virtual_machine_disks').select('disk_id').where('virtual_machine_id', '=', targetId).orderBy('disk_id').execute();
    return rows.map((row) => row.disk_id);
  }

  /** Keeps the newest `retention` backups per disk of the policy; forgets the rest; refreshes `total_size`. */
  async applyRetention(policyId: string): Promise<void> {
    const { db, repository } = this.options;
    const policy = await db.selectFrom('disk_backup_policies').select(['id', 'retention']).where('id', '=', policyId).executeTakeFirst();
    if (!policy) return;
    const rows = await db.selectFrom('backups').selectAll().where('policy_id', '=', policyId).execute();
    const prune = backupsToPrune(
      rows.map((row) => ({ ...row, diskId: row.disk_id, createdAt: row.created_at, sequence: row.pk })),
      policy.retention,
    );
    if (prune.length > 0) {
      // Manifests first: a crash between leaves rows whose manifest is gone, which reconcile deletes.
      await repository.forget(prune.map((row) => row.repository_backup_id));
      await db.deleteFrom('backups').where('id', 'in', prune.map((row) => row.id)).execute();
    }
    await this.refreshTotalSize(policyId);
  }

  async refreshTotalSize(policyId: string): Promise<void> {
    const { db, repository } = this.options;
    const remaining = await db.selectFrom('backups').select('repository_backup_id').where('policy_id', '=', policyId).execute();
    const bytes = await repository.storedBytes(remaining.map((row) => row.repository_backup_id));
    await db.updateTable('disk_backup_policies').set({ total_size_bytes: bytes }).where('id', '=', policyId).where('total_size_bytes', '!=', bytes).execute();
  }

  listBackups(policyId?: string): Promise<BackupRecord[]> {
    return this.catalogue.list(policyId);
  }

  async findBackup(backupId: string): Promise<BackupRecord> {
    const row = await this.catalogue.find(backupId);
    if (!row) throw new BackupNotInCatalogue(backupId);
    return row;
  }

  /**
   * Restores the backup's image to `toPath`; a restore that completes is announced to the
   * organization's webhooks (`backup.restored`, target the file) unless `announce` is false (a
   * restore into a new disk is announced with the disk, in the transaction that makes it).
   */
  async restoreToPath(
    backupId: string,
    toPath: string,
    options: { onProgress?: ProgressListener; signal?: AbortSignal; announce?: boolean } = {},
  ): Promise<BackupRecord> {
    const backup = await this.findBackup(backupId);
    await this.options.repository.restore(backup.repository_backup_id, {
      toPath,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (options.announce !== false) {
      await recordEvents(this.options.db, [backupRestoredEvent(backup.organization_id, backup, { type: 'file', path: toPath }, this.options.clock.now())]);
    }
    return backup;
  }

  /**
   * Restores the backup into a new RBD image of the backup's size (thin: its all-zero chunks are not
   * written); announced like a restore to a file unless `announce` is false. A restore that fails
   * removes the image it made; an image that exists already is refused (RbdError image_exists).
   */
  async restoreToRbd(
    backupId: string,
    image: RbdImageName,
    options: { onProgress?: ProgressListener; signal?: AbortSignal; announce?: boolean } = {},
  ): Promise<BackupRecord> {
    const backup = await this.findBackup(backupId);
    const summary = await this.options.repository.getBackup(backup.repository_backup_id);
    await rbdCreateImage(image, summary.diskSize);
    const writer = RbdImageWriter.open(image);
    try {
      await this.options.repository.readImage(backup.repository_backup_id, (position, bytes) => writer.write(position, bytes), {
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await writer.finish();
    } catch (error) {
      await writer.abort();
      await rbdRemoveImage(image).catch((removeError: unknown) => this.log('warn', { image: formatRbdImageName(image), err: removeError }, 'could not remove the RBD image of a failed restore'));
      throw error;
    }
    if (options.announce !== false) {
      await recordEvents(this.options.db, [backupRestoredEvent(backup.organization_id, backup, { type: 'rbd', image: formatRbdImageName(image) }, this.options.clock.now())]);
    }
    return backup;
  }

  /**
   * Restores the backup into a new image for a new disk; answers the disk's `image_path`. The backup
   * of an RBD disk goes into a new RBD image in the same pool (`dbp-restored-<backup>-<random>`),
   * any other into an image file under the data directory.
   */
  async restoreToNewImage(backupId: string, onProgress?: ProgressListener): Promise<string> {
    const backup = await this.findBackup(backupId);
    const source = await this.options.db.selectFrom('disks').select('image_path').where('id', '=', backup.disk_id).executeTakeFirst();
    const sourceImage = source?.image_path ? rbdImageOfPath(source.image_path) : undefined;
    if (sourceImage) {
      const image = { pool: sourceImage.pool, image: `dbp-restored-${backupId}-${randomBytes(4).toString('hex')}` };
      await this.restoreToRbd(backupId, image, { announce: false, ...(onProgress ? { onProgress } : {}) });
      return rbdImagePath(image);
    }
    const imagePath = managedImagePath(this.options.dataDir, `restored-${backupId}-${randomBytes(4).toString('hex')}`);
    mkdirSync(dirname(imagePath), { recursive: true });
    await this.restoreToPath(backupId, imagePath, { announce: false, ...(onProgress ? { onProgress } : {}) });
    return imagePath;
  }

  /**
   * Re-reads and authenticates the backups (one, or every backup in the catalogue), records each
   * one's result as its last verification (services/verifications.ts) and counts it in the metrics.
   * Backups found damaged are announced to their organizations' webhooks (`verify.failed`, one event
   * per organization naming its affected backups). Every verification goes through here, whoever
   * asked for it: `dbp verify`, the API's verify endpoint and the worker's verification scheduler
   * (src/verification/). `signal` stops it; nothing is recorded or announced then.
   */
  async verify(backupId?: string, onProgress?: ProgressListener, signal?: AbortSignal): Promise<CatalogueVerifyReport> {
    const { repository } = this.options;
    const rows = backupId === undefined ? await this.catalogue.list() : [await this.findBackup(backupId)];
    const { bytesByBackup, ...report } = await repository.verify({
      backupIds: rows.map((row) => row.repository_backup_id),
      ...(onProgress ? { onProgress } : {}),
      ...(signal ? { signal } : {}),
    });
    const catalogueId = new Map(rows.map((row) => [row.repository_backup_id, row.id]));
    const affected = new Set<string>();
    for (const chunk of report.badChunks) for (const id of chunk.backupIds) affected.add(catalogueId.get(id) ?? id);
    for (const manifest of report.badManifests) affected.add(catalogueId.get(manifest.backupId) ?? manifest.backupId);
    await recordVerifications(this.options.db, rows.map((row) => verificationOf(row, affected.has(row.id), report, bytesByBackup)), this.options.clock.now());
    this.options.metrics?.countVerify(report.ok ? 'ok' : 'failed');
    if (affected.size > 0) await this.announceVerifyFailure(rows.filter((row) => affected.has(row.id)), report);
    return { ...report, affectedBackups: [...affected].sort() };
  }

  private async announceVerifyFailure(affected: readonly BackupRecord[], report: Omit<VerifyReport, 'bytesByBackup'>): Promise<void> {
    const byOrganization = new Map<string, BackupRecord[]>();
    for (const row of affected) byOrganization.set(row.organization_id, [...(byOrganization.get(row.organization_id) ?? []), row]);
    const findings = { chunksChecked: report.chunksChecked, badChunks: report.badChunks.length, badManifests: report.badManifests.length };
    const now = this.options.clock.now();
    const events = [...byOrganization].map(([organizationId, backups]) => verifyFailedEvent(organizationId, backups, findings, now));
    await recordEvents(this.options.db, events);
  }

  /** Mends the catalogue after a crash (see the module comment). Answers what it changed. */
  async reconcile(): Promise<{ adopted: number; forgotten: number; rowsDeleted: number }> {
    const { db, repository, clock } = this.options;
    const summaries: BackupSummary[] = await repository.listBackups();
    const inRepository = new Set(summaries.map((summary) => summary.id));
    const rows = await db.selectFrom('backups').select(['id', 'policy_id', 'repository_backup_id']).execute();
    const inCatalogue = new Set(rows.map((row) => row.repository_backup_id));
    const touched = new Set<string>();

    const missing = rows.filter((row) => !inRepository.has(row.repository_backup_id));
    if (missing.length > 0) await db.deleteFrom('backups').where('id', 'in', missing.map((row) => row.id)).execute();
    for (const row of missing) touched.add(row.policy_id);

    let adopted = 0;
    const orphans: string[] = [];
    for (const summary of summaries) {
      if (inCatalogue.has(summary.id)) continue;
      const policyId = summary.tags[TAGS.policy];
      const diskId = summary.tags[TAGS.disk];
      const policy = policyId ? await db.selectFrom('disk_backup_policies').select(['id', 'organization_id']).where('id', '=', policyId).executeTakeFirst() : undefined;
      if (!policy || !diskId) {
        orphans.push(summary.id);
        continue;
      }
      await recordAdoptedManifest(db, policy, summary, diskId, summary.tags[TAGS.run] ?? null, summary.createdAt || clock.now());
      adopted += 1;
      touched.add(policy.id);
    }
    await repository.forget(orphans);
    for (const policyId of touched) await this.applyRetention(policyId);
    return { adopted, forgotten: orphans.length, rowsDeleted: missing.length };
  }

  /** Reconciles, then removes the chunks no backup uses. */
  async collectGarbage(onProgress?: ProgressListener): Promise<GcReport> {
    await this.reconcile();
    return this.options.repository.gc(onProgress ? { onProgress } : {});
  }

  async close(): Promise<void> {
    await this.options.copyTo?.close();
    await this.options.repository.close();
  }

  private log(level: 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
    if (this.options.logger) this.options.logger[level](fields, message);
  }
}

/** One backup's share of a verification report, as its last verification. */
function verificationOf(row: BackupRecord, damaged: boolean, report: Omit<VerifyReport, 'bytesByBackup'>, bytesByBackup: VerifyReport['bytesByBackup']): VerificationResult {
  const id = row.repository_backup_id;
  const bytesChecked = bytesByBackup[id] ?? 0;
  if (!damaged) return { backupId: row.id, outcome: 'ok', detail: 'every chunk read and authenticated', bytesChecked };
  const manifest = report.badManifests.find((bad) => bad.backupId === id);
  const chunks = report.badChunks.filter((chunk) => chunk.backupIds.includes(id));
  const parts: string[] = [];
  if (manifest) parts.push(`manifest unreadable: ${manifest.detail}`);
  if (chunks.length > 0) {
    const first = chunks[0]!;
    parts.push(`${chunks.length} bad chunk${chunks.length === 1 ? '' : 's'} (first ${first.chunkId} ${first.problem}: ${first.detail})`);
  }
  return { backupId: row.id, outcome: 'failed', detail: parts.join('; '), bytesChecked };
}

export class BackupNotInCatalogue extends Error {
  constructor(readonly backupId: string) {
    super(`No backup ${backupId}`);
  }
}

/**
 * Records in the catalogue a backup the repository holds but the catalogue lacks (a run stopped
 * between writing its manifest and its row, or a catalogue restored from an older moment).
 */
async function recordAdoptedManifest(
  db: BackupEngineOptions['db'],
  policy: { id: string; organization_id: string },
  summary: BackupSummary,
  diskId: string,
  runId: string | null,
  createdAt: number,
): Promise<void> {
  await db
    .insertInto('backups')
    .values({
      id: summary.tags[TAGS.backup] ?? newId('backup'),
      organization_id: policy.organization_id,
      policy_id: policy.id,
      disk_id: diskId,
      run_id: runId,
      repository_backup_id: summary.id,
      created_at: createdAt,
      disk_size_bytes: summary.diskSize,
      new_stored_bytes: 0,
      // Not known from the manifest: said to be live, the cautious answer.
      consistency: 'live',
      live_read: 1,
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
}
