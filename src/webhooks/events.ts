/**
 * Events that notify an organization's webhooks, and the outbox they are written to. `recordEvents`
 * is called with the transaction of the change that causes the events (a run's ending, a restore's
 * new disk, …): the outbox rows commit or roll back with that change, so an event is never lost nor
 * announced for a change that did not happen. The dispatcher (dispatcher.ts) delivers them later.
 *
 * Body (schema `dbp.event.v1`, docs/WEBHOOKS.md):
 *   {"schema":"dbp.event.v1","id":"evt_…","type":"backup_run.failed","occurred_at":<Unix s>,
 *    "organization":{"id":"org_…"},"data":{…}}
 * Every webhook of the organization gets the same body bytes with the same event id.
 */
import type { Kysely } from 'kysely';
import { newId, newTimeOrderedId } from '../domain/ids.js';
import type { BackupRunRow, Database } from '../store/schema.js';

export const EVENT_SCHEMA = 'dbp.event.v1';

export const EVENT_TYPES = ['backup_run.failed', 'backup_run.missed', 'verify.failed', 'backup.restored'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface NewEvent {
  readonly type: EventType;
  readonly organizationId: string;
  /** Unix seconds. */
  readonly occurredAt: number;
  readonly data: Record<string, unknown>;
}

/** The body of an event as it is sent and signed (JSON text). */
export function eventBody(id: string, event: NewEvent): string {
  return JSON.stringify({
    schema: EVENT_SCHEMA,
    id,
    type: event.type,
    occurred_at: event.occurredAt,
    organization: { id: event.organizationId },
    data: event.data,
  });
}

/**
 * The enabled webhooks of the organizations, in creation order. The `in` list is padded (with its
 * last id) to a power of two, so that few statement texts exist (SQLite caches prepared statements
 * by their text) without needing to know the engine.
 */
async function enabledWebhooksOf(db: Kysely<Database>, organizations: readonly string[]): Promise<{ id: string; organization_id: string }[]> {
  const found: { id: string; organization_id: string }[] = [];
  for (let start = 0; start < organizations.length; start += MAX_IN_LIST) {
    const part = organizations.slice(start, start + MAX_IN_LIST);
    let size = 1;
    while (size < part.length) size *= 2;
    const padded = [...part, ...Array<string>(size - part.length).fill(part[part.length - 1]!)];
    found.push(...(await db.selectFrom('webhooks').select(['pk', 'id', 'organization_id']).where('organization_id', 'in', padded).where('enabled', '=', 1).orderBy('pk').execute()));
  }
  return found;
}

const MAX_IN_LIST = 512;

/** Rows per insert statement (SQLite binds at most 32 766 values; 10 a row). */
const INSERT_CHUNK = 500;

/**
 * Writes each event's outbox rows, one per enabled webhook of its organization, through `db` (the
 * caller's transaction). Answers how many rows were written: 0 when no organization has a webhook.
 */
export async function recordEvents(db: Kysely<Database>, events: readonly NewEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const organizations = [...new Set(events.map((event) => event.organizationId))];
  const webhooks = await enabledWebhooksOf(db, organizations);
  if (webhooks.length === 0) return 0;
  const byOrganization = new Map<string, string[]>();
  for (const webhook of webhooks) byOrganization.set(webhook.organization_id, [...(byOrganization.get(webhook.organization_id) ?? []), webhook.id]);
  const rows = events.flatMap((event) => {
    const targets = byOrganization.get(event.organizationId) ?? [];
    if (targets.length === 0) return [];
    const eventId = newTimeOrderedId('webhookEvent');
    const body = eventBody(eventId, event);
    return targets.map((webhookId) => ({
      id: newId('webhookDelivery'),
      event_id: eventId,
      webhook_id: webhookId,
      organization_id: event.organizationId,
      event_type: event.type,
      body,
      created_at: event.occurredAt,
      status: 'pending' as const,
      // Due at once: the dispatcher picks it up at its next look.
      next_attempt_at: event.occurredAt,
      attempts: 0,
    }));
  });
  for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
    await db.insertInto('webhook_deliveries').values(rows.slice(start, start + INSERT_CHUNK)).execute();
  }
  return rows.length;
}

/** What a run event says of its run. */
export interface RunFacts {
  readonly id: string;
  readonly policyId: string;
  readonly organizationId: string;
  readonly diskIds: readonly string[];
  readonly scheduledAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number;
  readonly attempts: number;
  /** A manual run (`dbp policy run`, /ext/v1 run), not a scheduled instant. */
  readonly manual: boolean;
  readonly error: string | null;
}

