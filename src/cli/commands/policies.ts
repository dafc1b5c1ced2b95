/** `dbp policy list|show|run`: the disk backup policies (made through the API or by `dbp demo`). */
import type { Command } from 'commander';
import { NotFound } from '../../services/errors.js';
import type { PolicyRecord } from '../../services/policies.js';
import { groupCommand, isoTime, leafCommand, printJson, printObject, printTable } from '../options.js';
import { registerPolicyRun } from './backups.js';
import { withServices } from '../with-services.js';
import { findOrganization, findVirtualMachine } from './inventory.js';

export function registerPolicyCommands(program: Command): void {
  const policy = groupCommand(program, 'policy', 'disk backup policies: list, show, run now', [
    'dbp policy list --org acme',
    'dbp policy run dbp_AbCdEfGh12345678',
  ]);

  leafCommand(policy, 'list', 'the policies (not those in the trash), oldest first', ['dbp policy list', 'dbp policy list --org acme --vm web-1 --json'])
    .option('--org <org>', "only this organization's (id or sub-domain)")
    .option('--disk <disk>', "only this disk's own policies (a disk id)")
    .option('--vm <vm>', "only this virtual machine's and its disks' (id or FQDN)")
    .action(async (flags: { org?: string; disk?: string; vm?: string }, command: Command) =>
      withServices(command, async (services, json) => {
        const organization = flags.org === undefined ? undefined : await findOrganization(services, flags.org);
        const vm = flags.vm === undefined ? undefined : await findVirtualMachine(services, flags.vm);
        const policies = (await services.policies.all({ organizationId: organization?.id, diskId: flags.disk, virtualMachineId: vm?.id })).map(policyFields);
        if (json) return printJson(policies);
        printTable(
          ['id', 'organization', 'target', 'schedule', 'retention', 'next_invocation_at'],
          policies.map((p) => [p.id, p.organization_id, `${p.target.type} ${p.target.id}`, scheduleText(p.schedule), String(p.retention), isoTime(p.next_invocation_at)]),
          'No policies.',
        );
      }),
    );

  leafCommand(policy, 'show', 'one policy, in the trash or not', ['dbp policy show dbp_AbCdEfGh12345678 --json'])
    .argument('<ID>', 'the policy id')
    .action(async (id: string, _flags: object, command: Command) =>
      withServices(command, async (services, json) => {
        const found = await services.policies.find(id);
        if (!found) throw new NotFound(`No disk backup policy with id "${id}"`);
        const fields = { ...policyFields(found), in_trash: Boolean(found.trashObject) };
        if (json) return printJson(fields);
        printObject(false, `Policy ${found.id}`, {
          ...fields,
          target: `${fields.target.type} ${fields.target.id} (${fields.target.name})`,
          schedule: scheduleText(fields.schedule),
          next_invocation_at: isoTime(fields.next_invocation_at),
          created_at: isoTime(fields.created_at),
        });
      }),
    );

  registerPolicyRun(policy);
}

function policyFields(policy: PolicyRecord) {
  return {
    id: policy.id,
    organization_id: policy.organization_id,
    target: { type: policy.target.type, id: policy.target.id, name: policy.target.name },
    retention: policy.retention,
    schedule: {
      interval: policy.schedule_interval,
      frequency: policy.schedule_frequency,
      time: policy.schedule_time,
      minute: policy.schedule_minute,
    },
    total_size_bytes: policy.total_size_bytes,
    next_invocation_at: policy.next_invocation_at,
    auto_move_to_trash_at: policy.auto_move_to_trash_at,
    created_at: policy.created_at,
  };
}

function scheduleText(schedule: ReturnType<typeof policyFields>['schedule']): string {
  const every = schedule.frequency === 1 ? schedule.interval : `every ${schedule.frequency} ${schedule.interval}`;
  const at = schedule.interval === 'hourly' ? `:${String(schedule.minute).padStart(2, '0')}` : `${String(schedule.time).padStart(2, '0')}:${String(schedule.minute).padStart(2, '0')}`;
  return `${every} ${at}`;
}
