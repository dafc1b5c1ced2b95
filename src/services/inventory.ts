/**
 * The stored inventory the policies refer to: organizations, virtual machines and disks (with their
 * attachments). The API only reads it; the CLI and the demo create it.
 */
import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { newId, randomToken } from '../domain/ids.js';
import type { Country, Currency, Database, Disk, Organization, VirtualMachine } from '../store/schema.js';
import { NotFound, ValidationFailed } from './errors.js';
import { offsetOf, paginationFor, type Page, type PageRequest, LARGE_SET_THRESHOLD } from './pagination.js';
import { DEFAULT_COUNTRY_ID, DEFAULT_ZONE_ID, reference, type DataCenterRecord, type ZoneRecord } from './reference-data.js';

export interface OrganizationRecord extends Organization {
  readonly currency: Currency;
  readonly country: Country | null;
}

export interface VirtualMachineRecord extends VirtualMachine {
  readonly zone: ZoneRecord;
  readonly organization: OrganizationRecord;
}

export interface AttachmentRecord {
  readonly virtual_machine: VirtualMachine;
  readonly disk: Disk;
  readonly attach_on_boot: number;
  readonly boot: number;
  readonly state: string;
}

export interface DiskRecord extends Disk {
  readonly data_center: DataCenterRecord;
  readonly attachment: AttachmentRecord | null;
}

export interface NewOrganization {
  name: string;
  subDomain?: string | undefined;
  /** An IANA time zone; the organization's country is the one with that zone. */
  timeZone?: string | undefined;
  /** ISO 3166 alpha-2; wins over timeZone. */
  countryCode?: string | undefined;
  currencyCode?: string | undefined;
}

export interface NewDisk {
  organizationId: string;
  name: string;
  sizeInGb: number;
  virtualMachineId?: string | undefined;
  imagePath?: string | null | undefined;
  dataCenterPermalink?: string | undefined;
  /** More writes to commit with the disk, in its transaction (a restore's webhook event). */
  alsoWrite?: ((trx: Kysely<Database>, disk: Disk) => Promise<unknown>) | undefined;
}

