import { Accepted } from '../../../framework/endpoint.js';
import { ACCEPTED_OPERATION, ASYNC_ARGUMENT, explainFailure, operationView } from '../operations/shared.js';
import { BACKUP_TAG, BackupEngineUnavailable, BackupLookup, defineExtensionEndpoint, engineOf, MANAGE_SCOPES, VerificationObject } from '../shared.js';

export default defineExtensionEndpoint({
  id: 'ExtAPI/Endpoints/Backups/VerifyEndpoint',
  name: 'Verify a backup',
  description: 'Re-reads and authenticates every chunk of the backup and answers what it found; with `async=true`, answers 202 with the operation at once',
  method: 'POST',
  route: 'backups/:backup/verify',
  tag: BACKUP_TAG,
  scopes: MANAGE_SCOPES,
  arguments: {
    backup: { type: BackupLookup, required: true, description: 'The backup to verify' },
    async: ASYNC_ARGUMENT,
  },
  errors: [BackupEngineUnavailable],
  fields: {
    verification: { type: VerificationObject, description: 'What the check found' },
  },
  accepted: ACCEPTED_OPERATION,
  async action({ args, backups, services }) {
    const engine = engineOf(backups);
    if (!args.async) return { verification: await engine.verify(args.backup.id) };
    const { operation } = await services.operations.start({
      kind: 'verify',
      organizationId: args.backup.organization_id,
      subjectId: args.backup.id,
      explain: explainFailure(engine.repositoryPath),
      work: async (onProgress) => {
        const { ok, chunksChecked, badChunks } = await engine.verify(args.backup.id, onProgress);
        return { ok, chunksChecked, badChunks };
      },
    });
    return new Accepted({ operation: await operationView(services, operation) });
  },
});
