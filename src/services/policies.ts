/**
 * Disk backup policies: create, list, change, delete (to the trash) and schedule deletion.
 * Each write is one transaction; validation happens before anything is written.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import {
  MINIMUM_SCHEDULED_DELETE_SECONDS,
  SCHEDULE_DEFAULTS,
  policyErrors,
} from '../domain/policy-rules.js';
import { firstInvocation, resolveTimeZone, type ScheduleInterval } from '../domain/schedule.js';
import { prepareQuery } from '../store/prepared.js';
import type { Database, DiskBackupPolicy, TrashObject } from '../store/schema.js';
import { InvalidTimestamp, ValidationFailed } from './errors.js';
import { countUpTo, type InventoryService } from './inventory.js';
import { offsetOf, paginationFor, type Page, type PageRequest } from './pagination.js';
import type { TrashService } from './trash.js';

export type TargetType = 'Disk' | 'VirtualMachine';

/** What a policy backs up: one disk, or every disk of a virtual machine. */
export interface PolicyTarget {
  readonly type: TargetType;
  readonly id: string;
  readonly name: string;
}

export interface PolicyRecord extends DiskBackupPolicy {
  readonly target: PolicyTarget;
  /** Only from `find`: the policy's trash object, read in the same query (null: not in the trash). */
  readonly trashObject?: TrashObjectSummary | null;
}

/** What a lookup needs of a trash object to answer `object_in_trash`. */
export type TrashObjectSummary = Pick<TrashObject, 'id' | 'keep_until' | 'object_id' | 'object_type'>;

/** The changes a caller asks for; anything left out stays as it is (or takes its default on create). */
export interface PolicyChanges {
  retention?: number | null | undefined;
  schedule?:
    | {
        interval?: ScheduleInterval | null | undefined;
        frequency?: number | null | undefined;
        time?: number | null | undefined;
        minute?: number | null | undefined;
      }
    | null
    | undefined;
}

export const POLICY_OBJECT_TYPE = 'DiskBackupPolicy';

