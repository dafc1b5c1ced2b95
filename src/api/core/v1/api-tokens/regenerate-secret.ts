import { defineEndpoint } from '../../../framework/endpoint.js';
import { ApiTokenObject } from '../../../objects/api-token.js';
import { PermissionDenied } from '../errors.js';
import { ApiTokenLookup } from '../lookups.js';
import { API_TOKEN_MANAGE_SCOPES, API_TOKEN_TAG, grantorOf } from './shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/APITokens/RegenerateSecretEndpoint',
  name: 'Regenerate organization API token secret',
  description: 'Regenerates the secret for an organization API token',
  method: 'POST',
  route: 'api_tokens/:api_token/regenerate_secret',
  tag: API_TOKEN_TAG,
  scopes: API_TOKEN_MANAGE_SCOPES,
  arguments: {
    api_token: { type: ApiTokenLookup, required: true, description: 'The API token whose secret to replace' },
  },
  errors: [PermissionDenied],
  fields: {
    api_token: { type: ApiTokenObject, description: 'The API token that has had its secret regenerated' },
  },
  async action({ args, identity, services }) {
    const { token, secret } = await services.tokens.regenerateSecret(args.api_token, await grantorOf(identity, services));
    return { api_token: { ...token, secret } };
  },
});
