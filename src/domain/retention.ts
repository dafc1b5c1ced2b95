/** Retention by count: of one policy's backups of one disk, the newest `retention` are kept. */

export interface RetainedBackup {
  readonly id: string;
  readonly diskId: string;
  /** Unix seconds; ties are broken by `sequence` (creation order). */
  readonly createdAt: number;
  readonly sequence: number;
}

/** The backups to prune: for each disk, all but the newest `retention`. */
export function backupsToPrune<T extends RetainedBackup>(backups: readonly T[], retention: number): T[] {
  if (!Number.isInteger(retention) || retention < 1) throw new RangeError('retention must be a whole number of at least 1');
  const byDisk = new Map<string, T[]>();
  for (const backup of backups) {
    const list = byDisk.get(backup.diskId) ?? [];
    list.push(backup);
    byDisk.set(backup.diskId, list);
  }
  const prune: T[] = [];
  for (const list of byDisk.values()) {
    list.sort((a, b) => b.createdAt - a.createdAt || b.sequence - a.sequence);
    prune.push(...list.slice(retention));
  }
  return prune;
}
