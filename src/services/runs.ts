/** Backup runs as recorded by the scheduler, for operators (`dbp runs list`). */
import type { Kysely } from 'kysely';
import type { BackupRun, Database } from '../store/schema.js';

export class RunService {
  constructor(private readonly db: Kysely<Database>) {}

  /** The newest runs first, optionally of one policy. */
  list(options: { policyId?: string | undefined; limit: number }): Promise<BackupRun[]> {
    let query = this.db.selectFrom('backup_runs').selectAll();
    if (options.policyId !== undefined) query = query.where('policy_id', '=', options.policyId);
    return query.orderBy('pk', 'desc').limit(options.limit).execute();
  }
}
