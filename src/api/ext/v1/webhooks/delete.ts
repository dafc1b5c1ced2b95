import { defineEndpoint } from '../../../framework/endpoint.js';
import { WEBHOOK_MANAGE_SCOPES, WEBHOOK_TAG, WebhookLookup, WebhookObject } from './shared.js';

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/Webhooks/DeleteEndpoint',
  name: 'Delete a webhook',
  description: 'Deletes the webhook, with its deliveries (sent or not) and their log',
  method: 'DELETE',
  route: 'webhooks/:webhook',
  tag: WEBHOOK_TAG,
  scopes: WEBHOOK_MANAGE_SCOPES,
  arguments: {
    webhook: { type: WebhookLookup, required: true, description: 'The webhook to delete' },
  },
  errors: [],
  fields: {
    webhook: { type: WebhookObject, description: 'The webhook deleted' },
  },
  async action({ args, services }) {
    return { webhook: await services.webhooks.delete(args.webhook.id) };
  },
});
