import { defineEndpoint } from '../../../framework/endpoint.js';
import { ApiTokenObject } from '../../../objects/api-token.js';
import { KeyValueObject } from '../../../objects/key-value.js';
import { PermissionDenied, ValidationError } from '../errors.js';
import { OrganizationLookup } from '../lookups.js';
import { annotationsArgument, API_TOKEN_MANAGE_SCOPES, API_TOKEN_TAG, ApiTokenArguments, grantorOf, tokenProperties } from './shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/APITokens/CreateEndpoint',
  name: 'Create API token for organization',
  description: 'Create a new API token for a given organization',
  method: 'POST',
  route: 'organizations/:organization/api_tokens',
  tag: API_TOKEN_TAG,
  scopes: API_TOKEN_MANAGE_SCOPES,
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization to create the API token for' },
    properties: { type: ApiTokenArguments, required: true, description: 'Details for the new API token' },
    ...annotationsArgument,
  },
  errors: [ValidationError, PermissionDenied],
  fields: {
    api_token: { type: ApiTokenObject, description: 'The API token that has been created' },
    annotations: { type: KeyValueObject, array: true, description: 'Annotations for this API token' },
  },
  async action({ args, identity, services }) {
    const properties = tokenProperties(args.properties, args.annotations);
    const { token, secret } = await services.tokens.create({ organizationId: args.organization.id, ...properties }, await grantorOf(identity, services));
    return { api_token: { ...token, secret }, annotations: token.annotations };
  },
});
