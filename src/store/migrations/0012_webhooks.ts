import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * Webhook notifications (docs/WEBHOOKS.md):
 * - `webhooks`: an organization's endpoints. `secret` is the shared secret the bodies are signed
 *   with, so it has to be kept as it is (unlike an API token's, which is only compared): it lives in
 *   the catalogue and is never answered back.
 * - `webhook_deliveries`: the outbox, one row per event per webhook, written in the transaction of the
 *   change that caused the event. `next_attempt_at` is both the retry time and the lease of a claimed
 *   row (a claim pushes it a lease ahead), so a row whose process died is due again by itself; it is
 *   null once the row is delivered or given up (`status`).
 * - `webhook_delivery_attempts`: the delivery log, one row per attempt.
 */
export async function up(db: Kysely<any>, { pkType }: MigrationContext): Promise<void> {
  await db.schema
    .createTable('webhooks')
    .addColumn('pk', pkType, (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhooks_by_organization').on('webhooks').columns(['organization_id', 'pk']).execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('pk', pkType, (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('webhook_id', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('delivered_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('last_http_status', 'integer')
    .addUniqueConstraint('webhook_deliveries_once_per_event', ['event_id', 'webhook_id'])
    .execute();
  // Only rows still to deliver have a next attempt: the dispatcher's claim reads this index alone.
  await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').column('next_attempt_at').execute();
  await db.schema.createIndex('webhook_deliveries_by_webhook').on('webhook_deliveries').columns(['webhook_id', 'pk']).execute();

  await db.schema
    .createTable('webhook_delivery_attempts')
    .addColumn('pk', pkType, (c) => c.primaryKey())
    .addColumn('delivery_id', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('attempted_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('http_status', 'integer')
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('webhook_delivery_attempts_by_delivery').on('webhook_delivery_attempts').columns(['delivery_id', 'pk']).execute();
}
