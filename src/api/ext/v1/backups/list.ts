import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyLookup } from '../../../core/v1/lookups.js';
import { BACKUP_TAG, BackupObject, READ_SCOPES } from '../shared.js';

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/Backups/ListEndpoint',
  name: "List a policy's backups",
  description: 'Returns the backups a disk backup policy keeps, newest first',
  method: 'GET',
  route: 'disk_backup_policies/:disk_backup_policy/backups',
  tag: BACKUP_TAG,
  scopes: READ_SCOPES,
  // Backups are written by the engine without touching the organization's generation.
  cacheable: false,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The policy whose backups to list' },
  },
  errors: [],
  fields: {
    backups: { type: BackupObject, array: true, description: 'The backups, newest first' },
  },
  async action({ args, services }) {
    return { backups: await services.backups.list(args.disk_backup_policy.id) };
  },
});
