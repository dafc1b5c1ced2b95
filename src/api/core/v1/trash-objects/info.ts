import { defineEndpoint } from '../../../framework/endpoint.js';
import { TrashObjectObject } from '../../../objects/trash.js';
import { TrashObjectLookup } from '../lookups.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/TrashObjects/InfoEndpoint',
  name: 'Get trash object',
  description: 'Provides information on a specific trash object',
  method: 'GET',
  route: 'trash_objects/:trash_object',
  tag: 'Trash objects',
  scopes: ['trash_objects:read'],
  arguments: {
    trash_object: { type: TrashObjectLookup, required: true, description: 'The trash object to find' },
  },
  errors: [],
  fields: {
    trash_object: { type: TrashObjectObject, spec: '*', description: 'The requested trash object' },
  },
  async action({ args }) {
    return { trash_object: args.trash_object };
  },
});
