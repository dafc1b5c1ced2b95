/**
 * Delivers the outbox (events.ts) to the webhooks, at least once, from any number of worker processes.
 *
 * Each look claims up to `batchSize` due rows in one write transaction (PostgreSQL: `FOR UPDATE SKIP
 * LOCKED`, so workers take disjoint rows; SQLite: the single writer) by pushing their
 * `next_attempt_at` a lease ahead and counting the attempt. It then POSTs each body, signed, and
 * writes the outcome with the attempt's log line: 2xx → delivered; anything else → due again after
 * an exponential backoff with jitter, or given up (`failed`) once the event is `giveUpAfterSeconds`
 * old. A process killed mid-delivery writes nothing: the row is due again when its lease ends and
 * any process sends it again, with the same event id (receivers deduplicate on it). An outcome is
 * written only by the claim it belongs to (same attempt number, still pending), so a process that
 * outlived its lease cannot overwrite a newer claim's outcome.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import type { Engine } from '../store/database.js';
import type { Database, WebhookDeliveryRow } from '../store/schema.js';
import { writeTransaction } from '../store/write-transaction.js';
import { isOneOf } from '../scheduler/sql-lists.js';
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, signatureOf, SIGNATURE_HEADER } from './signature.js';
import { DEFAULT_DISPATCHER_SETTINGS, retryDelaySeconds, type DispatcherSettings } from './settings.js';

export interface DispatcherDependencies {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  readonly clock: Clock;
  readonly logger: Logger | false;
  readonly settings?: Partial<DispatcherSettings>;
  /** Identifies this process in its log lines. */
  readonly workerId?: string;
}

/** A claimed delivery with where to send it. */
interface Claimed {
  readonly delivery: Pick<WebhookDeliveryRow, 'id' | 'event_id' | 'event_type' | 'webhook_id' | 'body' | 'created_at' | 'attempts'>;
  readonly url: string;
  readonly secret: string;
}

/** How one attempt went. */
interface AttemptOutcome {
  readonly delivered: boolean;
  readonly httpStatus: number | null;
  readonly error: string | null;
  readonly durationMs: number;
}

