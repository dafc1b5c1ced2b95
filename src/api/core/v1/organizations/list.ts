import { defineEndpoint } from '../../../framework/endpoint.js';
import { OrganizationObject } from '../../../objects/organization.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/Organizations/ListEndpoint',
  name: 'List organizations',
  description: 'This will return a list of all organizations the authenticated identity has access to',
  method: 'GET',
  route: 'organizations',
  tag: 'Organizations',
  scopes: ['organizations:read'],
  arguments: {},
  errors: [],
  fields: {
    // OpenAPI 2.68's field set (the native schema predates `activated_at`).
    organizations: {
      type: OrganizationObject,
      array: true,
      spec: 'id,name,sub_domain,infrastructure_domain,created_at,activated_at,suspended,managed',
    },
  },
  async action({ identity, services }) {
    // A token acts for exactly one organization: its own.
    return { organizations: await services.inventory.listOrganizations([identity.organizationId]) };
  },
});
