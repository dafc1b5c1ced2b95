import { defineEndpoint } from '../../../framework/endpoint.js';
import { TaskObject } from '../../../objects/trash.js';
import { PermissionDenied } from '../errors.js';
import { TrashObjectLookup } from '../lookups.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/TrashObjects/PurgeEndpoint',
  name: 'Purge a trash object',
  description: 'Purge a specific trash object',
  method: 'DELETE',
  route: 'trash_objects/:trash_object',
  tag: 'Trash objects',
  scopes: ['trash_objects:purge'],
  arguments: {
    trash_object: { type: TrashObjectLookup, required: true, description: 'The trash object to purge' },
  },
  // The real API may also answer task_queueing_error; here the purge runs in the request, so it cannot.
  errors: [PermissionDenied],
  fields: {
    task: { type: TaskObject, spec: '*' },
  },
  async action({ args, services }) {
    return { task: await services.trash.purge(args.trash_object) };
  },
});
