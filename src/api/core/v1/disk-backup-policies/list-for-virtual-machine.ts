import { defineEndpoint } from '../../../framework/endpoint.js';
import { BooleanScalar } from '../../../framework/scalars.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { PermissionDenied } from '../errors.js';
import { VirtualMachineLookup } from '../lookups.js';
import { pageOf, paginationArguments, paginationField, POLICY_LIST_SPEC, POLICY_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/ListForVirtualMachineEndpoint',
  name: 'List disk backup policies for virtual machine',
  description: 'Returns a list of all disk backup policies for a given virtual machine',
  method: 'GET',
  route: 'virtual_machines/:virtual_machine/disk_backup_policies',
  tag: POLICY_TAG,
  scopes: POLICY_SCOPES,
  arguments: {
    virtual_machine: { type: VirtualMachineLookup, required: true, description: 'The virtual machine to return disk backup policies for' },
    include_disks: {
      type: BooleanScalar,
      description:
        'If true, the returned list will include backup policies owned by disks assigned to this virtual machine in addition to those that belong to the whole virtual machine',
    },
    ...paginationArguments,
  },
  errors: [PermissionDenied],
  fields: {
    ...paginationField,
    disk_backup_policies: { type: DiskBackupPolicyObject, array: true, spec: POLICY_LIST_SPEC, description: 'The disk backup policies for the provided virtual machine' },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.policies.listForVirtualMachine(
      args.virtual_machine.id,
      args.include_disks === true,
      pageOf(args),
    );
    return { pagination, disk_backup_policies: items };
  },
});
