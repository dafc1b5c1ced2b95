/**
 * The use cases, wired to one database and one clock. Callers (the API, the CLI, the scheduler)
 * get everything through `Services`.
 */
import type { Clock } from '../domain/clock.js';
import type { Store } from '../store/database.js';
import { BackupCatalogue } from './backups.js';
import { InventoryService } from './inventory.js';
import { OperationService } from './operations.js';
import { POLICY_OBJECT_TYPE, PolicyService } from './policies.js';
import { insertMissingReferenceData } from './reference-data.js';
import { RunService } from './runs.js';
import { TokenService } from './tokens.js';
import { TrashService } from './trash.js';
import { WebhookService } from './webhooks.js';

export interface Services {
  readonly clock: Clock;
  readonly inventory: InventoryService;
  readonly policies: PolicyService;
  readonly trash: TrashService;
  readonly tokens: TokenService;
  readonly runs: RunService;
  readonly backups: BackupCatalogue;
  readonly webhooks: WebhookService;
  readonly operations: OperationService;
}

export async function createServices(store: Store, clock: Clock): Promise<Services> {
  await insertMissingReferenceData(store.db);
  const inventory = new InventoryService(store.db, clock);
  const trash = new TrashService(store.db, clock);
  const policies = new PolicyService(store.db, clock, inventory, trash);
  const tokens = new TokenService(store.db, clock, store.changes, store.engine);
  trash.registerPurger(POLICY_OBJECT_TYPE, async (trx, id) => {
    // The catalogue rows of its backups go with it; the engine's reconcile then forgets their manifests.
    await trx.deleteFrom('backups').where('policy_id', '=', id).execute();
    await trx.deleteFrom('disk_backup_policies').where('id', '=', id).execute();
  });
  const runs = new RunService(store.db);
  return { clock, inventory, policies, trash, tokens, runs, backups: new BackupCatalogue(store.db), webhooks: new WebhookService(store.db, clock), operations: new OperationService(store.db, clock) };
}
