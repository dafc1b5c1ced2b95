/**
 * The trash: a deleted object is kept, restorable, until its `keep_until`; purging (asked for, or
 * once past `keep_until`) deletes it for good. Each object type registers how it is purged.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { TRASH_RETENTION_SECONDS } from '../domain/policy-rules.js';
import type { Database, Task, TrashObject } from '../store/schema.js';
import { prepareQuery, type PreparedQuery } from '../store/prepared.js';
import { countUpTo } from './inventory.js';
import { offsetOf, paginationFor, type Page, type PageRequest } from './pagination.js';

/** Deletes the object behind a trash object, inside the purging transaction. */
export type Purger = (trx: Transaction<Database>, objectId: string) => Promise<void>;

export const PURGE_TASK_NAME = 'Purge items from trash';

export class TrashService {
  private readonly purgers = new Map<string, Purger>();

  /** Every lookup of a trashable object runs one of these (to answer object_in_trash): prepared once. */
  private readonly findBy: Record<'id' | 'object_id', PreparedQuery<{ key: string }, TrashObject>>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {
    const byColumn = (column: 'id' | 'object_id') =>
      prepareQuery(db, ['key'], ({ key }: { key: string }) => db.selectFrom('trash_objects').selectAll().where(column, '=', key));
    this.findBy = { id: byColumn('id'), object_id: byColumn('object_id') };
  }

  registerPurger(objectType: string, purger: Purger): void {
    this.purgers.set(objectType, purger);
  }

  /** Puts an object in the trash; putting it there twice (two racing deletes) keeps the first. */
  async put(
    input: { organizationId: string; objectType: string; objectId: string },
    db: Kysely<Database> = this.db,
  ): Promise<TrashObject> {
    const now = this.clock.now();
    await db
      .insertInto('trash_objects')
      .values({
        id: newId('trashObject'),
        organization_id: input.organizationId,
        object_type: input.objectType,
        object_id: input.objectId,
        keep_until: now + TRASH_RETENTION_SECONDS,
        created_at: now,
      })
      .onConflict((oc) => oc.column('object_id').doNothing())
      .execute();
    return db.selectFrom('trash_objects').selectAll().where('object_id', '=', input.objectId).executeTakeFirstOrThrow();
  }

  async find(by: { id?: string | null; object_id?: string | null }): Promise<TrashObject | null> {
    const [row] =
      by.id != null
        ? await this.findBy.id({ key: by.id })
        : by.object_id != null
          ? await this.findBy.object_id({ key: by.object_id })
          : [];
    return row ?? null;
  }

  async list(organizationId: string, page: PageRequest): Promise<Page<TrashObject>> {
    const base = this.db.selectFrom('trash_objects').where('organization_id', '=', organizationId);
    const [items, total] = await Promise.all([
      base.selectAll().orderBy('pk').limit(page.perPage).offset(offsetOf(page)).execute(),
      countUpTo(this.db, base),
    ]);
    return { items, pagination: paginationFor(page, total) };
  }

  /** Takes the object out of the trash; it is live again. */
  async restore(trashObject: TrashObject): Promise<TrashObject> {
    await this.db.deleteFrom('trash_objects').where('id', '=', trashObject.id).execute();
    return trashObject;
  }

  /** Purges one trash object now; answers the (finished) task that did it. */
  purge(trashObject: TrashObject): Promise<Task> {
    return this.purgeAsTask(trashObject.organization_id, (trx) => this.purgeWithin(trx, [trashObject]));
  }

  purgeAll(organizationId: string): Promise<Task> {
    return this.purgeAsTask(organizationId, async (trx) => {
      const all = await trx.selectFrom('trash_objects').selectAll().where('organization_id', '=', organizationId).execute();
      await this.purgeWithin(trx, all);
    });
  }

  /** Purges everything past its keep_until; returns how many objects went. */
  async purgeExpired(): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const expired = await trx
        .selectFrom('trash_objects')
        .selectAll()
        .where('keep_until', '<=', this.clock.now())
        .execute();
      await this.purgeWithin(trx, expired);
      return expired.length;
    });
  }

  private async purgeWithin(trx: Transaction<Database>, trashObjects: readonly TrashObject[]): Promise<void> {
    for (const trashObject of trashObjects) {
      const purger = this.purgers.get(trashObject.object_type);
      if (!purger) throw new Error(`No purger for ${trashObject.object_type}`);
      await purger(trx, trashObject.object_id);
      await trx.deleteFrom('trash_objects').where('id', '=', trashObject.id).execute();
    }
  }

  /**
   * The real API queues a background task and answers it as `pending`; here the purge is done in the
   * same transaction as the task's creation, so the task is answered as it really is: completed.
   */
  private async purgeAsTask(organizationId: string, work: (trx: Transaction<Database>) => Promise<void>): Promise<Task> {
    return this.db.transaction().execute(async (trx) => {
      const now = this.clock.now();
      await work(trx);
      return trx
        .insertInto('tasks')
        .values({
          id: newId('task'),
          organization_id: organizationId,
          name: PURGE_TASK_NAME,
          status: 'completed',
          created_at: now,
          started_at: now,
          finished_at: now,
          progress: 100,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
  }
}
