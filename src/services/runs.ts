/**
 * Backup runs as recorded by the scheduler: listed for operators (`dbp runs list`), and pruned to a
 * bounded history by the worker's background sweep.
 */
import { sql, type Kysely } from 'kysely';
import type { BackupRun, BackupRunRow, Database, RunCopy } from '../store/schema.js';

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

/** A run row as the services answer it: `live_read` true when any of its backups was read live; `copy` parsed. */
export function runRecord({ live_read, copy, ...row }: BackupRunRow): BackupRun {
  return { ...row, live_read: Number(live_read) === 1, copy: copy ? (JSON.parse(copy) as RunCopy) : null };
}

export class RunService {
  constructor(private readonly db: Kysely<Database>) {}

  /** The newest runs first, optionally of one policy. */
  async list(options: { policyId?: string | undefined; limit: number }): Promise<BackupRun[]> {
    let query = this.db.selectFrom('backup_runs').selectAll();
    if (options.policyId !== undefined) query = query.where('policy_id', '=', options.policyId);
    return (await query.orderBy('pk', 'desc').limit(options.limit).execute()).map(runRecord);
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
