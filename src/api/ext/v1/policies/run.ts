import { DiskBackupPolicyLookup } from '../../../core/v1/lookups.js';
import { RunInProgress } from '../../../../scheduler/manual-runs.js';
import { ApiError } from '../../../framework/errors.js';
import { RepositoryUnavailable } from '../repository-errors.js';
import { BACKUP_TAG, BackupEngineUnavailable, defineExtensionEndpoint, engineOf, MANAGE_SCOPES, RunInProgressError, RunObject } from '../shared.js';

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
  errors: [BackupEngineUnavailable, RunInProgressError],
  fields: {
    run: { type: RunObject, description: 'The run, finished' },
  },
  async action({ args, backups, services }) {
    const { runId, result } = await engineOf(backups)
      .runPolicyNow(args.disk_backup_policy.id)
      .catch((error: unknown) => {
        throw error instanceof RunInProgress ? new ApiError(RunInProgressError, { run_id: error.runId }) : error;
      });
    // The store could not be reached: the repository is unavailable (503, as for every extension
    // endpoint); the run is recorded as failed, and the answer names it.
    if (result.status === 'failed' && result.storeUnreachable) {
      throw new ApiError(RepositoryUnavailable, { repository_error: 'store_unavailable', details: `${result.error}; run ${runId} is recorded as failed` });
    }
    const run = await services.runs.find(runId);
    if (!run) throw new Error(`The run ${runId} was not recorded`);
    return { run: { run, backups: result.backups } };
  },
});
