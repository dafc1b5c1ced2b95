import { Accepted } from '../../../framework/endpoint.js';
import { StringScalar } from '../../../framework/scalars.js';
import { DiskObject } from '../../../objects/disk.js';
import { diskFromRestoredImage } from '../../../../services/backups.js';
import { ValidationFailed } from '../../../../services/errors.js';
import { ACCEPTED_OPERATION, ASYNC_ARGUMENT, explainFailure, operationView } from '../operations/shared.js';
import { BACKUP_TAG, BackupEngineUnavailable, BackupLookup, BackupUnreadable, defineExtensionEndpoint, engineOf, MANAGE_SCOPES } from '../shared.js';

export default defineExtensionEndpoint({
  id: 'ExtAPI/Endpoints/Backups/RestoreEndpoint',
  name: 'Restore a backup to a new disk',
  description:
    "Writes the backup's image to a new disk of the backup's organization and answers the disk; with `async=true`, answers 202 with the operation at once",
  method: 'POST',
  route: 'backups/:backup/restore',
  tag: BACKUP_TAG,
  scopes: MANAGE_SCOPES,
  arguments: {
    backup: { type: BackupLookup, required: true, description: 'The backup to restore' },
    name: { type: StringScalar, required: true, description: 'The name of the new disk' },
    async: ASYNC_ARGUMENT,
  },
  errors: [BackupEngineUnavailable, BackupUnreadable],
  fields: {
    disk: { type: DiskObject, spec: 'id,name,size_in_gb', description: 'The new disk' },
  },
  accepted: ACCEPTED_OPERATION,
  async action({ args, services, backups }) {
    if (args.name.trim() === '') throw new ValidationFailed(['Name must not be blank']);
    const engine = engineOf(backups);
    const backup = args.backup;
    const restore = async (onProgress?: (progress: { bytesDone: number; bytesTotal: number }) => void) => {
      const imagePath = await engine.restoreToNewImage(backup.id, onProgress);
      return diskFromRestoredImage(services.inventory, backup, args.name, imagePath, services.clock.now());
    };
    if (!args.async) {
      const disk = await restore();
      return { disk: await services.inventory.findDisk({ id: disk.id }) };
    }
    const { operation } = await services.operations.start({
      kind: 'restore',
      organizationId: backup.organization_id,
      subjectId: backup.id,
      explain: explainFailure(engine.repositoryPath),
      work: async (onProgress) => ({ disk_id: (await restore(onProgress)).id }),
    });
    return new Accepted({ operation: await operationView(services, operation) });
  },
});
