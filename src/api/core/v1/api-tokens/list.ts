import { defineEndpoint } from '../../../framework/endpoint.js';
import { ApiTokenObject } from '../../../objects/api-token.js';
import { PermissionDenied } from '../errors.js';
import { OrganizationLookup } from '../lookups.js';
import { pageOf, paginationArguments, paginationField } from '../shared.js';
import { annotationFilters, API_TOKEN_SCOPES, API_TOKEN_TAG, KeyValueArguments } from './shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/APITokens/ListEndpoint',
  name: 'List organization API tokens',
  description: 'Returns a list of all API tokens for an organization',
  method: 'GET',
  route: 'organizations/:organization/api_tokens',
  tag: API_TOKEN_TAG,
  scopes: API_TOKEN_SCOPES,
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization to list API tokens for' },
    annotations: {
      type: KeyValueArguments,
      array: true,
      description: 'Only tokens with every one of these annotations (the key, and the value when given). In a query string as parallel arrays: `annotations[][key]=…&annotations[][value]=…`, paired in order',
    },
    ...paginationArguments,
  },
  errors: [PermissionDenied],
  fields: {
    ...paginationField,
    api_tokens: { type: ApiTokenObject, array: true, description: 'The API tokens of the organization (never with their secrets)' },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.tokens.listForOrganization(args.organization.id, pageOf(args), annotationFilters(args.annotations));
    return { pagination, api_tokens: items };
  },
});
