import { defineEndpoint } from '../../../framework/endpoint.js';
import { TaskObject } from '../../../objects/trash.js';
import { PermissionDenied } from '../errors.js';
import { OrganizationLookup } from '../lookups.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/TrashObjects/PurgeAllEndpoint',
  name: 'Purge all trash objects',
  description: 'Purge all trash objects for an organization',
  method: 'POST',
  route: 'organizations/:organization/trash_objects/purge_all',
  tag: 'Trash objects',
  scopes: ['trash_objects:purge'],
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization to find all trash objects for' },
  },
  // The real API may also answer task_queueing_error; here the purge runs in the request, so it cannot.
  errors: [PermissionDenied],
  fields: {
    task: { type: TaskObject, spec: '*' },
  },
  async action({ args, services }) {
    return { task: await services.trash.purgeAll(args.organization.id) };
  },
});
