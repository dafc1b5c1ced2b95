import { BACKUP_TAG, BackupEngineUnavailable, BackupLookup, defineExtensionEndpoint, engineOf, MANAGE_SCOPES, VerificationObject } from '../shared.js';

export default defineExtensionEndpoint({
  id: 'ExtAPI/Endpoints/Backups/VerifyEndpoint',
  name: 'Verify a backup',
  description: "Re-reads and authenticates every chunk of the backup and answers what it found",
  method: 'POST',
  route: 'backups/:backup/verify',
  tag: BACKUP_TAG,
  scopes: MANAGE_SCOPES,
  arguments: {
    backup: { type: BackupLookup, required: true, description: 'The backup to verify' },
  },
  errors: [BackupEngineUnavailable],
  fields: {
    verification: { type: VerificationObject, description: 'What the check found' },
  },
  async action({ args, backups }) {
    return { verification: await engineOf(backups).verify(args.backup.id) };
  },
});
