import { defineEndpoint } from '../../../framework/endpoint.js';
import { OrganizationObject } from '../../../objects/organization.js';
import { OrganizationLookup } from '../lookups.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/Organizations/InfoEndpoint',
  name: 'Get organization',
  description: 'Returns information about a specific organization',
  method: 'GET',
  route: 'organizations/:organization',
  tag: 'Organizations',
  scopes: ['organizations:read'],
  arguments: {
    organization: { type: OrganizationLookup, required: true },
  },
  errors: [],
  fields: {
    organization: { type: OrganizationObject, spec: '*' },
  },
  async action({ args }) {
    return { organization: args.organization };
  },
});
