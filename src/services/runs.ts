/**
 * Backup runs as recorded by the scheduler: listed for operators (`dbp runs list`), and pruned to a
 * bounded history by the worker's background sweep.
 */
import { sql, type Kysely } from 'kysely';
import type { BackupRun, BackupRunRow, Database, RunCopy } from '../store/schema.js';
import { offsetOf, paginationFor, type Page, type PageRequest } from './pagination.js';

export interface PruneOptions {
  /** Runs with a `pk` above this are the ones looked at (the sweep's cursor). */
  readonly afterPk: number;
  /** Finished runs kept per policy: its newest ones by scheduled instant. Unfinished runs are never pruned. */
  readonly keepPerPolicy: number;
  /** Runs looked at in this batch; the policies they belong to are the ones pruned. */
  readonly batchRuns: number;
  /** Most runs deleted by this batch (one statement). */
  readonly maxDeletes: number;
}

export interface PruneBatch {
  readonly deleted: number;
  /** Where the next batch starts (unchanged when this one hit `maxDeletes`: it has more to delete). */
  readonly nextAfterPk: number;
  /** True when no run above `afterPk` was left to look at. */
  readonly caughtUp: boolean;
}

/**
 * A run with the sizes of the backups it took that the catalogue still holds (retention removes old
 * backups, and their sizes with them): `bytes_read` is the disk images' bytes, `bytes_stored` what they
 * newly added to the repository; both null when none of its backups is kept.
 */
export interface RunSummary extends BackupRun {
  readonly backups_kept: number;
  readonly bytes_read: number | null;
  readonly bytes_stored: number | null;
}

/** A run row as the services answer it: `live_read` true when any of its backups was read live; `copy` parsed. */
export function runRecord({ live_read, copy, ...row }: BackupRunRow): BackupRun {
  return { ...row, live_read: Number(live_read) === 1, copy: copy ? (JSON.parse(copy) as RunCopy) : null };
}

function runSummary(row: BackupRunRow & { backups_kept: unknown; bytes_read: unknown; bytes_stored: unknown }): RunSummary {
  const { backups_kept, bytes_read, bytes_stored, ...run } = row;
  const kept = Number(backups_kept ?? 0);
  return {
    ...runRecord(run),
    backups_kept: kept,
    bytes_read: kept === 0 ? null : Number(bytes_read),
    bytes_stored: kept === 0 ? null : Number(bytes_stored),
  };
}

export class RunService {
  constructor(private readonly db: Kysely<Database>) {}

  /** The newest runs first, optionally of one policy. */
  async list(options: { policyId?: string | undefined; limit: number }): Promise<BackupRun[]> {
    let query = this.db.selectFrom('backup_runs').selectAll();
    if (options.policyId !== undefined) query = query.where('policy_id', '=', options.policyId);
    return (await query.orderBy('pk', 'desc').limit(options.limit).execute()).map(runRecord);
  }

  /** A page of a policy's runs, newest first, with their kept backups' sizes. */
  async pageForPolicy(policyId: string, page: PageRequest): Promise<Page<RunSummary>> {
    const [rows, total] = await Promise.all([
      this.summaries()
        .where('r.policy_id', '=', policyId)
        .orderBy('r.pk', 'desc')
        .limit(page.perPage)
        .offset(offsetOf(page))
        .execute(),
      this.db.selectFrom('backup_runs').select((eb) => eb.fn.countAll().as('n')).where('policy_id', '=', policyId).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(runSummary), pagination: paginationFor(page, Number(total.n)) };
  }

  /** The newest run of each of an organization's policies that has run (one per policy). */
  async lastPerPolicy(organizationId: string): Promise<RunSummary[]> {
    const rows = await this.summaries()
      .where('r.pk', 'in', (eb) =>
        eb.selectFrom('backup_runs').select((inner) => inner.fn.max('pk').as('pk')).where('organization_id', '=', organizationId).groupBy('policy_id'),
      )
      .execute();
    return rows.map(runSummary);
  }

  private summaries() {
    return this.db
      .selectFrom('backup_runs as r')
      .selectAll('r')
      .select((eb) => [
        eb.selectFrom('backups').select((b) => b.fn.countAll().as('n')).whereRef('backups.run_id', '=', 'r.id').as('backups_kept'),
        eb.selectFrom('backups').select((b) => b.fn.sum('disk_size_bytes').as('s')).whereRef('backups.run_id', '=', 'r.id').as('bytes_read'),
        eb.selectFrom('backups').select((b) => b.fn.sum('new_stored_bytes').as('s')).whereRef('backups.run_id', '=', 'r.id').as('bytes_stored'),
      ]);
  }

  async find(id: string): Promise<BackupRun | null> {
    const row = await this.db.selectFrom('backup_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? runRecord(row) : null;
  }

  /**
   * One bounded step of pruning: takes the next `batchRuns` runs after the cursor, and deletes the
   * finished runs of their policies beyond each policy's newest `keepPerPolicy` (at most
   * `maxDeletes`, in one statement). Every new run passes the cursor once, so each policy is pruned
   * whenever it has run since the last sweep; a policy that never runs again keeps what it had.
   */
  async pruneBatch(options: PruneOptions): Promise<PruneBatch> {
    const { afterPk, keepPerPolicy, batchRuns, maxDeletes } = options;
    const end = await this.db
      .selectFrom((eb) => eb.selectFrom('backup_runs').select('pk').where('pk', '>', afterPk).orderBy('pk').limit(batchRuns).as('batch'))
      .select((eb) => eb.fn.max('batch.pk').as('last'))
      .executeTakeFirst();
    const lastPk = end?.last === null || end?.last === undefined ? null : Number(end.last);
    if (lastPk === null) return { deleted: 0, nextAfterPk: afterPk, caughtUp: true };
    const result = await sql`
      delete from backup_runs where pk in (
        select old.pk from backup_runs as old
        where old.policy_id in (select policy_id from backup_runs where pk > ${afterPk} and pk <= ${lastPk})
          and old.lease_expires_at is null
          and old.scheduled_at < (
            select kept.scheduled_at from backup_runs as kept
            where kept.policy_id = old.policy_id
            order by kept.scheduled_at desc
            limit 1 offset ${keepPerPolicy - 1})
        limit ${maxDeletes})`.execute(this.db);
    const deleted = Number(result.numAffectedRows ?? 0);
    return { deleted, nextAfterPk: deleted >= maxDeletes ? afterPk : lastPk, caughtUp: false };
  }
}