export class InventoryService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  // ---- Organizations ---------------------------------------------------------------------------

  async findOrganization(by: { id?: string | null; sub_domain?: string | null }): Promise<OrganizationRecord | null> {
    let query = this.db.selectFrom('organizations').selectAll();
    if (by.id != null) query = query.where('id', '=', by.id);
    else if (by.sub_domain != null) query = query.where('sub_domain', '=', by.sub_domain);
    else return null;
    const row = await query.executeTakeFirst();
    return row ? organizationRecord(row) : null;
  }

  async listOrganizations(ids: readonly string[]): Promise<OrganizationRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom('organizations').selectAll().where('id', 'in', ids).orderBy('pk').execute();
    return rows.map(organizationRecord);
  }

  /** Every organization, oldest first (for the CLI's `org list`). */
  async allOrganizations(): Promise<OrganizationRecord[]> {
    const rows = await this.db.selectFrom('organizations').selectAll().orderBy('pk').execute();
    return rows.map(organizationRecord);
  }

  /** Suspends (or unsuspends) an organization: its tokens are refused with organization_suspended. */
  async setSuspended(organizationId: string, suspended: boolean): Promise<OrganizationRecord> {
    const row = await this.db
      .updateTable('organizations')
      .set({ suspended: suspended ? 1 : 0 })
      .where('id', '=', organizationId)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new NotFound(`No organization ${organizationId}`);
    return organizationRecord(row);
  }

  async createOrganization(input: NewOrganization): Promise<OrganizationRecord> {
    const name = input.name.trim();
    // A sub-domain made from a short name gets a random tail, so any name makes a valid one.
    const fromName = slugify(name);
    const subDomain = (input.subDomain ?? (fromName.length >= 4 ? fromName : `${fromName || 'org'}-${randomToken(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}`))
      .trim()
      .toLowerCase();
    const errors: string[] = [];
    if (name === '') errors.push("Name can't be blank");
    if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(subDomain)) {
      errors.push('Sub domain must be 2-63 lower-case letters, digits and hyphens, starting with a letter or digit');
    }
    const country = input.countryCode
      ? reference.countryByIsoCode(input.countryCode)
      : input.timeZone
        ? reference.countryByTimeZone(input.timeZone)
        : reference.country(DEFAULT_COUNTRY_ID);
    if (!country) {
      errors.push(
        input.countryCode
          ? `Country ${input.countryCode} is not known`
          : `Time zone ${input.timeZone} is not the time zone of a known country`,
      );
    }
    const currency = input.currencyCode ? reference.currencyByIsoCode(input.currencyCode) : reference.currency('');
    if (!currency) errors.push(`Currency ${input.currencyCode} is not known`);
    if (errors.length === 0 && (await this.findOrganization({ sub_domain: subDomain }))) {
      errors.push(`Sub domain ${subDomain} is already taken`);
    }
    if (errors.length > 0) throw new ValidationFailed(errors);

    const now = this.clock.now();
    const row = await this.db
      .insertInto('organizations')
      .values({
        id: newId('organization'),
        name,
        sub_domain: subDomain,
        infrastructure_domain: `${subDomain}.katapult.cloud`,
        created_at: now,
        activated_at: now,
        suspended: 0,
        managed: 0,
        billing_name: null,
        address1: null,
        address2: null,
        address3: null,
        address4: null,
        postcode: null,
        vat_number: null,
        phone_number: null,
        currency_id: currency!.id,
        country_id: country!.id,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return organizationRecord(row);
  }

  /** The organization's IANA time zone (from its country), or null when it has none. */
  async timeZoneOf(organizationId: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('organizations')
      .select('country_id')
      .where('id', '=', organizationId)
      .executeTakeFirst();
    return reference.country(row?.country_id ?? null)?.time_zone ?? null;
  }

  // ---- Virtual machines ------------------------------------------------------------------------

  async findVirtualMachine(by: { id?: string | null; fqdn?: string | null }): Promise<VirtualMachineRecord | null> {
    let query = this.db.selectFrom('virtual_machines').selectAll();
    if (by.id != null) query = query.where('id', '=', by.id);
    else if (by.fqdn != null) query = query.where('fqdn', '=', by.fqdn);
    else return null;
    const row = await query.executeTakeFirst();
    return row ? this.virtualMachineRecord(row) : null;
  }

  async listVirtualMachines(organizationId: string, page: PageRequest): Promise<Page<VirtualMachineRecord>> {
    const base = this.db.selectFrom('virtual_machines').where('organization_id', '=', organizationId);
    const [rows, total] = await Promise.all([
      base.selectAll().orderBy('pk').limit(page.perPage).offset(offsetOf(page)).execute(),
      countUpTo(this.db, base),
    ]);
    const organization = await this.findOrganization({ id: organizationId });
    return {
      items: rows.map((row) => ({ ...row, zone: reference.zone(row.zone_id)!, organization: organization! })),
      pagination: paginationFor(page, total),
    };
  }

  /** Every virtual machine, or an organization's, oldest first (for the CLI's `vm list`). */
  async allVirtualMachines(organizationId?: string): Promise<VirtualMachine[]> {
    let query = this.db.selectFrom('virtual_machines').selectAll();
    if (organizationId !== undefined) query = query.where('organization_id', '=', organizationId);
    return query.orderBy('pk').execute();
  }

  async createVirtualMachine(input: { organizationId: string; name: string; zonePermalink?: string }): Promise<VirtualMachineRecord> {
    const organization = await this.findOrganization({ id: input.organizationId });
    if (!organization) throw new NotFound(`No organization ${input.organizationId}`);
    const zone = input.zonePermalink ? reference.zoneByPermalink(input.zonePermalink) : reference.zone(DEFAULT_ZONE_ID);
    const hostname = slugify(input.name);
    const errors: string[] = [];
    if (input.name.trim() === '') errors.push("Name can't be blank");
    if (!zone) errors.push(`Zone ${input.zonePermalink} is not known`);
    if (hostname === '') errors.push('Name must contain a letter or digit');
    if (errors.length > 0) throw new ValidationFailed(errors);
    const fqdn = `${hostname}-${randomToken(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}.${organization.sub_domain}.katapult.cloud`;
    const row = await this.db
      .insertInto('virtual_machines')
      .values({
        id: newId('virtualMachine'),
        organization_id: organization.id,
        zone_id: zone!.id,
        name: input.name.trim(),
        hostname,
        fqdn,
        description: null,
        created_at: this.clock.now(),
        state: 'started',
        memory_in_gb: 2,
        cpu_cores: 1,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ...row, zone: zone!, organization };
  }

  private async virtualMachineRecord(row: VirtualMachine): Promise<VirtualMachineRecord> {
    const organization = await this.findOrganization({ id: row.organization_id });
    return { ...row, zone: reference.zone(row.zone_id)!, organization: organization! };
  }

  // ---- Disks -----------------------------------------------------------------------------------

  async findDisk(by: { id?: string | null }): Promise<DiskRecord | null> {
    if (by.id == null) return null;
    const row = await this.db.selectFrom('disks').selectAll().where('id', '=', by.id).executeTakeFirst();
    return row ? (await this.diskRecords([row]))[0]! : null;
  }

  async listDisks(organizationId: string, page: PageRequest): Promise<Page<DiskRecord>> {
    const base = this.db.selectFrom('disks').where('organization_id', '=', organizationId);
    const [rows, total] = await Promise.all([
      base.selectAll().orderBy('pk').limit(page.perPage).offset(offsetOf(page)).execute(),
      countUpTo(this.db, base),
    ]);
    return { items: await this.diskRecords(rows), pagination: paginationFor(page, total) };
  }

  /** Every disk, or an organization's, or those attached to a virtual machine, oldest first (for the CLI's `disk list`). */
  async allDisks(filter: { organizationId?: string; virtualMachineId?: string } = {}): Promise<DiskRecord[]> {
    let query = this.db.selectFrom('disks').selectAll();
    if (filter.organizationId !== undefined) query = query.where('organization_id', '=', filter.organizationId);
    if (filter.virtualMachineId !== undefined) {
      const attached = this.db.selectFrom('virtual_machine_disks').select('disk_id').where('virtual_machine_id', '=', filter.virtualMachineId);
      query = query.where('id', 'in', attached);
    }
    return this.diskRecords(await query.orderBy('pk').execute());
  }

  /** The disks attached to a virtual machine, as attachments (boot disk first, then by creation). */
  async listAttachments(virtualMachineId: string, page: PageRequest): Promise<Page<AttachmentRecord>> {
    const base = this.db
      .selectFrom('virtual_machine_disks as a')
      .innerJoin('disks as d', 'd.id', 'a.disk_id')
      .where('a.virtual_machine_id', '=', virtualMachineId);
    const [rows, total] = await Promise.all([
      base.selectAll('d').select(['a.attach_on_boot', 'a.boot', 'a.state as attachment_state'])
        .orderBy('a.boot', 'desc').orderBy('d.pk').limit(page.perPage).offset(offsetOf(page)).execute(),
      countUpTo(this.db, base),
    ]);
    const vm = await this.db.selectFrom('virtual_machines').selectAll().where('id', '=', virtualMachineId).executeTakeFirstOrThrow();
    return {
      items: rows.map(({ attach_on_boot, boot, attachment_state, ...disk }) => ({
        virtual_machine: vm,
        disk,
        attach_on_boot,
        boot,
        state: attachment_state,
      })),
      pagination: paginationFor(page, total),
    };
  }

  async createDisk(input: NewDisk): Promise<DiskRecord> {
    const errors: string[] = [];
    if (input.name.trim() === '') errors.push("Name can't be blank");
    if (!Number.isInteger(input.sizeInGb) || input.sizeInGb < 1 || input.sizeInGb > 65536) {
      errors.push('Size in GB must be a whole number from 1 to 65536');
    }
    const dataCenter = reference.dataCenterByPermalink(input.dataCenterPermalink ?? 'uk-lon-01');
    if (!dataCenter) errors.push(`Data centre ${input.dataCenterPermalink} is not known`);
    if (errors.length > 0) throw new ValidationFailed(errors);

    return this.db.transaction().execute(async (trx) => {
      const organization = await trx.selectFrom('organizations').select('id').where('id', '=', input.organizationId).executeTakeFirst();
      if (!organization) throw new NotFound(`No organization ${input.organizationId}`);
      let vm: VirtualMachine | undefined;
      if (input.virtualMachineId) {
        vm = await trx.selectFrom('virtual_machines').selectAll().where('id', '=', input.virtualMachineId).executeTakeFirst();
        if (!vm || vm.organization_id !== organization.id) {
          throw new NotFound(`No virtual machine ${input.virtualMachineId} in organization ${organization.id}`);
        }
      }
      const disk = await trx
        .insertInto('disks')
        .values({
          id: newId('disk'),
          organization_id: organization.id,
          data_center_id: dataCenter!.id,
          name: input.name.trim(),
          size_in_gb: input.sizeInGb,
          wwn: randomToken(16, '0123456789abcdef'),
          state: 'built',
          created_at: this.clock.now(),
          storage_speed: 'nvme',
          image_path: input.imagePath ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      let attachment: AttachmentRecord | null = null;
      if (vm) {
        const existing = await trx
          .selectFrom('virtual_machine_disks')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('virtual_machine_id', '=', vm.id)
          .executeTakeFirstOrThrow();
        const boot = Number(existing.n) === 0 ? 1 : 0;
        await trx
          .insertInto('virtual_machine_disks')
          .values({ disk_id: disk.id, virtual_machine_id: vm.id, attach_on_boot: 1, boot, state: 'attached' })
          .execute();
        attachment = { virtual_machine: vm, disk, attach_on_boot: 1, boot, state: 'attached' };
      }
      await input.alsoWrite?.(trx, disk);
      return { ...disk, data_center: dataCenter!, attachment };
    });
  }

  /** Ids of the disks attached to a virtual machine. */
  async diskIdsOf(virtualMachineId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('virtual_machine_disks')
      .select('disk_id')
      .where('virtual_machine_id', '=', virtualMachineId)
      .execute();
    return rows.map((r) => r.disk_id);
  }

  private async diskRecords(rows: Disk[]): Promise<DiskRecord[]> {
    if (rows.length === 0) return [];
    const attachments = await this.db
      .selectFrom('virtual_machine_disks as a')
      .innerJoin('virtual_machines as vm', 'vm.id', 'a.virtual_machine_id')
      .selectAll('vm')
      .select(['a.disk_id', 'a.attach_on_boot', 'a.boot', 'a.state as attachment_state'])
      .where('a.disk_id', 'in', rows.map((r) => r.id))
      .execute();
    return rows.map((disk) => {
      const found = attachments.find((a) => a.disk_id === disk.id);
      let attachment: AttachmentRecord | null = null;
      if (found) {
        const { disk_id: _disk, attach_on_boot, boot, attachment_state, ...vm } = found;
        attachment = { virtual_machine: vm, disk, attach_on_boot, boot, state: attachment_state };
      }
      return { ...disk, data_center: reference.dataCenter(disk.data_center_id)!, attachment };
    });
  }
}

function organizationRecord(row: Organization): OrganizationRecord {
  return { ...row, currency: reference.currency(row.currency_id), country: reference.country(row.country_id) };
}

/** Counts the rows of a query, stopping past the large-set threshold (larger sets are not counted). */
export async function countUpTo(db: Kysely<Database>, query: SelectQueryBuilder<Database, any, object>): Promise<number> {
  const limited = query
    .clearSelect()
    .clearOrderBy()
    .select(sql.lit(1).as('one'))
    .limit(LARGE_SET_THRESHOLD + 1)
    .as('limited');
  const { n } = await db
    .selectFrom(limited)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(n);
}

export function slugify(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}
