/**
 * `dbp org|vm|disk …`: administer what the API serves. Each `create` prints what it made; each `list`
 * prints what there is (aligned columns, or a JSON array of snake_case objects with `--json`).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { NotFound } from '../../services/errors.js';
import type { Services } from '../../services/index.js';
import type { DiskRecord } from '../../services/inventory.js';
import { groupCommand, isoTime, leafCommand, positiveWholeNumber, printJson, printObject, printTable, UsageError } from '../options.js';
import { withServices } from '../with-services.js';
import { RbdError, rbdCreateImage, rbdImageSize } from '../../engine/rbd/cli.js';
import { parseRbdImageName, RbdNameError, rbdImagePath, type RbdImageName } from '../../engine/rbd/names.js';

const MAX_DISK_GB = 65536;

export async function findOrganization(services: Services, idOrSubDomain: string) {
  const organization =
    (await services.inventory.findOrganization({ id: idOrSubDomain })) ??
    (await services.inventory.findOrganization({ sub_domain: idOrSubDomain }));
  if (!organization) throw new NotFound(`No organization with id or sub-domain "${idOrSubDomain}"`);
  return organization;
}

export async function findVirtualMachine(services: Services, idOrFqdn: string) {
  const vm =
    (await services.inventory.findVirtualMachine({ id: idOrFqdn })) ??
    (await services.inventory.findVirtualMachine({ fqdn: idOrFqdn }));
  if (!vm) throw new NotFound(`No virtual machine with id or FQDN "${idOrFqdn}"`);
  return vm;
}

export function registerInventoryCommands(program: Command): void {
  registerOrg(program);
  registerVm(program);
  registerDisk(program);
}

// ---- org -------------------------------------------------------------------------------------------

function registerOrg(program: Command): void {
  const org = groupCommand(program, 'org', 'organizations: create, list, suspend, unsuspend', ['dbp org create --name "Acme Hosting"', 'dbp org list']);

  leafCommand(org, 'create', 'create an organization', [
    'dbp org create --name "Acme Hosting" --time-zone Europe/London',
    'dbp org create --name "Acme Hosting" --sub-domain acme --country GB --json',
  ])
    .requiredOption('--name <name>', "the organization's name (required)")
    .option('--sub-domain <sub-domain>', 'its sub-domain (default: made from the name)')
    .option('--time-zone <zone>', 'an IANA time zone; the organization is placed in its country (default: UTC)')
    .option('--country <code>', 'an ISO 3166 alpha-2 country code; wins over --time-zone')
    .action(async (flags: { name: string; subDomain?: string; timeZone?: string; country?: string }, command: Command) =>
      withServices(command, async (services, json) => {
        const organization = await services.inventory.createOrganization({
          name: flags.name,
          subDomain: flags.subDomain,
          timeZone: flags.timeZone,
          countryCode: flags.country,
        });
        printObject(json, 'Organization created', {
          id: organization.id,
          name: organization.name,
          sub_domain: organization.sub_domain,
          country: organization.country?.name ?? null,
          time_zone: organization.country?.time_zone ?? 'UTC',
          currency: organization.currency.iso_code,
        });
      }),
    );

  leafCommand(org, 'list', 'every organization, oldest first', ['dbp org list', 'dbp --json org list']).action(async (_flags: object, command: Command) =>
    withServices(command, async (services, json) => {
      const organizations = (await services.inventory.allOrganizations()).map((o) => ({
        id: o.id,
        name: o.name,
        sub_domain: o.sub_domain,
        country: o.country?.name ?? null,
        time_zone: o.country?.time_zone ?? 'UTC',
        suspended: o.suspended === 1,
        created_at: o.created_at,
      }));
      if (json) return printJson(organizations);
      printTable(
        ['id', 'name', 'sub_domain', 'country', 'time_zone', 'suspended', 'created_at'],
        organizations.map((o) => [o.id, o.name, o.sub_domain, o.country ?? '-', o.time_zone, o.suspended ? 'yes' : 'no', isoTime(o.created_at)]),
        'No organizations.',
      );
    }),
  );

  for (const suspended of [true, false]) {
    const name = suspended ? 'suspend' : 'unsuspend';
    leafCommand(
      org,
      name,
      suspended ? "suspend an organization: its tokens get organization_suspended" : 'let a suspended organization in again',
      [`dbp org ${name} acme`],
    )
      .argument('<ORG>', 'an organization id or sub-domain')
      .action(async (idOrSubDomain: string, _flags: object, command: Command) =>
        withServices(command, async (services, json) => {
          const organization = await services.inventory.setSuspended((await findOrganization(services, idOrSubDomain)).id, suspended);
          printObject(json, suspended ? 'Organization suspended' : 'Organization unsuspended', {
            id: organization.id,
            sub_domain: organization.sub_domain,
            suspended: organization.suspended === 1,
          });
        }),
      );
  }
}

// ---- vm --------------------------------------------------------------------------------------------

function registerVm(program: Command): void {
  const vm = groupCommand(program, 'vm', 'virtual machines: create, list', ['dbp vm create --org acme --name web-1', 'dbp vm list --org acme']);

  leafCommand(vm, 'create', 'create a virtual machine in an organization', ['dbp vm create --org acme --name web-1'])
    .requiredOption('--org <org>', 'an organization id or sub-domain (required)')
    .requiredOption('--name <name>', "the machine's name (its hostname is made from it) (required)")
    .action(async (flags: { org: string; name: string }, command: Command) =>
      withServices(command, async (services, json) => {
        const organization = await findOrganization(services, flags.org);
        const created = await services.inventory.createVirtualMachine({ organizationId: organization.id, name: flags.name });
        printObject(json, 'Virtual machine created', { id: created.id, name: created.name, fqdn: created.fqdn, organization_id: created.organization_id });
      }),
    );

  leafCommand(vm, 'list', 'the virtual machines, oldest first', ['dbp vm list', 'dbp vm list --org acme --json'])
    .option('--org <org>', "only this organization's (id or sub-domain)")
    .action(async (flags: { org?: string }, command: Command) =>
      withServices(command, async (services, json) => {
        const organization = flags.org === undefined ? undefined : await findOrganization(services, flags.org);
        const machines = await services.inventory.allVirtualMachines(organization?.id);
        const listed = await Promise.all(
          machines.map(async (m) => ({
            id: m.id,
            name: m.name,
            fqdn: m.fqdn,
            organization_id: m.organization_id,
            disk_ids: await services.inventory.diskIdsOf(m.id),
            created_at: m.created_at,
          })),
        );
        if (json) return printJson(listed);
        printTable(
          ['id', 'name', 'fqdn', 'organization', 'disks', 'created_at'],
          listed.map((m) => [m.id, m.name, m.fqdn, m.organization_id, m.disk_ids.join(',') || '-', isoTime(m.created_at)]),
          'No virtual machines.',
        );
      }),
    );
}

// ---- disk ------------------------------------------------------------------------------------------

function registerDisk(program: Command): void {
  const disk = groupCommand(program, 'disk', 'disks: create, list', ['dbp disk create --org acme --name data --size-gb 20', 'dbp disk list --org acme']);

  leafCommand(disk, 'create', 'create a disk, standalone or attached to a virtual machine', [
    'dbp disk create --org acme --vm web-1-abc123.acme.katapult.cloud --name "web-1 data" --size-gb 20',
    'dbp disk create --org acme --name archive --image /var/lib/images/archive.img',
    'dbp disk create --org acme --vm web-1-abc123.acme.katapult.cloud --name "web-1 root" --rbd rbd/web-1-root',
  ])
    .requiredOption('--org <org>', 'an organization id or sub-domain (required)')
    .requiredOption('--name <name>', "the disk's name (required)")
    .option('--vm <vm>', 'attach it to this virtual machine (id or FQDN) of the organization')
    .addOption(
      new Option('--size-gb <G>', `its size in GB, 1 to ${MAX_DISK_GB}; required without --image, else the image's size`).argParser(positiveWholeNumber('size-gb', MAX_DISK_GB)),
    )
    .option('--image <path>', 'a raw image file or block device holding the disk (otherwise the service makes a sparse image of --size-gb)')
    .option('--rbd <pool/image>', 'a Ceph RBD image holding the disk; with --size-gb a new image of that size is made (docs/RBD.md)')
    .action(async (flags: { org: string; name: string; vm?: string; sizeGb?: number; image?: string; rbd?: string }, command: Command) => {
      const { createRbd, ...where } = flags.rbd === undefined ? diskData(flags) : await rbdDiskData({ ...flags, rbd: flags.rbd });
      await withServices(command, async (services, json) => {
        const organization = await findOrganization(services, flags.org);
        const vm = flags.vm === undefined ? undefined : await findVirtualMachine(services, flags.vm);
        if (vm && vm.organization_id !== organization.id) throw new UsageError(`virtual machine ${vm.id} belongs to another organization`);
        if (flags.rbd !== undefined) {
          // One disk per image: each disk's backups keep and remove their own snapshots of it.
          const holder = (await services.inventory.allDisks()).find((disk) => disk.image_path === where.imagePath);
          if (holder) throw new UsageError(`--rbd ${flags.rbd}: disk ${holder.id} is on that image already`);
        }
        if (createRbd) await createRbdImage(flags.rbd!, createRbd);
        const created = await services.inventory.createDisk({ organizationId: organization.id, name: flags.name, ...where, virtualMachineId: vm?.id });
        printObject(json, 'Disk created', {
          id: created.id,
          name: created.name,
          size_in_gb: created.size_in_gb,
          organization_id: created.organization_id,
          virtual_machine_id: created.attachment?.virtual_machine.id ?? null,
          image: created.image_path ?? '(a sparse image under the data directory, made at its first backup)',
        });
      });
    });

  leafCommand(disk, 'list', 'the disks, oldest first', ['dbp disk list', 'dbp disk list --org acme --vm web-1-abc123.acme.katapult.cloud --json'])
    .option('--org <org>', "only this organization's (id or sub-domain)")
    .option('--vm <vm>', 'only those attached to this virtual machine (id or FQDN)')
    .action(async (flags: { org?: string; vm?: string }, command: Command) =>
      withServices(command, async (services, json) => {
        const organization = flags.org === undefined ? undefined : await findOrganization(services, flags.org);
        const vm = flags.vm === undefined ? undefined : await findVirtualMachine(services, flags.vm);
        const disks = (await services.inventory.allDisks({ organizationId: organization?.id, virtualMachineId: vm?.id })).map(diskFields);
        if (json) return printJson(disks);
        printTable(
          ['id', 'name', 'size_in_gb', 'organization', 'virtual_machine', 'image'],
          disks.map((d) => [d.id, d.name, String(d.size_in_gb), d.organization_id, d.virtual_machine_id ?? '-', d.image_path ?? '-']),
          'No disks.',
        );
      }),
    );
}

function diskFields(disk: DiskRecord) {
  return {
    id: disk.id,
    name: disk.name,
    size_in_gb: disk.size_in_gb,
    organization_id: disk.organization_id,
    virtual_machine_id: disk.attachment?.virtual_machine.id ?? null,
    image_path: disk.image_path,
    created_at: disk.created_at,
  };
}

/**
 * Where a disk's bytes are: `--image PATH` (a raw image file or block device; its size, which
 * `--size-gb` may repeat but not contradict; given for a block device, whose size stat does not
 * tell), or by default a sparse image of `--size-gb` the service makes.
 */
