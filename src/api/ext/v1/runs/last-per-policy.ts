import { defineEndpoint } from '../../../framework/endpoint.js';
import { PermissionDenied } from '../../../core/v1/errors.js';
import { OrganizationLookup } from '../../../core/v1/lookups.js';
import { BACKUP_TAG, READ_SCOPES } from '../shared.js';
import { RunSummaryObject } from './shared.js';

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/Runs/LastPerPolicyEndpoint',
  name: "The last run of each of an organization's policies",
  description: "Returns the newest recorded run of every policy of the organization that has run (at most one per policy, in no set order), for an overview of their outcomes",
  method: 'GET',
  route: 'organizations/:organization/last_runs',
  tag: BACKUP_TAG,
  scopes: READ_SCOPES,
  cacheable: false,
  arguments: {
    organization: { type: OrganizationLookup, required: true, description: 'The organization whose policies to report on' },
  },
  errors: [PermissionDenied],
  fields: {
    last_runs: { type: RunSummaryObject, array: true, description: "One run per policy that has run: its newest" },
  },
  async action({ args, services }) {
    return { last_runs: await services.runs.lastPerPolicy(args.organization.id) };
  },
});
