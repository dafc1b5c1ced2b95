import { defineEndpoint } from '../../../framework/endpoint.js';
import { StringScalar } from '../../../framework/scalars.js';
import { PermissionDenied, ValidationError } from '../../../core/v1/errors.js';
import { OrganizationLookup } from '../../../core/v1/lookups.js';
import { WEBHOOK_MANAGE_SCOPES, WEBHOOK_TAG, WebhookObject } from './shared.js';

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/Webhooks/CreateEndpoint',
  name: 'Create a webhook',
  description:
    "Adds a URL that the organization's events (run failed, run missed, verify failed, backup restored) are POSTed to, signed with the secret; the secret is never answered back",
  method: 'POST',
  route: 'organizations/:organization/webhooks',
  tag: WEBHOOK_TAG,
  scopes: WEBHOOK_MANAGE_SCOPES,
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization whose events to send' },
    url: { type: StringScalar, required: true, description: 'An http or https URL' },
    secret: { type: StringScalar, required: true, description: 'The shared secret the bodies are signed with (at least 16 characters)' },
    description: { type: StringScalar, description: 'What it is for' },
  },
  errors: [ValidationError, PermissionDenied],
  fields: {
    webhook: { type: WebhookObject, description: 'The webhook created' },
  },
  async action({ args, services }) {
    const webhook = await services.webhooks.create({ organizationId: args.organization.id, url: args.url, secret: args.secret, description: args.description });
    return { webhook };
  },
});