/**
 * An RBD image (`--rbd POOL/IMAGE`): an existing one (its size is the disk's; `--size-gb` may not
 * contradict it), or, with `--size-gb`, a new thin image of that size when there is none.
 */
async function rbdDiskData(flags: { sizeGb?: number; image?: string; rbd: string }): Promise<{ sizeInGb: number; imagePath: string; createRbd?: NewRbdImage }> {
  if (flags.image !== undefined) throw new UsageError('give --image or --rbd, not both');
  let name: RbdImageName;
  try {
    name = parseRbdImageName(flags.rbd);
  } catch (error) {
    if (error instanceof RbdNameError) throw new UsageError(`--rbd ${error.message}`);
    throw error;
  }
  let bytes: number;
  try {
    bytes = await rbdImageSize(name);
  } catch (error) {
    if (!(error instanceof RbdError)) throw error;
    if (error.code !== 'image_not_found' || flags.sizeGb === undefined) {
      const hint = error.code === 'image_not_found' ? ' (give --size-gb to create it)' : '';
      throw new UsageError(`--rbd ${flags.rbd}: ${error.message}${hint}`);
    }
    return { sizeInGb: flags.sizeGb, imagePath: rbdImagePath(name), createRbd: { name, bytes: flags.sizeGb * 1_000_000_000 } };
  }
  const imageGb = Math.max(1, Math.ceil(bytes / 1_000_000_000));
  if (flags.sizeGb !== undefined && flags.sizeGb !== imageGb) {
    throw new UsageError(`--size-gb ${flags.sizeGb}: the image ${flags.rbd} exists and holds ${bytes} bytes (${imageGb} GB); leave --size-gb out`);
  }
  return { sizeInGb: imageGb, imagePath: rbdImagePath(name) };
}

