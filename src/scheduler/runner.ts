/**
 * The seam between the scheduler and whatever takes backups: the scheduler hands each claimed run to
 * a `BackupRunner` and records what it answers. The backup engine implements it; a process without
 * one (no repository passphrase) gets the default runner, which answers `skipped` with the error
 * `no backup engine`, so that a run is visibly not a backup in its record, its log line, the
 * metrics and /healthz (`"backups":"disabled"`).
 */

/** A scheduled instant of a policy, claimed by this worker. */
export interface ClaimedRun {
  readonly id: string;
  readonly policyId: string;
  readonly organizationId: string;
  /** The disks to back up: the policy's disk, or the disks attached to its virtual machine at claim time. */
  readonly targetDiskIds: readonly string[];
  /** The instant of the policy's series this run is for (Unix seconds). */
  readonly scheduledAt: number;
  /** 1 for the first worker to claim it; one more for each worker that stopped before finishing it. */
  readonly attempt: number;
  /**
   * True when an earlier attempt of this run was cut short (its worker died, lost its lease, met
   * a transient database error or an unreachable store): some of its backups may already exist, and
   * are not taken again.
   */
  readonly resumed: boolean;
}

export type RunStatus = 'succeeded' | 'failed' | 'skipped';

export interface RunResult {
  readonly status: RunStatus;
  /** Why it failed or was skipped; null (or absent) when it succeeded. */
  readonly error?: string | null;
  /** True when any of its backups was read live (not from a point-in-time clone); recorded as `live_read`. */
  readonly liveRead?: boolean;
}

export interface BackupRunner {
  /**
   * Runs one claimed run. `signal` aborts when this worker loses the run (its lease was taken over)
   * or is stopping; the runner should then stop soon. Throwing counts as `failed` with the message.
   */
  run(run: ClaimedRun, signal: AbortSignal): Promise<RunResult>;
}

export const NO_BACKUP_ENGINE = 'no backup engine';

/** The runner of a process without a backup engine: every run is recorded as skipped, never as a backup. */
export const noBackupEngineRunner: BackupRunner = {
  async run() {
    return { status: 'skipped', error: NO_BACKUP_ENGINE };
  },
};
