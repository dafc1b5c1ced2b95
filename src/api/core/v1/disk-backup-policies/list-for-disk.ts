import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { PermissionDenied } from '../errors.js';
import { DiskLookup } from '../lookups.js';
import { pageOf, paginationArguments, paginationField, POLICY_LIST_SPEC, POLICY_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/ListForDiskEndpoint',
  name: 'List disk backup policies for disk',
  description: 'Returns a list of all disk backup policies for a given disk',
  method: 'GET',
  route: 'disks/:disk/disk_backup_policies',
  tag: POLICY_TAG,
  scopes: POLICY_SCOPES,
  arguments: {
    disk: { type: DiskLookup, required: true, description: 'The disk to return disk backup policies for' },
    ...paginationArguments,
  },
  errors: [PermissionDenied],
  fields: {
    ...paginationField,
    disk_backup_policies: { type: DiskBackupPolicyObject, array: true, spec: POLICY_LIST_SPEC, description: 'The disk backup policies for the provided disk' },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.policies.listForDisk(args.disk.id, pageOf(args));
    return { pagination, disk_backup_policies: items };
  },
});
