/**
 * Numbered schema migrations, written once for both engines and applied at start-up.
 * A new migration is a new file here and a new entry in `migrations`; applied ones never change.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { MigrationContext } from './context.js';
import * as initial from './0001_initial.js';
import * as rateLimitWindows from './0002_rate_limit_windows.js';
import * as backupRuns from './0003_backup_runs.js';
import * as organizationGenerations from './0004_organization_generations.js';
import * as apiTokenNetworks from './0005_api_token_networks.js';
import * as backupRunsWithoutOrganizationIndex from './0006_backup_runs_without_organization_index.js';
import * as backups from './0007_backups.js';
import * as generationTriggersWithoutInLists from './0008_generation_triggers_without_in_lists.js';
import * as liveRead from './0009_live_read.js';
import * as repositoryBinding from './0010_repository_binding.js';
import * as runCopies from './0011_run_copies.js';
import * as webhooks from './0012_webhooks.js';
import * as backupVerifications from './0013_backup_verifications.js';
import * as rbdBackups from './0014_rbd_backups.js';
import * as operations from './0015_operations.js';

/** Declared beside the migrations (which take it from there), offered here too. */
export type { MigrationContext };

interface EngineMigration {
  up(db: Kysely<any>, context: MigrationContext): Promise<void>;
}

const migrations: Record<string, EngineMigration> = {
  '0001_initial': initial,
  '0002_rate_limit_windows': rateLimitWindows,
  '0003_backup_runs': backupRuns,
  '0004_organization_generations': organizationGenerations,
  '0005_api_token_networks': apiTokenNetworks,
  '0006_backup_runs_without_organization_index': backupRunsWithoutOrganizationIndex,
  '0007_backups': backups,
  '0008_generation_triggers_without_in_lists': generationTriggersWithoutInLists,
  '0009_live_read': liveRead,
  '0010_repository_binding': repositoryBinding,
  '0011_run_copies': runCopies,
  '0012_webhooks': webhooks,
  '0013_backup_verifications': backupVerifications,
  '0014_rbd_backups': rbdBackups,
  '0015_operations': operations,
};

export function migrationProvider(context: MigrationContext): MigrationProvider {
  return {
    async getMigrations() {
      const bound: Record<string, Migration> = {};
      for (const [name, migration] of Object.entries(migrations)) {
        bound[name] = { up: (db) => migration.up(db, context) };
      }
      return bound;
    },
  };
}
