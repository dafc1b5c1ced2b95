import { defineEndpoint } from '../../../framework/endpoint.js';
import { OrganizationLookup } from '../../../core/v1/lookups.js';
import { WEBHOOK_READ_SCOPES, WEBHOOK_TAG, WebhookObject } from './shared.js';

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/Webhooks/ListEndpoint',
  name: "List an organization's webhooks",
  description: 'Returns the webhooks of the organization, oldest first (never their secrets)',
  method: 'GET',
  route: 'organizations/:organization/webhooks',
  tag: WEBHOOK_TAG,
  scopes: WEBHOOK_READ_SCOPES,
  // Webhooks are written without touching the organization's generation.
  cacheable: false,
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization whose webhooks to list' },
  },
  errors: [],
  fields: {
    webhooks: { type: WebhookObject, array: true, description: 'The webhooks' },
  },
  async action({ args, services }) {
    return { webhooks: await services.webhooks.listForOrganization(args.organization.id) };
  },
});
