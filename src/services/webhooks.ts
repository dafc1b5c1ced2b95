/**
 * An organization's webhooks: create, list, delete, and each one's deliveries with their attempt
 * log. The secret is taken once and never answered back (docs/WEBHOOKS.md).
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { webhookInputErrors } from '../domain/webhook-rules.js';
import type { Database, WebhookDeliveryStatus, WebhookRow } from '../store/schema.js';
import { NotFound, ValidationFailed } from './errors.js';

/** Most webhooks one organization may have: each event is sent to every one of them. */
export const MAX_WEBHOOKS_PER_ORGANIZATION = 20;
/** Most deliveries a listing answers (the newest). */
export const MAX_DELIVERIES_LISTED = 1000;

/** A webhook as the services answer it: never its secret. */
export interface WebhookRecord {
  readonly id: string;
  readonly organization_id: string;
  readonly url: string;
  readonly description: string | null;
  readonly enabled: boolean;
  readonly created_at: number;
}

export interface DeliveryAttemptRecord {
  readonly attempt: number;
  readonly attempted_at: number;
  readonly duration_ms: number;
  readonly http_status: number | null;
  readonly error: string | null;
}

export interface DeliveryRecord {
  readonly id: string;
  readonly webhook_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly status: WebhookDeliveryStatus;
  readonly created_at: number;
  /** When it is tried next (while pending); null once delivered or given up. */
  readonly next_attempt_at: number | null;
  readonly attempts: number;
  readonly delivered_at: number | null;
  readonly last_http_status: number | null;
  readonly last_error: string | null;
  /** Every attempt, oldest first. */
  readonly log: readonly DeliveryAttemptRecord[];
}

export interface NewWebhook {
  readonly organizationId: string;
  readonly url: string;
  readonly secret: string;
  readonly description?: string | null | undefined;
}

function webhookRecord(row: Pick<WebhookRow, 'id' | 'organization_id' | 'url' | 'description' | 'enabled' | 'created_at'>): WebhookRecord {
  return {
    id: row.id,
    organization_id: row.organization_id,
    url: row.url,
    description: row.description,
    enabled: Number(row.enabled) === 1,
    created_at: row.created_at,
  };
}

const PUBLIC_COLUMNS = ['id', 'organization_id', 'url', 'description', 'enabled', 'created_at'] as const;

export class WebhookService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  /** Validates and stores a webhook; throws ValidationFailed (every problem named) or NotFound (no such organization). */
  async create(input: NewWebhook): Promise<WebhookRecord> {
    const url = input.url.trim();
    const description = input.description?.trim() || null;
    const errors = webhookInputErrors({ url, secret: input.secret, description });
    if (errors.length > 0) throw new ValidationFailed(errors);
    return this.db.transaction().execute(async (trx) => {
      const organization = await trx.selectFrom('organizations').select('id').where('id', '=', input.organizationId).executeTakeFirst();
      if (!organization) throw new NotFound(`No organization ${input.organizationId}`);
      const existing = await trx
        .selectFrom('webhooks')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('organization_id', '=', organization.id)
        .executeTakeFirstOrThrow();
      if (Number(existing.n) >= MAX_WEBHOOKS_PER_ORGANIZATION) {
        throw new ValidationFailed([`An organization may have at most ${MAX_WEBHOOKS_PER_ORGANIZATION} webhooks; delete one first`]);
      }
      const row = await trx
        .insertInto('webhooks')
        .values({ id: newId('webhook'), organization_id: organization.id, url, secret: input.secret, description, enabled: 1, created_at: this.clock.now() })
        .returning(PUBLIC_COLUMNS)
        .executeTakeFirstOrThrow();
      return webhookRecord(row);
    });
  }

  async find(id: string): Promise<WebhookRecord | null> {
    if (id.includes('\u0000')) return null;
    const row = await this.db.selectFrom('webhooks').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row ? webhookRecord(row) : null;
  }

  /** The organization's webhooks, oldest first. */
  async listForOrganization(organizationId: string): Promise<WebhookRecord[]> {
    const rows = await this.db.selectFrom('webhooks').select(PUBLIC_COLUMNS).where('organization_id', '=', organizationId).orderBy('pk').execute();
    return rows.map(webhookRecord);
  }

  /** Deletes the webhook with its deliveries (sent or not) and their log; answers what it was. */
  async delete(id: string): Promise<WebhookRecord> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('webhooks').where('id', '=', id).returning(PUBLIC_COLUMNS).executeTakeFirst();
      if (!row) throw new NotFound(`No webhook with id "${id}"`);
      await trx
        .deleteFrom('webhook_delivery_attempts')
        .where('delivery_id', 'in', (eb) => eb.selectFrom('webhook_deliveries').select('id').where('webhook_id', '=', id))
        .execute();
      await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      return webhookRecord(row);
    });
  }

  /** The webhook's deliveries, newest first (at most `limit`), each with its attempt log. */
  async deliveries(webhookId: string, limit = 100): Promise<DeliveryRecord[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'webhook_id', 'event_id', 'event_type', 'status', 'created_at', 'next_attempt_at', 'attempts', 'delivered_at', 'last_http_status', 'last_error'])
      .where('webhook_id', '=', webhookId)
      .orderBy('pk', 'desc')
      .limit(Math.max(1, Math.min(limit, MAX_DELIVERIES_LISTED)))
      .execute();
    if (rows.length === 0) return [];
    const attempts = await this.db
      .selectFrom('webhook_delivery_attempts')
      .select(['delivery_id', 'attempt', 'attempted_at', 'duration_ms', 'http_status', 'error'])
      .where('delivery_id', 'in', rows.map((row) => row.id))
      .orderBy('pk')
      .execute();
    const log = new Map<string, DeliveryAttemptRecord[]>();
    for (const { delivery_id, ...attempt } of attempts) log.set(delivery_id, [...(log.get(delivery_id) ?? []), attempt]);
    return rows.map((row) => ({ ...row, log: log.get(row.id) ?? [] }));
  }
}
