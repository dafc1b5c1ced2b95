import { StringScalar } from '../../../framework/scalars.js';
import { DiskObject } from '../../../objects/disk.js';
import { diskFromRestoredImage } from '../../../../services/backups.js';
import { ValidationFailed } from '../../../../services/errors.js';
import { BACKUP_TAG, BackupEngineUnavailable, BackupLookup, BackupUnreadable, defineExtensionEndpoint, engineOf, MANAGE_SCOPES } from '../shared.js';

export default defineExtensionEndpoint({
  id: 'ExtAPI/Endpoints/Backups/RestoreEndpoint',
  name: 'Restore a backup to a new disk',
  description: "Writes the backup's image to a new disk of the backup's organization and answers the disk",
  method: 'POST',
  route: 'backups/:backup/restore',
  tag: BACKUP_TAG,
  scopes: MANAGE_SCOPES,
  arguments: {
    backup: { type: BackupLookup, required: true, description: 'The backup to restore' },
    name: { type: StringScalar, required: true, description: 'The name of the new disk' },
  },
  errors: [BackupEngineUnavailable, BackupUnreadable],
  fields: {
    disk: { type: DiskObject, spec: 'id,name,size_in_gb', description: 'The new disk' },
  },
  async action({ args, services, backups }) {
    if (args.name.trim() === '') throw new ValidationFailed(['Name must not be blank']);
    const imagePath = await engineOf(backups).restoreToNewImage(args.backup.id);
    const disk = await diskFromRestoredImage(services.inventory, args.backup, args.name, imagePath, services.clock.now());
    return { disk: await services.inventory.findDisk({ id: disk.id }) };
  },
});

