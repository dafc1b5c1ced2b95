import { defineEndpoint } from '../../../framework/endpoint.js';
import { VirtualMachineDiskObject } from '../../../objects/disk.js';
import { VirtualMachineLookup } from '../lookups.js';
import { pageOf, paginationArguments, paginationField } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/Disks/ListForVirtualMachineEndpoint',
  name: 'List virtual machine disks',
  description: 'Return a list of all disks for a given virtual machine',
  method: 'GET',
  route: 'virtual_machines/:virtual_machine/disks',
  tag: 'Disks',
  scopes: ['disks', 'disks:read'],
  arguments: {
    virtual_machine: { type: VirtualMachineLookup, required: true, description: 'The virtual machine to find disks for' },
    ...paginationArguments,
  },
  errors: [],
  fields: {
    ...paginationField,
    disks: {
      type: VirtualMachineDiskObject,
      array: true,
      spec: 'state,boot,attach_on_boot,disk[id,state,name,wwn,size_in_gb,created_at]',
      description: 'The list of disks',
    },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.inventory.listAttachments(args.virtual_machine.id, pageOf(args));
    return { pagination, disks: items };
  },
});