/** An RBD image `disk create --rbd … --size-gb` makes, once the disk's other checks have passed. */
interface NewRbdImage {
  readonly name: RbdImageName;
  readonly bytes: number;
}

async function createRbdImage(text: string, image: NewRbdImage): Promise<void> {
  try {
    await rbdCreateImage(image.name, image.bytes);
  } catch (error) {
    if (error instanceof RbdError) throw new UsageError(`--rbd ${text}: ${error.message}`);
    throw error;
  }
}

function diskData(flags: { sizeGb?: number; image?: string }): { sizeInGb: number; imagePath?: string; createRbd?: undefined } {
  const { sizeGb, image } = flags;
  if (image === undefined) {
    if (sizeGb === undefined) throw new UsageError('--size-gb is required (or --image PATH)');
    return { sizeInGb: sizeGb };
  }
  const imagePath = resolve(image);
  let stat;
  try {
    stat = statSync(imagePath);
    accessSync(imagePath, constants.R_OK);
  } catch (error) {
    throw new UsageError(`--image ${image}: ${(error as Error).message}`);
  }
  if (!stat.isFile() && !stat.isBlockDevice()) throw new UsageError(`--image ${image} is neither a file nor a block device`);
  if (stat.size === 0) {
    if (sizeGb === undefined) throw new UsageError(`--image ${image}: its size is unknown or 0; give --size-gb`);
    return { sizeInGb: sizeGb, imagePath };
  }
  // The disk is the image: a --size-gb that says otherwise would be reported but not true.
  const imageGb = Math.max(1, Math.ceil(stat.size / 1_000_000_000));
  if (sizeGb !== undefined && sizeGb !== imageGb) {
    throw new UsageError(`--size-gb ${sizeGb} is not the size of --image ${image} (${stat.size} bytes: ${imageGb} GB); leave --size-gb out`);
  }
  return { sizeInGb: imageGb, imagePath };
}
