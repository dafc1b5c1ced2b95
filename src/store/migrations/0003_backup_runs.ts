import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * One row per scheduled instant of a policy that the scheduler claimed: who runs it, until when
 * (the lease), how it ended. `(policy_id, scheduled_at)` is unique, so an instant can never run twice.
 * `lease_expires_at` is set while the run is unfinished (claimed or running) and null once it is
 * finished, so the lease-expiry index holds only unfinished runs.
 */
export async function up(db: Kysely<any>, { pkType }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('backup_runs')
    .addColumn('pk', pkType, (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    // No foreign keys: runs are history and outlive a policy purged from the trash.
    .addColumn('policy_id', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('target_disk_ids', 'text', (c) => c.notNull())
    .addColumn('scheduled_at', 'bigint', (c) => c.notNull())
    .addColumn('claimed_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('worker_id', 'text')
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
    .addUniqueConstraint('backup_runs_once_per_instant', ['policy_id', 'scheduled_at'])
    .execute();
  await db.schema.createIndex('backup_runs_by_lease_expiry').on('backup_runs').column('lease_expires_at').execute();
  await db.schema.createIndex('backup_runs_by_organization').on('backup_runs').columns(['organization_id', 'pk']).execute();
}
