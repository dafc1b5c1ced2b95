/** What the webhook endpoints share: their objects, lookup, errors and scopes. */
import { defineError } from '../../../framework/errors.js';
import { BooleanScalar, IntegerScalar, StringScalar, UnixTimeScalar } from '../../../framework/scalars.js';
import { enumType, lookup, objectType } from '../../../framework/types.js';
import { findUnlessNul, guard } from '../../../core/v1/lookups.js';
import type { DeliveryAttemptRecord, DeliveryRecord, WebhookRecord } from '../../../../services/webhooks.js';
import { EVENT_TYPES } from '../../../../webhooks/events.js';

export const WEBHOOK_TAG = 'Webhooks (extension)';
/** Webhooks are the organization's notifications of its backups: the policies' scopes guard them. */
export const WEBHOOK_READ_SCOPES = ['disk_backup_policies', 'disk_backup_policies:read'] as const;
export const WEBHOOK_MANAGE_SCOPES = ['disk_backup_policies'] as const;

export const WebhookNotFound = defineError({
  id: 'ExtAPI/ArgumentSets/WebhookLookup/WebhookNotFound',
  code: 'webhook_not_found',
  httpStatus: 404,
  description: 'No webhook was found matching any of the criteria provided in the arguments',
});

export const WebhookLookup = lookup<WebhookRecord>({
  id: 'ExtAPI/ArgumentSets/WebhookLookup',
  name: 'WebhookLookup',
  description: 'Provides for webhooks to be looked up',
  arguments: { id: { type: StringScalar } },
  errors: [WebhookNotFound],
  async resolve(values, context) {
    const found = await findUnlessNul(values, () => (values.id ? context.services.webhooks.find(values.id) : Promise.resolve(null)));
    return guard(found, WebhookNotFound, (w) => ({ organizationId: w.organization_id, objectId: null }), context);
  },
});

export const WebhookObject = objectType({
  id: 'ExtAPI/Objects/Webhook',
  name: 'Webhook',
  fields: {
    id: { type: StringScalar },
    url: { type: StringScalar, description: 'Where the events are POSTed' },
    description: { type: StringScalar, nullable: true },
    enabled: { type: BooleanScalar, description: 'Whether new events are sent to it' },
    created_at: { type: UnixTimeScalar, value: (w: WebhookRecord) => w.created_at },
  },
});

export const DeliveryAttemptObject = objectType({
  id: 'ExtAPI/Objects/WebhookDeliveryAttempt',
  name: 'WebhookDeliveryAttempt',
  fields: {
    attempt: { type: IntegerScalar },
    attempted_at: { type: UnixTimeScalar, value: (a: DeliveryAttemptRecord) => a.attempted_at },
    duration_ms: { type: IntegerScalar },
    http_status: { type: IntegerScalar, nullable: true, description: "The receiver's status; null when no answer came" },
    error: { type: StringScalar, nullable: true, description: 'Why the attempt failed; null when it delivered' },
  },
});

export const WebhookDeliveryObject = objectType({
  id: 'ExtAPI/Objects/WebhookDelivery',
  name: 'WebhookDelivery',
  fields: {
    id: { type: StringScalar },
    event_id: { type: StringScalar, description: 'The event (the same for every webhook it was sent to, and on every retry)' },
    event_type: { type: enumType('ExtAPI/Objects/WebhookEventTypeEnum', 'WebhookEventTypeEnum', [...EVENT_TYPES]) },
    status: { type: enumType('ExtAPI/Objects/WebhookDeliveryStatusEnum', 'WebhookDeliveryStatusEnum', ['pending', 'delivered', 'failed']) },
    created_at: { type: UnixTimeScalar, value: (d: DeliveryRecord) => d.created_at },
    next_attempt_at: { type: UnixTimeScalar, nullable: true, value: (d: DeliveryRecord) => d.next_attempt_at },
    attempts: { type: IntegerScalar },
    delivered_at: { type: UnixTimeScalar, nullable: true, value: (d: DeliveryRecord) => d.delivered_at },
    last_http_status: { type: IntegerScalar, nullable: true },
    last_error: { type: StringScalar, nullable: true },
    log: { type: DeliveryAttemptObject, array: true, description: 'Every attempt, oldest first' },
  },
});
