import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskObject } from '../../../objects/disk.js';
import { OrganizationLookup } from '../lookups.js';
import { pageOf, paginationArguments, paginationField } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/Disks/ListEndpoint',
  name: 'List disks',
  description: 'Return a list of all disks owned by an organization',
  method: 'GET',
  route: 'organizations/:organization/disks',
  tag: 'Disks',
  scopes: ['disks', 'disks:read'],
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization to find disks for' },
    ...paginationArguments,
  },
  errors: [],
  fields: {
    ...paginationField,
    // Singular `disk`, as the real API (and OpenAPI 2.68) names it.
    disk: {
      type: DiskObject,
      array: true,
      spec: 'id,name,size_in_gb,wwn,state,virtual_machine_disk[virtual_machine[id,fqdn]]',
      description: 'The list of disks',
    },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.inventory.listDisks(args.organization.id, pageOf(args));
    return { pagination, disk: items };
  },
});
