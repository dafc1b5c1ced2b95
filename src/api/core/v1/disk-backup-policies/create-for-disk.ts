import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { PermissionDenied, ValidationError } from '../errors.js';
import { DiskLookup } from '../lookups.js';
import { DiskBackupPolicyArguments, POLICY_FULL_SPEC, POLICY_MANAGE_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/CreateForDiskEndpoint',
  name: 'Create disk backup policy for disk',
  description: 'Creates a new disk backup policy for a disk',
  method: 'POST',
  route: 'disks/:disk/disk_backup_policies',
  tag: POLICY_TAG,
  scopes: POLICY_MANAGE_SCOPES,
  arguments: {
    disk: { type: DiskLookup, required: true, description: 'The disk to create the disk backup policy for' },
    properties: { type: DiskBackupPolicyArguments, required: true, description: 'Details for the new disk backup policy' },
  },
  errors: [ValidationError, PermissionDenied],
  fields: {
    disk_backup_policy: { type: DiskBackupPolicyObject, spec: POLICY_FULL_SPEC, description: 'The new disk backup policy' },
  },
  async action({ args, services }) {
    const { disk, properties } = args;
    const target = { type: 'Disk', id: disk.id, name: disk.name } as const;
    return { disk_backup_policy: await services.policies.create(disk.organization_id, target, properties) };
  },
});
