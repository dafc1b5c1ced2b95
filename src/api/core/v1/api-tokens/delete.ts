import { defineEndpoint } from '../../../framework/endpoint.js';
import { ApiTokenObject } from '../../../objects/api-token.js';
import { PermissionDenied } from '../errors.js';
import { ApiTokenLookup } from '../lookups.js';
import { API_TOKEN_MANAGE_SCOPES, API_TOKEN_TAG, grantorOf } from './shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/APITokens/DeleteEndpoint',
  name: 'Delete organization API token',
  description: 'Delete an organization API token',
  method: 'DELETE',
  route: 'api_tokens/:api_token',
  tag: API_TOKEN_TAG,
  scopes: API_TOKEN_MANAGE_SCOPES,
  arguments: {
    api_token: { type: ApiTokenLookup, required: true, description: 'The API token to delete' },
  },
  errors: [PermissionDenied],
  fields: {
    api_token: { type: ApiTokenObject, spec: 'id,name', description: 'The API token that has been destroyed' },
  },
  async action({ args, identity, services }) {
    return { api_token: await services.tokens.delete(args.api_token, await grantorOf(identity, services)) };
  },
});
