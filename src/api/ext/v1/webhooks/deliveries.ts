import { defineEndpoint } from '../../../framework/endpoint.js';
import { IntegerScalar } from '../../../framework/scalars.js';
import { MAX_DELIVERIES_LISTED } from '../../../../services/webhooks.js';
import { WEBHOOK_READ_SCOPES, WEBHOOK_TAG, WebhookDeliveryObject, WebhookLookup } from './shared.js';

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/Webhooks/DeliveriesEndpoint',
  name: "List a webhook's deliveries",
  description: 'Returns the events sent (or being sent) to the webhook, newest first, each with its attempt log',
  method: 'GET',
  route: 'webhooks/:webhook/deliveries',
  tag: WEBHOOK_TAG,
  scopes: WEBHOOK_READ_SCOPES,
  // Deliveries change as the dispatcher works, without touching the organization's generation.
  cacheable: false,
  arguments: {
    webhook: { type: WebhookLookup, required: true, description: 'The webhook whose deliveries to list' },
    limit: {
      type: IntegerScalar,
      default: 100,
      description: `The newest this many (1 to ${MAX_DELIVERIES_LISTED})`,
      validations: [{ name: `must be from 1 to ${MAX_DELIVERIES_LISTED}`, check: (value: number) => value >= 1 && value <= MAX_DELIVERIES_LISTED }],
    },
  },
  errors: [],
  fields: {
    deliveries: { type: WebhookDeliveryObject, array: true, description: 'The deliveries, newest first' },
  },
  async action({ args, services }) {
    return { deliveries: await services.webhooks.deliveries(args.webhook.id, args.limit) };
  },
});
