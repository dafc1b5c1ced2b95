import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { PermissionDenied, ValidationError } from '../errors.js';
import { DiskBackupPolicyLookup } from '../lookups.js';
import { DiskBackupPolicyArguments, POLICY_MANAGE_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/UpdateEndpoint',
  name: 'Update a disk backup policy',
  description: 'Updates the disk backup policy with the provided details',
  method: 'PATCH',
  route: 'disk_backup_policies/:disk_backup_policy',
  tag: POLICY_TAG,
  scopes: POLICY_MANAGE_SCOPES,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The disk backup policy to update' },
    properties: { type: DiskBackupPolicyArguments, required: true, description: 'Details for the disk backup policy' },
  },
  errors: [ValidationError, PermissionDenied],
  fields: {
    // `schedule` without brackets: the real API answers `"schedule":{}` here.
    disk_backup_policy: { type: DiskBackupPolicyObject, spec: 'id,retention,schedule,target[id]', description: 'The disk backup policy that has been updated' },
  },
  async action({ args, services }) {
    return { disk_backup_policy: await services.policies.update(args.disk_backup_policy, args.properties) };
  },
});