/** A finished run's row as its events tell it. */
export function runFactsOf(row: BackupRunRow, manual: boolean): RunFacts {
  return {
    id: row.id,
    policyId: row.policy_id,
    organizationId: row.organization_id,
    diskIds: JSON.parse(row.target_disk_ids) as string[],
    scheduledAt: row.scheduled_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? row.claimed_at,
    attempts: row.attempts,
    manual,
    error: row.error,
  };
}

function runData(run: RunFacts) {
  return {
    id: run.id,
    disk_backup_policy_id: run.policyId,
    disk_ids: run.diskIds,
    scheduled_at: run.scheduledAt,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
    attempts: run.attempts,
    manual: run.manual,
    error: run.error,
  };
}

/** `backup_run.failed`: a run ended failed (a disk could not be backed up, its workers died, …). */
export function runFailedEvent(run: RunFacts): NewEvent {
  return { type: 'backup_run.failed', organizationId: run.organizationId, occurredAt: run.finishedAt, data: { run: runData(run) } };
}

/**
 * `backup_run.missed`: a scheduled instant of a policy that took no backup without failing: its run
 * was recorded as skipped (the previous run still running, or no backup engine in the worker).
 */
export function runSkippedEvent(run: RunFacts): NewEvent {
  return {
    type: 'backup_run.missed',
    organizationId: run.organizationId,
    occurredAt: run.finishedAt,
    data: { disk_backup_policy_id: run.policyId, reason: 'skipped', missed_at: [run.scheduledAt], more_missed: false, run: runData(run) },
  };
}

/**
 * `backup_run.missed` for instants no run was made for: the workers were down (or behind) past
 * them, and a claim after the outage runs only the oldest overdue instant, the series resuming after
 * now (scheduler/claims.ts). `missed_at` lists them, the first MAX_MISSED_LISTED (`more_missed` when
 * there were more); `late_run_id` is the run of the overdue instant that does run, late.
 */
export function instantsMissedEvent(policy: { id: string; organizationId: string }, missedAt: readonly number[], more: boolean, now: number, lateRunId: string | null): NewEvent {
  return {
    type: 'backup_run.missed',
    organizationId: policy.organizationId,
    occurredAt: now,
    data: { disk_backup_policy_id: policy.id, reason: 'not_run', missed_at: missedAt, more_missed: more, late_run_id: lateRunId },
  };
}

export const MAX_MISSED_LISTED = 100;

/** What an event says of a backup. */
export interface BackupFacts {
  readonly id: string;
  readonly policy_id: string;
  readonly disk_id: string;
  readonly created_at: number;
}

function backupData(backup: BackupFacts) {
  return { id: backup.id, disk_backup_policy_id: backup.policy_id, disk_id: backup.disk_id, created_at: backup.created_at };
}

/**
 * `verify.failed`: a verification found backups of the organization unreadable or not authentic
 * (bad chunks or manifests). One event per organization, naming its affected backups.
 */
export function verifyFailedEvent(
  organizationId: string,
  backups: readonly BackupFacts[],
  findings: { chunksChecked: number; badChunks: number; badManifests: number },
  now: number,
): NewEvent {
  return {
    type: 'verify.failed',
    organizationId,
    occurredAt: now,
    data: {
      backups: backups.map(backupData),
      chunks_checked: findings.chunksChecked,
      bad_chunks: findings.badChunks,
      bad_manifests: findings.badManifests,
    },
  };
}

/** Where a restore wrote the backup's image. */
export type RestoreTarget =
  | { readonly type: 'file'; readonly path: string }
  | { readonly type: 'disk'; readonly diskId: string }
  | { readonly type: 'rbd'; readonly image: string };

/** `backup.restored`: a backup's image was restored, to a file, a new RBD image or a new disk. */
export function backupRestoredEvent(organizationId: string, backup: BackupFacts, target: RestoreTarget, now: number): NewEvent {
  return {
    type: 'backup.restored',
    organizationId,
    occurredAt: now,
    data: {
      backup: backupData(backup),
      target:
        target.type === 'file'
          ? { type: 'file', path: target.path }
          : target.type === 'rbd'
            ? { type: 'rbd', image: target.image }
            : { type: 'disk', disk_id: target.diskId },
    },
  };
}