export class WebhookDispatcher {
  readonly settings: DispatcherSettings;
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly dependencies: DispatcherDependencies) {
    this.settings = { ...DEFAULT_DISPATCHER_SETTINGS, ...dependencies.settings };
  }

  start(): void {
    if (this.loopDone) return;
    this.stopping = false;
    this.loopDone = this.loop();
  }

  /** Stops looking; waits for the deliveries in flight (each bounded by `timeoutMs`) to be written. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loopDone;
    this.loopDone = undefined;
  }

  /** One look: claims what is due and delivers it; answers how many deliveries were attempted. */
  async deliverDue(): Promise<number> {
    const claimed = await this.claim();
    await Promise.all(claimed.map((item) => this.deliver(item)));
    return claimed.length;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let attempted = 0;
      try {
        attempted = await this.deliverDue();
      } catch (error) {
        this.log('warn', { err: error }, 'webhooks: could not claim or record deliveries; trying again');
      }
      if (attempted < this.settings.batchSize) await this.sleep(this.settings.pollMs);
    }
  }

  private async claim(): Promise<Claimed[]> {
    const { db, engine, clock } = this.dependencies;
    const now = clock.now();
    // A plain read first: an idle worker looks every `pollMs`, and should not take the write lock (SQLite) to find nothing.
    const anyDue = await db.selectFrom('webhook_deliveries').select('id').where('next_attempt_at', '<=', now).limit(1).executeTakeFirst();
    if (!anyDue) return [];
    return writeTransaction(db, engine, async (trx) => {
      const due = await trx
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .orderBy('pk')
        .limit(this.settings.batchSize)
        .$if(engine === 'postgres', (query) => query.forUpdate().skipLocked())
        .execute();
      if (due.length === 0) return [];
      const deliveries = await trx
        .updateTable('webhook_deliveries')
        .set((eb) => ({ next_attempt_at: now + this.settings.leaseSeconds, attempts: eb('attempts', '+', 1) }))
        .where(isOneOf(engine, 'id', due.map((row) => row.id)))
        .returning(['id', 'event_id', 'event_type', 'webhook_id', 'body', 'created_at', 'attempts'])
        .execute();
      const webhooks = await trx
        .selectFrom('webhooks')
        .select(['id', 'url', 'secret'])
        .where(isOneOf(engine, 'id', [...new Set(deliveries.map((row) => row.webhook_id))]))
        .execute();
      const byId = new Map(webhooks.map((webhook) => [webhook.id, webhook]));
      // A webhook deleted meanwhile took its deliveries with it; a row left without one is not sent.
      return deliveries.flatMap((delivery) => {
        const webhook = byId.get(delivery.webhook_id);
        return webhook ? [{ delivery, url: webhook.url, secret: webhook.secret }] : [];
      });
    });
  }

  private async deliver(item: Claimed): Promise<void> {
    const outcome = await this.post(item);
    try {
      await this.record(item, outcome);
    } catch (error) {
      // Not written: the lease ends and the delivery is sent again (at least once, never lost).
      this.log('warn', { err: error, delivery: item.delivery.id }, 'webhooks: could not record a delivery attempt; it is sent again when its lease ends');
    }
  }

  private async post({ delivery, url, secret }: Claimed): Promise<AttemptOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'dbp-webhooks/1',
          [EVENT_ID_HEADER]: delivery.event_id,
          [EVENT_TYPE_HEADER]: delivery.event_type,
          [SIGNATURE_HEADER]: signatureOf(delivery.body, secret),
        },
        body: delivery.body,
        // A redirect is an answer, not a delivery: the signed body goes only where it was configured to.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      // The answer's body is not used; read it off (bounded by the same timeout) to free the connection.
      await response.arrayBuffer().catch(() => undefined);
      const delivered = response.status >= 200 && response.status < 300;
      return { delivered, httpStatus: response.status, error: delivered ? null : `HTTP ${response.status}`, durationMs: elapsed() };
    } catch (error) {
      return { delivered: false, httpStatus: null, error: this.describe(error), durationMs: elapsed() };
    }
  }

  private describe(error: unknown): string {
    const failure = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (failure?.name === 'TimeoutError') return `no answer within ${this.settings.timeoutMs} ms`;
    const cause = failure?.cause;
    if (cause?.code) return `${failure.message ?? 'request failed'}: ${cause.code}`;
    if (cause?.message) return `${failure.message ?? 'request failed'}: ${cause.message}`;
    return failure?.message ?? String(error);
  }

  /** Writes the attempt's log line and the delivery's new state, in one transaction. */
  private async record({ delivery }: Claimed, outcome: AttemptOutcome): Promise<void> {
    const { db, engine, clock } = this.dependencies;
    const now = clock.now();
    const retryAt = now + retryDelaySeconds(this.settings, delivery.attempts);
    const givenUp = !outcome.delivered && retryAt > delivery.created_at + this.settings.giveUpAfterSeconds;
    await writeTransaction(db, engine, async (trx) => {
      await trx
        .insertInto('webhook_delivery_attempts')
        .values({
          delivery_id: delivery.id,
          attempt: delivery.attempts,
          attempted_at: now,
          duration_ms: outcome.durationMs,
          http_status: outcome.httpStatus,
          error: outcome.error,
        })
        .execute();
      await trx
        .updateTable('webhook_deliveries')
        .set(
          outcome.delivered
            ? { status: 'delivered', delivered_at: now, next_attempt_at: null, last_http_status: outcome.httpStatus, last_error: null }
            : {
                status: givenUp ? 'failed' : 'pending',
                next_attempt_at: givenUp ? null : retryAt,
                last_http_status: outcome.httpStatus,
                last_error: givenUp ? `given up after ${delivery.attempts} attempts: ${outcome.error}` : outcome.error,
              },
        )
        .where('id', '=', delivery.id)
        .where('attempts', '=', delivery.attempts)
        .where('status', '=', 'pending')
        .execute();
    });
    const fields = {
      delivery: delivery.id, event: delivery.event_id, type: delivery.event_type, webhook: delivery.webhook_id,
      attempt: delivery.attempts, http_status: outcome.httpStatus, error: outcome.error, duration_ms: outcome.durationMs,
      worker: this.dependencies.workerId,
    };
    if (outcome.delivered) this.log('info', fields, 'webhook delivered');
    else this.log('warn', { ...fields, retry_at: givenUp ? null : retryAt }, givenUp ? 'webhook delivery given up' : 'webhook delivery failed; retrying later');
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private log(level: 'info' | 'warn', fields: object, message: string): void {
    const { logger } = this.dependencies;
    if (logger) logger[level](fields, message);
  }
}
