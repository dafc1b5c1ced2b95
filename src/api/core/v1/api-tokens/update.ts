import { defineEndpoint } from '../../../framework/endpoint.js';
import { ApiTokenObject } from '../../../objects/api-token.js';
import { KeyValueObject } from '../../../objects/key-value.js';
import { PermissionDenied, ValidationError } from '../errors.js';
import { ApiTokenLookup } from '../lookups.js';
import { annotationsArgument, API_TOKEN_MANAGE_SCOPES, API_TOKEN_TAG, ApiTokenArguments, grantorOf, tokenProperties } from './shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/APITokens/UpdateEndpoint',
  name: 'Update organization API token',
  description: 'Updates an organization API token with new properties',
  method: 'PATCH',
  route: 'api_tokens/:api_token',
  tag: API_TOKEN_TAG,
  scopes: API_TOKEN_MANAGE_SCOPES,
  arguments: {
    api_token: { type: ApiTokenLookup, required: true, description: 'The API token to update' },
    properties: { type: ApiTokenArguments, required: true, description: 'The properties to change' },
    ...annotationsArgument,
  },
  errors: [ValidationError, PermissionDenied],
  fields: {
    api_token: { type: ApiTokenObject, description: 'The API token that has been updated' },
    annotations: { type: KeyValueObject, array: true, description: 'Annotations for this API token' },
  },
  async action({ args, identity, services }) {
    const properties = tokenProperties(args.properties, args.annotations);
    const token = await services.tokens.update(args.api_token, properties, await grantorOf(identity, services));
    return { api_token: token, annotations: token.annotations };
  },
});
