import { DiskBackupPolicyLookup } from '../../../core/v1/lookups.js';
import { BACKUP_TAG, BackupEngineUnavailable, defineExtensionEndpoint, engineOf, MANAGE_SCOPES, RunObject } from '../shared.js';

export default defineExtensionEndpoint({
  id: 'ExtAPI/Endpoints/DiskBackupPolicies/RunEndpoint',
  name: 'Run a policy now',
  description: "Backs up the policy's disks now, outside its schedule, and answers the run once it has finished",
  method: 'POST',
  route: 'disk_backup_policies/:disk_backup_policy/run',
  tag: BACKUP_TAG,
  scopes: MANAGE_SCOPES,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The policy to run' },
  },
  errors: [BackupEngineUnavailable],
  fields: {
    run: { type: RunObject, description: 'The run, finished' },
  },
  async action({ args, backups, services }) {
    const { runId, result } = await engineOf(backups).runPolicyNow(args.disk_backup_policy.id);
    const run = await services.runs.find(runId);
    if (!run) throw new Error(`The run ${runId} was not recorded`);
    return { run: { run, backups: result.backups } };
  },
});
