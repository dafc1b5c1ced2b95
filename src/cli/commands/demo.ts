/**
 * `dbp demo`: a demo organization with a virtual machine (two disks), a standalone disk with a daily
 * backup policy, and an API token with every scope. Running it again reuses what exists; since only
 * a hash of a token's secret is stored, the demo token gets a fresh secret each run (printed).
 */
import { Option, type Command } from 'commander';
import { diskImage, writeDemoContent } from '../../engine/disk-sources.js';
import { ensureDemoPassphrase } from '../../engine/index.js';
import { openRuntime, type Runtime } from '../../runtime.js';
import type { Services } from '../../services/index.js';
import { commonOptions, leafCommand, type CommonOptions } from '../options.js';

const DEMO_SUB_DOMAIN = 'demo';
const DEMO_TOKEN_NAME = 'Demo token (every scope)';

export interface DemoData {
  organization: { id: string; sub_domain: string };
  virtual_machine: { id: string; fqdn: string; disk_ids: string[] };
  disk: { id: string };
  disk_backup_policy: { id: string };
  api_token: { id: string; secret: string };
}

export async function ensureDemoData(services: Services): Promise<DemoData> {
  const { inventory, policies, tokens } = services;
  const organization =
    (await inventory.findOrganization({ sub_domain: DEMO_SUB_DOMAIN })) ??
    (await inventory.createOrganization({ name: 'Demo Organization', subDomain: DEMO_SUB_DOMAIN, timeZone: 'Europe/London' }));

  const firstPage = { page: 1, perPage: 200 };
  let vm = (await inventory.listVirtualMachines(organization.id, firstPage)).items[0];
  if (!vm) {
    vm = await inventory.createVirtualMachine({ organizationId: organization.id, name: 'web-1' });
    await inventory.createDisk({ organizationId: organization.id, virtualMachineId: vm.id, name: 'web-1 system disk', sizeInGb: 20 });
    await inventory.createDisk({ organizationId: organization.id, virtualMachineId: vm.id, name: 'web-1 data disk', sizeInGb: 50 });
  }
  const disks = (await inventory.listDisks(organization.id, firstPage)).items;
  const standalone =
    disks.find((d) => d.attachment === null) ??
    (await inventory.createDisk({ organizationId: organization.id, name: 'archive disk', sizeInGb: 10 }));

  const existingPolicy = (await policies.listForDisk(standalone.id, { page: 1, perPage: 1 })).items[0];
  const policy =
    existingPolicy ??
    (await policies.create(organization.id, { type: 'Disk', id: standalone.id, name: standalone.name }, {
      retention: 7,
      schedule: { interval: 'daily', time: 2, minute: 30 },
    }));

  const existingToken = await tokens.findByName(organization.id, DEMO_TOKEN_NAME);
  const { token, secret } = existingToken
    ? await tokens.regenerateSecret(existingToken)
    : await tokens.create({ organizationId: organization.id, name: DEMO_TOKEN_NAME });

  return {
    organization: { id: organization.id, sub_domain: organization.sub_domain },
    virtual_machine: { id: vm.id, fqdn: vm.fqdn, disk_ids: await inventory.diskIdsOf(vm.id) },
    disk: { id: standalone.id },
    disk_backup_policy: { id: policy.id },
    api_token: { id: token.id, secret },
  };
}

/** Each demo disk without an image gets a sparse one under the data directory, with demo content. */
async function giveDemoDisksImages(runtime: Runtime, dataDir: string, diskIds: readonly string[]): Promise<void> {
  for (const diskId of diskIds) await diskImage(runtime.store.db, dataDir, diskId, (path) => writeDemoContent(path, diskId));
}

export function registerDemoCommand(program: Command): void {
  leafCommand(
    program,
    'demo',
    'create demo data (idempotent) and print it, with a fresh secret for the demo token each run',
    ['dbp demo', 'dbp --data-dir /tmp/dbp-demo demo --json'],
  )
    .addOption(new Option('--port <port>', 'the port the printed curl line calls').env('DBP_PORT').default('8080'))
    .action(async (flags: { port: string }, command: Command) => demo(commonOptions(command), flags.port));
}

async function demo(options: CommonOptions, port: string): Promise<void> {
  const runtime = await openRuntime(options);
  try {
    const demo = await ensureDemoData(runtime.services);
    const passphraseFile = ensureDemoPassphrase(options.dataDir);
    await giveDemoDisksImages(runtime, options.dataDir, [...demo.virtual_machine.disk_ids, demo.disk.id]);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(demo, null, 2)}\n`);
      return;
    }
    const base = `http://127.0.0.1:${port}/core/v1`;
    process.stdout.write(
      [
        `Demo data in ${runtime.store.location}:`,
        `  organization       ${demo.organization.id} (sub-domain "${demo.organization.sub_domain}")`,
        `  virtual machine    ${demo.virtual_machine.id} with disks ${demo.virtual_machine.disk_ids.join(', ')}`,
        `  standalone disk    ${demo.disk.id}`,
        `  backup policy      ${demo.disk_backup_policy.id}`,
        `  API token          ${demo.api_token.id}`,
        `  token secret       ${demo.api_token.secret}   (shown once; \`dbp demo\` issues a new one each run)`,
        `  disk images        ${options.dataDir}/disks/ (sparse, with a few MiB of demo content)`,
        ...(passphraseFile ? [`  repository key     ${passphraseFile} (the backup repository's passphrase; keep it apart from backups in production)`] : []),
        '',
        'Call the API (once `dbp serve` is running):',
        `  curl -s -g -H "Authorization: Bearer ${demo.api_token.secret}" "${base}/disks/disk/disk_backup_policies?disk[id]=${demo.disk.id}"`,
        '',
      ].join('\n'),
    );
  } finally {
    await runtime.close();
  }
}
