import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { PermissionDenied } from '../errors.js';
import { DiskBackupPolicyLookup } from '../lookups.js';
import { POLICY_MANAGE_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/DeleteEndpoint',
  name: 'Delete disk backup policy',
  description: 'Deletes a disk backup policy and moves it to the trash',
  method: 'DELETE',
  route: 'disk_backup_policies/:disk_backup_policy',
  tag: POLICY_TAG,
  scopes: POLICY_MANAGE_SCOPES,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The disk backup policy to delete' },
  },
  errors: [PermissionDenied],
  fields: {
    disk_backup_policy: { type: DiskBackupPolicyObject, spec: 'id', description: 'The disk backup policy that has been deleted' },
  },
  async action({ args, services }) {
    return { disk_backup_policy: await services.policies.delete(args.disk_backup_policy) };
  },
});
