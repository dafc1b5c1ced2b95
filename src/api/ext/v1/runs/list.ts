import { defineEndpoint } from '../../../framework/endpoint.js';
import { DiskBackupPolicyLookup } from '../../../core/v1/lookups.js';
import { pageOf, paginationArguments, paginationField } from '../../../core/v1/shared.js';
import { BACKUP_TAG, READ_SCOPES } from '../shared.js';
import { RunSummaryObject } from './shared.js';

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/Runs/ListEndpoint',
  name: "List a policy's runs",
  description: "Returns a page of the runs recorded for a disk backup policy (scheduled and manual), newest first, with the sizes of the backups they took that are still kept",
  method: 'GET',
  route: 'disk_backup_policies/:disk_backup_policy/runs',
  tag: BACKUP_TAG,
  scopes: READ_SCOPES,
  // Runs are written by the scheduler without touching the organization's generation.
  cacheable: false,
  arguments: {
    disk_backup_policy: { type: DiskBackupPolicyLookup, required: true, description: 'The policy whose runs to list' },
    ...paginationArguments,
  },
  errors: [],
  fields: {
    ...paginationField,
    runs: { type: RunSummaryObject, array: true, description: 'The runs, newest first' },
  },
  async action({ args, services }) {
    const { items, pagination } = await services.runs.pageForPolicy(args.disk_backup_policy.id, pageOf(args));
    return { pagination, runs: items };
  },
});
