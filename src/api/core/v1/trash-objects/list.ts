import { defineEndpoint } from '../../../framework/endpoint.js';
import { TrashObjectObject } from '../../../objects/trash.js';
import { OrganizationLookup } from '../lookups.js';
import { pageOf, paginationArguments, paginationField } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/TrashObjects/ListEndpoint',
  name: 'List trash objects',
  description: 'Provides a full list of all trash objects for a specific organization',
  method: 'GET',
  route: 'organizations/:organization/trash_objects',
  tag: 'Trash objects',
  scopes: ['trash_objects:read'],
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization to find all trash objects for' },
    ...paginationArguments,
  },
  errors: [],
  fields: {
    ...paginationField,
    trash_objects: {
      type: TrashObjectObject,
      array: true,
      spec: '*',
      description: 'The trash objects that belong to this organization',
    },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.trash.list(args.organization.id, pageOf(args));
    return { pagination, trash_objects: items };
  },
});
