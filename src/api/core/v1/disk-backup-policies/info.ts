import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { DiskBackupPolicyLookup } from '../lookups.js';
import { POLICY_FULL_SPEC, POLICY_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/InfoEndpoint',
  name: 'Get disk backup policy',
  description: 'Returns information about a specific disk backup policy',
  method: 'GET',
  route: 'disk_backup_policies/:disk_backup_policy',
  tag: POLICY_TAG,
  scopes: POLICY_SCOPES,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The disk backup policy to get information for' },
  },
  errors: [],
  fields: {
    disk_backup_policy: { type: DiskBackupPolicyObject, spec: POLICY_FULL_SPEC, description: 'The disk backup policy' },
  },
  async action({ args }) {
    return { disk_backup_policy: args.disk_backup_policy };
  },
});
