import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { PermissionDenied, ValidationError } from '../errors.js';
import { VirtualMachineLookup } from '../lookups.js';
import { DiskBackupPolicyArguments, POLICY_FULL_SPEC, POLICY_MANAGE_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/CreateForVirtualMachineEndpoint',
  name: 'Create disk backup policy for Virtual Machine',
  description: 'Creates a new disk backup policy for a virtual machine',
  method: 'POST',
  route: 'virtual_machines/:virtual_machine/disk_backup_policies',
  tag: POLICY_TAG,
  scopes: POLICY_MANAGE_SCOPES,
  arguments: {
    virtual_machine: { type: VirtualMachineLookup, required: true, description: 'The virtual machine to create the disk backup policy for' },
    properties: { type: DiskBackupPolicyArguments, required: true, description: 'Details for the new disk backup policy' },
  },
  errors: [ValidationError, PermissionDenied],
  fields: {
    disk_backup_policy: { type: DiskBackupPolicyObject, spec: POLICY_FULL_SPEC, description: 'The new disk backup policy' },
  },
  async action({ args, services }) {
    const { virtual_machine: vm, properties } = args;
    const target = { type: 'VirtualMachine', id: vm.id, name: vm.name } as const;
    return { disk_backup_policy: await services.policies.create(vm.organization_id, target, properties) };
  },
});
