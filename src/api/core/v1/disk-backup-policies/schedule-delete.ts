import { defineEndpoint } from '../../../framework/endpoint.js';
import { UnixTimeScalar } from '../../../framework/scalars.js';
import { DiskBackupPolicyObject } from '../../../objects/disk-backup-policy.js';
import { InvalidTimestamp, PermissionDenied } from '../errors.js';
import { DiskBackupPolicyLookup } from '../lookups.js';
import { POLICY_MANAGE_SCOPES, POLICY_TAG } from '../shared.js';

export default defineEndpoint({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/ScheduleDeleteEndpoint',
  name: 'Schedule delete disk backup policy',
  description:
    'Schedules a disk backup policy to be moved to the trash at a specific time. The backup policy will continue to function as normal until this time is reached.',
  method: 'DELETE',
  route: 'disk_backup_policies/:disk_backup_policy/schedule',
  tag: POLICY_TAG,
  scopes: POLICY_MANAGE_SCOPES,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The disk backup policy to move to the trash' },
    timestamp: { type: UnixTimeScalar, required: true, description: 'The time the disk backup policy will be moved to the trash automatically.' },
  },
  errors: [PermissionDenied, InvalidTimestamp],
  fields: {
    disk_backup_policy: { type: DiskBackupPolicyObject, spec: 'id,auto_move_to_trash_at,target[id]', description: 'The disk backup policy that has been scheduled for deletion' },
  },
  async action({ args, services }) {
    return { disk_backup_policy: await services.policies.scheduleDelete(args.disk_backup_policy, args.timestamp) };
  },
});
