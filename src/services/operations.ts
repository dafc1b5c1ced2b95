/**
 * Long operations (a run now, a restore, a verification) done in the background of the process that
 * was asked, their progress written to the `operations` table (migration 0015) so that any process on
 * the same database can report it: API processes on one PostgreSQL share nothing else.
 *
 * Progress is written at most every PROGRESS_WRITE_MS, and the row's heartbeat at least every
 * HEARTBEAT_SECONDS while it runs. A process that dies (kill -9, a crash, a lost machine) leaves a
 * `running` row whose heartbeat stops: once it is older than STALE_AFTER_SECONDS the row is
 * reported, and recorded, as failed ("interrupted"), by whichever process reads it first.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { Database, OperationKind, OperationRow, OperationStatus } from '../store/schema.js';

export const PROGRESS_WRITE_MS = 500;
export const HEARTBEAT_SECONDS = 5;
export const STALE_AFTER_SECONDS = 30;
/** How long a finished operation stays readable before the workers' sweep deletes it. */
export const KEEP_FINISHED_SECONDS = 7 * 24 * 3600;

export interface OperationProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** An operation as the services answer it: `result` parsed. */
export interface Operation extends Omit<OperationRow, 'pk' | 'result'> {
  readonly result: unknown;
}

/** What an operation does: it reports its progress through `onProgress` and answers its result (kept as JSON). */
export type OperationWork = (onProgress: (progress: OperationProgress) => void) => Promise<unknown>;

export interface OperationStart {
  readonly kind: OperationKind;
  readonly organizationId: string;
  readonly subjectId: string;
  readonly work: OperationWork;
  /** The sentence recorded when the work throws (the error's message when absent). */
  readonly explain?: (error: unknown) => string;
}

export function operationRecord({ pk: _pk, result, ...row }: OperationRow): Operation {
  return { ...row, result: result === null ? null : JSON.parse(result) };
}

export class OperationService {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  /**
   * Records the operation as running and starts its work in the background. Answers the operation as
   * recorded, and `done`, which settles when the work has ended and its outcome is recorded: it
   * rejects with the work's error, for a caller that must tell an immediate refusal apart.
   */
  async start(start: OperationStart): Promise<{ operation: Operation; done: Promise<unknown> }> {
    const now = this.clock.now();
    const row = await this.db
      .insertInto('operations')
      .values({ id: newId('operation'), organization_id: start.organizationId, kind: start.kind, subject_id: start.subjectId, status: 'running', created_at: now, heartbeat_at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    const done = this.perform(row.id, start);
    const recorded = done.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(recorded);
    void recorded.finally(() => this.inFlight.delete(recorded));
    return { operation: operationRecord(row), done };
  }

  /** The operation, or null; a running one whose heartbeat stopped is recorded as failed first. */
  async find(id: string): Promise<Operation | null> {
    const row = await this.db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const now = this.clock.now();
    if (row.status === 'running' && row.heartbeat_at < now - STALE_AFTER_SECONDS) {
      await this.db
        .updateTable('operations')
        .set({ status: 'failed', error: `interrupted: the process doing it stopped (no heartbeat for more than ${STALE_AFTER_SECONDS} s)`, finished_at: now })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .where('heartbeat_at', '<', now - STALE_AFTER_SECONDS)
        .execute();
      return this.find(id);
    }
    return operationRecord(row);
  }

  /**
   * Deletes up to `limit` operations that finished more than `keepSeconds` ago, oldest first; answers
   * how many. A running one (even an interrupted one not yet read) is never deleted.
   */
  async pruneFinished(keepSeconds: number, limit: number): Promise<number> {
    const before = this.clock.now() - keepSeconds;
    const result = await this.db
      .deleteFrom('operations')
      .where('pk', 'in', (eb) => eb.selectFrom('operations').select('pk').where('finished_at', '<', before).orderBy('finished_at').orderBy('pk').limit(limit))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Settles once every operation this process started has ended and been recorded (for a clean shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async perform(id: string, start: OperationStart): Promise<unknown> {
    let latest: OperationProgress = { bytesDone: 0, bytesTotal: 0 };
    let lastWriteMs = 0;
    let writing: Promise<void> = Promise.resolve();
    let writePending = false;
    const write = () => {
      if (writePending) return;
      writePending = true;
      lastWriteMs = performance.now();
      writing = writing
        .then(() => {
          writePending = false;
          return this.update(id, { bytes_done: latest.bytesDone, bytes_total: latest.bytesTotal, heartbeat_at: this.clock.now() });
        })
        // A missed progress write is not the operation's failure: the next one, or the end, catches up.
        .catch(() => undefined);
    };
    const onProgress = (progress: OperationProgress) => {
      latest = { bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal };
      if (performance.now() - lastWriteMs >= PROGRESS_WRITE_MS) write();
    };
    const heartbeat = setInterval(write, HEARTBEAT_SECONDS * 1000);
    let outcome: { status: OperationStatus; result?: unknown; error?: string };
    try {
      outcome = { status: 'succeeded', result: await start.work(onProgress) };
    } catch (error) {
      outcome = { status: 'failed', error: start.explain?.(error) ?? ((error as Error)?.message ?? String(error)) };
      await this.finish(id, outcome, latest, heartbeat, writing);
      throw error;
    }
    await this.finish(id, outcome, latest, heartbeat, writing);
    return outcome.result;
  }

  private async finish(
    id: string,
    outcome: { status: OperationStatus; result?: unknown; error?: string },
    progress: OperationProgress,
    heartbeat: NodeJS.Timeout,
    writing: Promise<void>,
  ): Promise<void> {
    clearInterval(heartbeat);
    await writing;
    const now = this.clock.now();
    await this.update(id, {
      status: outcome.status,
      bytes_done: progress.bytesDone,
      bytes_total: progress.bytesTotal,
      error: outcome.error ?? null,
      result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
      heartbeat_at: now,
      finished_at: now,
    });
  }

  private async update(id: string, values: Partial<Omit<OperationRow, 'pk' | 'id'>>): Promise<void> {
    // A row another process already found interrupted stays so.
    await this.db.updateTable('operations').set(values).where('id', '=', id).where('status', '=', 'running').execute();
  }
}
