import { BACKUP_TAG, defineExtensionEndpoint, READ_SCOPES } from '../shared.js';
import { OperationLookup, OperationObject, operationView } from './shared.js';

export default defineExtensionEndpoint({
  id: 'ExtAPI/Endpoints/Operations/InfoEndpoint',
  name: 'Report an operation',
  description: 'Reports a long operation started with `async=true` (a run now, a restore, a verification): its progress while it runs, then its result or its error',
  method: 'GET',
  route: 'operations/:operation',
  tag: BACKUP_TAG,
  scopes: READ_SCOPES,
  // Its rows change without the organization's generation changing: never answered from the cache.
  cacheable: false,
  arguments: {
    operation: { type: OperationLookup, required: true, description: 'The operation' },
  },
  errors: [],
  fields: {
    operation: { type: OperationObject, description: 'The operation' },
  },
  async action({ args, services }) {
    return { operation: await operationView(services, args.operation) };
  },
});
