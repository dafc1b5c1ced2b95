/** `dbp org|vm|disk …`: administer what the API serves. Each command prints the object it made or changed. */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { NotFound } from '../../services/errors.js';
import type { Services } from '../../services/index.js';
import { openRuntime } from '../../runtime.js';
import { commonOptions, integerOption, parseCommand, printObject, requireString, UsageError } from '../options.js';

type Values = Record<string, unknown>;

/** One action of a command group (`dbp <group> <action> …`). */
export interface GroupAction {
  readonly options: NonNullable<Parameters<typeof parseCommand>[1]>;
  /** The names of the positional arguments it takes, in order (all required). */
  readonly positionals?: readonly string[];
  readonly run: (services: Services, values: Values, positionals: string[], json: boolean) => Promise<void>;
}

/** Runs `<group> <action> …` with the runtime open, then closes it. */
export function commandGroup(group: string, actions: Record<string, GroupAction>) {
  return async (argv: string[]) => {
    const [name, ...rest] = argv;
    const action = name === undefined ? undefined : actions[name];
    if (!action) throw new UsageError(`usage: dbp ${group} ${Object.keys(actions).join('|')} …  (got "${name ?? ''}")`);
    const { values, positionals } = parseCommand(rest, action.options);
    const expected = action.positionals ?? [];
    if (positionals.length > expected.length) throw new UsageError(`unexpected argument "${positionals[expected.length]}"`);
    if (positionals.length < expected.length) throw new UsageError(`${expected[positionals.length]} is required`);
    const common = commonOptions(values);
    const runtime = await openRuntime(common);
    try {
      await action.run(runtime.services, values, positionals, common.json);
    } finally {
      await runtime.close();
    }
  };
}

/** A group with the single action `create`. */
function createCommand(group: string, options: GroupAction['options'], create: (services: Services, values: Values, json: boolean) => Promise<void>) {
  return commandGroup(group, { create: { options, run: (services, values, _positionals, json) => create(services, values, json) } });
}

export async function findOrganization(services: Services, idOrSubDomain: string) {
  const organization =
    (await services.inventory.findOrganization({ id: idOrSubDomain })) ??
    (await services.inventory.findOrganization({ sub_domain: idOrSubDomain }));
  if (!organization) throw new NotFound(`No organization with id or sub-domain "${idOrSubDomain}"`);
  return organization;
}

async function findVirtualMachine(services: Services, idOrFqdn: string) {
  const vm =
    (await services.inventory.findVirtualMachine({ id: idOrFqdn })) ??
    (await services.inventory.findVirtualMachine({ fqdn: idOrFqdn }));
  if (!vm) throw new NotFound(`No virtual machine with id or FQDN "${idOrFqdn}"`);
  return vm;
}

const ORG_CREATE_OPTIONS = { name: { type: 'string' }, 'sub-domain': { type: 'string' }, 'time-zone': { type: 'string' }, country: { type: 'string' } } as const;

async function createOrganization(services: Services, values: Values, json: boolean): Promise<void> {
  const organization = await services.inventory.createOrganization({
    name: requireString(values.name, 'name'),
    subDomain: values['sub-domain'] as string | undefined,
    timeZone: values['time-zone'] as string | undefined,
    countryCode: values.country as string | undefined,
  });
  printObject(json, 'Organization created', {
    id: organization.id,
    name: organization.name,
    sub_domain: organization.sub_domain,
    country: organization.country?.name ?? null,
    time_zone: organization.country?.time_zone ?? 'UTC',
    currency: organization.currency.iso_code,
  });
}

/** `org suspend ORG` / `org unsuspend ORG`. */
function suspension(suspended: boolean): GroupAction {
  return {
    options: {},
    positionals: ['ORG'],
    async run(services, _values, [idOrSubDomain], json) {
      const organization = await services.inventory.setSuspended((await findOrganization(services, idOrSubDomain!)).id, suspended);
      printObject(json, suspended ? 'Organization suspended' : 'Organization unsuspended', {
        id: organization.id,
        sub_domain: organization.sub_domain,
        suspended: organization.suspended === 1,
      });
    },
  };
}

export const orgCommand = commandGroup('org', {
  create: { options: ORG_CREATE_OPTIONS, run: (services, values, _positionals, json) => createOrganization(services, values, json) },
  suspend: suspension(true),
  unsuspend: suspension(false),
});

export const vmCommand = createCommand('vm', { org: { type: 'string' }, name: { type: 'string' } }, async (services, values, json) => {
  const organization = await findOrganization(services, requireString(values.org, 'org'));
  const vm = await services.inventory.createVirtualMachine({ organizationId: organization.id, name: requireString(values.name, 'name') });
  printObject(json, 'Virtual machine created', { id: vm.id, name: vm.name, fqdn: vm.fqdn, organization_id: vm.organization_id });
});

export const diskCommand = createCommand(
  'disk',
  { org: { type: 'string' }, vm: { type: 'string' }, name: { type: 'string' }, 'size-gb': { type: 'string' }, image: { type: 'string' } },
  async (services, values, json) => {
    const organization = await findOrganization(services, requireString(values.org, 'org'));
    const vm = typeof values.vm === 'string' ? await findVirtualMachine(services, values.vm) : undefined;
    if (vm && vm.organization_id !== organization.id) {
      throw new UsageError(`virtual machine ${vm.id} belongs to another organization`);
    }
    const disk = await services.inventory.createDisk({
      organizationId: organization.id,
      name: requireString(values.name, 'name'),
      ...diskData(values),
      virtualMachineId: vm?.id,
    });
    printObject(json, 'Disk created', {
      id: disk.id,
      name: disk.name,
      size_in_gb: disk.size_in_gb,
      organization_id: disk.organization_id,
      virtual_machine_id: disk.attachment?.virtual_machine.id ?? null,
      image: disk.image_path ?? '(a sparse image under the data directory, made at its first backup)',
    });
  },
);

/**
 * Where a disk's bytes are: `--image PATH` (a raw image file or block device; its size unless
 * `--size-gb` says otherwise), or by default a sparse image of `--size-gb` the service makes.
 */
function diskData(values: Values): { sizeInGb: number; imagePath?: string } {
  const sizeInGb = integerOption(values['size-gb'], 'size-gb', 1, 65536);
  if (typeof values.image !== 'string') return { sizeInGb: sizeInGb ?? integerOption(requireString(values['size-gb'], 'size-gb'), 'size-gb', 1, 65536)! };
  const imagePath = resolve(values.image);
  let stat;
  try {
    stat = statSync(imagePath);
    accessSync(imagePath, constants.R_OK);
  } catch (error) {
    throw new UsageError(`--image ${values.image}: ${(error as Error).message}`);
  }
  if (!stat.isFile() && !stat.isBlockDevice()) throw new UsageError(`--image ${values.image} is neither a file nor a block device`);
  if (sizeInGb === undefined && stat.size === 0) throw new UsageError(`--image ${values.image}: its size is unknown or 0; give --size-gb`);
  return { sizeInGb: sizeInGb ?? Math.max(1, Math.ceil(stat.size / 1_000_000_000)), imagePath };
}