export class PolicyService {
  /** The queries of the hot paths (lookup, update), prepared once. */
  private readonly prepared;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly inventory: InventoryService,
    private readonly trash: TrashService,
  ) {
    this.prepared = this.prepareQueries();
  }

  async find(id: string | null): Promise<PolicyRecord | null> {
    if (id == null) return null;
    const [row] = await this.prepared.findById({ id });
    if (!row) return null;
    const { trash_id, trash_keep_until, trash_object_type, ...policy } = row;
    const trashObject =
      trash_id === null ? null : { id: trash_id, keep_until: Number(trash_keep_until), object_id: policy.id, object_type: trash_object_type! };
    return { ...policyRecord(policy), trashObject };
  }

  listForOrganization(organizationId: string, page: PageRequest): Promise<Page<PolicyRecord>> {
    return this.page(this.live().where('p.organization_id', '=', organizationId), page);
  }

  listForDisk(diskId: string, page: PageRequest): Promise<Page<PolicyRecord>> {
    return this.page(this.live().where('p.target_type', '=', 'Disk').where('p.target_id', '=', diskId), page);
  }

  /**
   * Every live policy, oldest first, narrowed by organization, by disk (its own policies) and by
   * virtual machine (its own and its attached disks'), for the CLI's `policy list`.
   */
  async all(filter: { organizationId?: string; diskId?: string; virtualMachineId?: string } = {}): Promise<PolicyRecord[]> {
    let query = this.live();
    if (filter.organizationId !== undefined) query = query.where('p.organization_id', '=', filter.organizationId);
    if (filter.diskId !== undefined) query = query.where('p.target_type', '=', 'Disk').where('p.target_id', '=', filter.diskId);
    const vmId = filter.virtualMachineId;
    if (vmId !== undefined) {
      query = query.where((eb) =>
        eb.or([
          eb.and([eb('p.target_type', '=', 'VirtualMachine'), eb('p.target_id', '=', vmId)]),
          eb.and([
            eb('p.target_type', '=', 'Disk'),
            eb('p.target_id', 'in', eb.selectFrom('virtual_machine_disks').select('disk_id').where('virtual_machine_id', '=', vmId)),
          ]),
        ]),
      );
    }
    const rows = await this.withTargets(query).orderBy('p.pk').execute();
    return rows.map(policyRecord);
  }

  /** The machine's own policies and, with includeDisks, those of the disks attached to it. */
  listForVirtualMachine(virtualMachineId: string, includeDisks: boolean, page: PageRequest): Promise<Page<PolicyRecord>> {
    const query = this.live().where((eb) => {
      const own = eb.and([eb('p.target_type', '=', 'VirtualMachine'), eb('p.target_id', '=', virtualMachineId)]);
      if (!includeDisks) return own;
      const attachedDisks = eb
        .selectFrom('virtual_machine_disks')
        .select('disk_id')
        .where('virtual_machine_id', '=', virtualMachineId);
      return eb.or([own, eb.and([eb('p.target_type', '=', 'Disk'), eb('p.target_id', 'in', attachedDisks)])]);
    });
    return this.page(query, page);
  }

  async create(organizationId: string, target: PolicyTarget, changes: PolicyChanges): Promise<PolicyRecord> {
    const values = {
      retention: changes.retention,
      interval: changes.schedule?.interval,
      frequency: changes.schedule?.frequency ?? SCHEDULE_DEFAULTS.frequency,
      time: changes.schedule?.time ?? SCHEDULE_DEFAULTS.time,
      minute: changes.schedule?.minute ?? SCHEDULE_DEFAULTS.minute,
    };
    const errors = policyErrors(values);
    if (errors.length > 0) throw new ValidationFailed(errors);

    const now = this.clock.now();
    const schedule = { interval: values.interval!, frequency: values.frequency, time: values.time, minute: values.minute };
    const anchor = firstInvocation(schedule, await this.timeZone(organizationId), now);
    const row = await this.db
      .insertInto('disk_backup_policies')
      .values({
        id: newId('diskBackupPolicy'),
        organization_id: organizationId,
        target_type: target.type,
        target_id: target.id,
        retention: values.retention!,
        total_size_bytes: 0,
        schedule_interval: schedule.interval,
        schedule_frequency: schedule.frequency,
        schedule_time: schedule.time,
        schedule_minute: schedule.minute,
        schedule_anchor_at: anchor,
        next_invocation_at: anchor,
        auto_move_to_trash_at: null,
        created_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ...row, target };
  }

  /** Changes only what is given. A new schedule re-anchors the series; retention alone leaves it be. */
  async update(policy: PolicyRecord, changes: PolicyChanges): Promise<PolicyRecord> {
    const given = changes.schedule ?? {};
    const values = {
      retention: changes.retention === undefined ? policy.retention : changes.retention,
      interval: given.interval === undefined ? policy.schedule_interval : given.interval,
      frequency: given.frequency === undefined ? policy.schedule_frequency : given.frequency,
      time: given.time === undefined ? policy.schedule_time : given.time,
      minute: given.minute === undefined ? policy.schedule_minute : given.minute,
    };
    const errors = policyErrors(values);
    if (errors.length > 0) throw new ValidationFailed(errors);

    const scheduleChanged =
      values.interval !== policy.schedule_interval ||
      values.frequency !== policy.schedule_frequency ||
      values.time !== policy.schedule_time ||
      values.minute !== policy.schedule_minute;
    let anchor = policy.schedule_anchor_at;
    if (scheduleChanged) {
      const schedule = { interval: values.interval!, frequency: values.frequency!, time: values.time!, minute: values.minute! };
      anchor = firstInvocation(schedule, await this.timeZone(policy.organization_id), this.clock.now());
    }
    const settings = {
      id: policy.id,
      retention: values.retention!,
      interval: values.interval!,
      frequency: values.frequency!,
      time: values.time!,
      minute: values.minute!,
    };
    // Only a new schedule touches the series: writing back the values read above would undo an
    // advance the scheduler made in between.
    const [row] = scheduleChanged
      ? await this.prepared.updateAndReanchor({ ...settings, anchor })
      : await this.prepared.updateKeepingSeries(settings);
    if (!row) throw new Error(`Policy ${policy.id} vanished during its update`);
    return { ...row, target: policy.target };
  }

  /** Moves the policy to the trash; it stops running and may be restored until the trash purges it. */
  async delete(policy: PolicyRecord): Promise<PolicyRecord> {
    await this.trash.put({ organizationId: policy.organization_id, objectType: POLICY_OBJECT_TYPE, objectId: policy.id });
    return policy;
  }

  /**
   * Moves every policy whose `auto_move_to_trash_at` has come to the trash, clearing the date so that
   * a policy restored from the trash stays restored. Returns how many moved.
   */
  async trashScheduledDeletions(): Promise<number> {
    const due = await this.live()
      .select(['p.id', 'p.organization_id'])
      .where('p.auto_move_to_trash_at', '<=', this.clock.now())
      .execute();
    for (const policy of due) {
      await this.db.transaction().execute(async (trx) => {
        await trx.updateTable('disk_backup_policies').set({ auto_move_to_trash_at: null }).where('id', '=', policy.id).execute();
        await this.trash.put({ organizationId: policy.organization_id, objectType: POLICY_OBJECT_TYPE, objectId: policy.id }, trx);
      });
    }
    return due.length;
  }

  async scheduleDelete(policy: PolicyRecord, at: number): Promise<PolicyRecord> {
    const earliest = this.clock.now() + MINIMUM_SCHEDULED_DELETE_SECONDS;
    if (at < earliest) throw new InvalidTimestamp(earliest);
    const row = await this.db
      .updateTable('disk_backup_policies')
      .set({ auto_move_to_trash_at: at })
      .where('id', '=', policy.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ...row, target: policy.target };
  }

  private async timeZone(organizationId: string): Promise<string> {
    return resolveTimeZone(await this.inventory.timeZoneOf(organizationId));
  }

  private prepareQueries() {
    type Settings = { id: string; retention: number; interval: ScheduleInterval; frequency: number; time: number; minute: number };
    const settingNames = ['id', 'retention', 'interval', 'frequency', 'time', 'minute'] as const;
    const update = (v: Settings) =>
      this.db
        .updateTable('disk_backup_policies')
        .set({
          retention: v.retention,
          schedule_interval: v.interval,
          schedule_frequency: v.frequency,
          schedule_time: v.time,
          schedule_minute: v.minute,
        })
        .where('id', '=', v.id);
    return {
      // With its trash object, if any: the lookup's three checks (found, whose, in the trash) in one query.
      findById: prepareQuery(this.db, ['id'], ({ id }: { id: string }) =>
        this.withTargets(this.policies().where('p.id', '=', id))
          .leftJoin('trash_objects as t', 't.object_id', 'p.id')
          .select(['t.id as trash_id', 't.keep_until as trash_keep_until', 't.object_type as trash_object_type']),
      ),
      updateKeepingSeries: prepareQuery(this.db, settingNames, (v: Settings) => update(v).returningAll()),
      updateAndReanchor: prepareQuery(this.db, [...settingNames, 'anchor'], (v: Settings & { anchor: number }) =>
        update(v).set({ schedule_anchor_at: v.anchor, next_invocation_at: v.anchor }).returningAll(),
      ),
    };
  }

  private policies() {
    return this.db.selectFrom('disk_backup_policies as p');
  }

  /** Policies that are not in the trash. */
  private live() {
    return this.policies().where((eb) =>
      eb.not(eb.exists(eb.selectFrom('trash_objects as t').select('t.id').whereRef('t.object_id', '=', 'p.id'))),
    );
  }

  private withTargets(query: ReturnType<PolicyService['policies']>) {
    return query
      .leftJoin('disks as d', (join) => join.onRef('d.id', '=', 'p.target_id').on('p.target_type', '=', 'Disk'))
      .leftJoin('virtual_machines as vm', (join) =>
        join.onRef('vm.id', '=', 'p.target_id').on('p.target_type', '=', 'VirtualMachine'),
      )
      .selectAll('p')
      .select(['d.name as disk_name', 'vm.name as vm_name']);
  }

  private async page(query: ReturnType<PolicyService['policies']>, page: PageRequest): Promise<Page<PolicyRecord>> {
    const [rows, total] = await Promise.all([
      this.withTargets(query).orderBy('p.pk').limit(page.perPage).offset(offsetOf(page)).execute(),
      countUpTo(this.db, query),
    ]);
    return { items: rows.map(policyRecord), pagination: paginationFor(page, total) };
  }
}

function policyRecord(row: DiskBackupPolicy & { disk_name: string | null; vm_name: string | null }): PolicyRecord {
  const { disk_name, vm_name, ...policy } = row;
  const name = (policy.target_type === 'Disk' ? disk_name : vm_name) ?? '';
  return { ...policy, target: { type: policy.target_type, id: policy.target_id, name } };
}
