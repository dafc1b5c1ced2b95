import { defineEndpoint } from '../../../framework/endpoint.js';
import { TrashObjectObject } from '../../../objects/trash.js';
import { PermissionDenied } from '../errors.js';
import { TrashObjectLookup } from '../lookups.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/TrashObjects/RestoreEndpoint',
  name: 'Restore a trash object',
  description: 'Restore a trashed object to its original location',
  method: 'POST',
  route: 'trash_objects/:trash_object/restore',
  tag: 'Trash objects',
  scopes: ['trash_objects:restore'],
  arguments: {
    trash_object: { type: TrashObjectLookup, required: true, description: 'The trash object to restore' },
  },
  errors: [PermissionDenied],
  fields: {
    trash_object: { type: TrashObjectObject, spec: '*', description: 'The requested trash object' },
  },
  async action({ args, services }) {
    // Answers the trash object as it was before it was taken out of the trash.
    return { trash_object: await services.trash.restore(args.trash_object) };
  },
});
