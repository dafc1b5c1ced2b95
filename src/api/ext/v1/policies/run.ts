import { DiskBackupPolicyLookup } from '../../../core/v1/lookups.js';
import { RunInProgress } from '../../../../scheduler/manual-runs.js';
import { Accepted } from '../../../framework/endpoint.js';
import { ApiError } from '../../../framework/errors.js';
import { ACCEPTED_OPERATION, ASYNC_ARGUMENT, explainFailure, operationView, type RunOperationResult } from '../operations/shared.js';
import { RepositoryUnavailable } from '../repository-errors.js';
import { BACKUP_TAG, BackupEngineUnavailable, defineExtensionEndpoint, engineOf, MANAGE_SCOPES, RunInProgressError, RunObject } from '../shared.js';
import type { BackupOperations, BytesProgress } from '../../../../services/backups.js';

export default defineExtensionEndpoint({
  id: 'ExtAPI/Endpoints/DiskBackupPolicies/RunEndpoint',
  name: 'Run a policy now',
  description:
    "Backs up the policy's disks now, outside its schedule, and answers the run once it has finished; with `async=true`, answers 202 with the operation once the run is recorded",
  method: 'POST',
  route: 'disk_backup_policies/:disk_backup_policy/run',
  tag: BACKUP_TAG,
  scopes: MANAGE_SCOPES,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The policy to run' },
    async: ASYNC_ARGUMENT,
  },
  errors: [BackupEngineUnavailable, RunInProgressError],
  fields: {
    run: { type: RunObject, description: 'The run, finished' },
  },
  accepted: ACCEPTED_OPERATION,
  async action({ args, backups, services }) {
    const engine = engineOf(backups);
    const policy = args.disk_backup_policy;
    if (!args.async) {
      const { runId, result } = await runNow(engine, policy.id);
      const run = await services.runs.find(runId);
      if (!run) throw new Error(`The run ${runId} was not recorded`);
      return { run: { run, backups: result.backups } };
    }
    let recorded!: () => void;
    const started = new Promise<void>((resolve) => (recorded = resolve));
    const { operation, done } = await services.operations.start({
      kind: 'run',
      organizationId: policy.organization_id,
      subjectId: policy.id,
      explain: explainFailure(engine.repositoryPath),
      work: async (onProgress): Promise<RunOperationResult> => {
        const { runId, result } = await runNow(engine, policy.id, { onProgress, onStarted: recorded });
        return { run_id: runId, backups: result.backups };
      },
    });
    // A policy with a run in progress is refused at once (409), as without `async`.
    await Promise.race([started, done]);
    return new Accepted({ operation: await operationView(services, operation) });
  },
});

/** A run now; a run in progress is 409, an unreachable store 503 (the run is recorded as failed, and the answer names it). */
async function runNow(engine: BackupOperations, policyId: string, options: { onProgress?: BytesProgress; onStarted?: (runId: string) => void } = {}) {
  const { runId, result } = await engine.runPolicyNow(policyId, options).catch((error: unknown) => {
    throw error instanceof RunInProgress ? new ApiError(RunInProgressError, { run_id: error.runId }) : error;
  });
  if (result.status === 'failed' && result.storeUnreachable) {
    throw new ApiError(RepositoryUnavailable, { repository_error: 'store_unavailable', details: `${result.error}; run ${runId} is recorded as failed` });
  }
  return { runId, result };
}
