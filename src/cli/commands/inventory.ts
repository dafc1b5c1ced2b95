/** `dbp org|vm|disk|token create`: administer what the API serves. Each prints the new object. */
import { NotFound } from '../../services/errors.js';
import type { Services } from '../../services/index.js';
import { openRuntime } from '../../runtime.js';
import { commonOptions, integerOption, parseCommand, printObject, requireString, UsageError } from '../options.js';

type Values = Record<string, unknown>;

/** Runs `<group> create …` with the runtime open, then closes it. */
function createCommand(
  group: string,
  options: NonNullable<Parameters<typeof parseCommand>[1]>,
  create: (services: Services, values: Values, json: boolean) => Promise<void>,
) {
  return async (argv: string[]) => {
    const [action, ...rest] = argv;
    if (action !== 'create') throw new UsageError(`usage: dbp ${group} create …  (got "${action ?? ''}")`);
    const { values, positionals } = parseCommand(rest, options);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const common = commonOptions(values);
    const runtime = await openRuntime(common);
    try {
      await create(runtime.services, values, common.json);
    } finally {
      await runtime.close();
    }
  };
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

export const orgCommand = createCommand(
  'org',
  { name: { type: 'string' }, 'sub-domain': { type: 'string' }, 'time-zone': { type: 'string' }, country: { type: 'string' } },
  async (services, values, json) => {
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
  },
);

export const vmCommand = createCommand('vm', { org: { type: 'string' }, name: { type: 'string' } }, async (services, values, json) => {
  const organization = await findOrganization(services, requireString(values.org, 'org'));
  const vm = await services.inventory.createVirtualMachine({ organizationId: organization.id, name: requireString(values.name, 'name') });
  printObject(json, 'Virtual machine created', { id: vm.id, name: vm.name, fqdn: vm.fqdn, organization_id: vm.organization_id });
});

export const diskCommand = createCommand(
  'disk',
  { org: { type: 'string' }, vm: { type: 'string' }, name: { type: 'string' }, 'size-gb': { type: 'string' } },
  async (services, values, json) => {
    const organization = await findOrganization(services, requireString(values.org, 'org'));
    const vm = typeof values.vm === 'string' ? await findVirtualMachine(services, values.vm) : undefined;
    if (vm && vm.organization_id !== organization.id) {
      throw new UsageError(`virtual machine ${vm.id} belongs to another organization`);
    }
    const disk = await services.inventory.createDisk({
      organizationId: organization.id,
      name: requireString(values.name, 'name'),
      sizeInGb: integerOption(requireString(values['size-gb'], 'size-gb'), 'size-gb', 1, 65536)!,
      virtualMachineId: vm?.id,
    });
    printObject(json, 'Disk created', {
      id: disk.id,
      name: disk.name,
      size_in_gb: disk.size_in_gb,
      organization_id: disk.organization_id,
      virtual_machine_id: disk.attachment?.virtual_machine.id ?? null,
    });
  },
);

export const tokenCommand = createCommand(
  'token',
  { org: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, 'rate-limit': { type: 'string' } },
  async (services, values, json) => {
    const organization = await findOrganization(services, requireString(values.org, 'org'));
    const scopes =
      typeof values.scopes === 'string' ? values.scopes.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
    if (scopes?.length === 0) throw new UsageError('--scopes names no scope; leave it out to grant every scope');
    const { token, secret } = await services.tokens.create({
      organizationId: organization.id,
      name: values.name as string | undefined,
      scopes,
      rateLimit: integerOption(values['rate-limit'], 'rate-limit', 1, 1_000_000),
    });
    printObject(json, 'API token created (the secret is shown only this once)', {
      id: token.id,
      name: token.name,
      organization_id: token.organization_id,
      scopes: token.scopes,
      rate_limit: token.rate_limit,
      secret,
    });
  },
);
