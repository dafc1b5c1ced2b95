import { defineEndpoint } from '../../../framework/endpoint.js';
import { VirtualMachineObject } from '../../../objects/virtual-machine.js';
import { OrganizationLookup } from '../lookups.js';
import { pageOf, paginationArguments, paginationField } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/VirtualMachines/ListEndpoint',
  name: 'List virtual machines',
  description: 'Returns a list of all virtual machines for a given organization',
  method: 'GET',
  route: 'organizations/:organization/virtual_machines',
  tag: 'Virtual machines',
  scopes: ['virtual_machines', 'virtual_machines:read'],
  arguments: {
    organization: { type: OrganizationLookup, required: true },
    ...paginationArguments,
  },
  errors: [],
  fields: {
    ...paginationField,
    // OpenAPI 2.68's field set: the native schema's plus hypervisor.
    virtual_machines: {
      type: VirtualMachineObject,
      array: true,
      spec:
        'id,name,fqdn,hostname,created_at,zone[id,name,permalink,data_center[id,name,permalink]],' +
        'ip_addresses[address],package[name],gpu_type[id,name,permalink],hypervisor[id,name]',
    },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.inventory.listVirtualMachines(args.organization.id, pageOf(args));
    return { pagination, virtual_machines: items };
  },
});
