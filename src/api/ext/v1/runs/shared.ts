/** A recorded run as the run listings answer it (services/runs.ts RunSummary). */
import { IntegerScalar, StringScalar, UnixTimeScalar } from '../../../framework/scalars.js';
import { enumType, objectType } from '../../../framework/types.js';
import type { RunSummary } from '../../../../services/runs.js';
import { RunCopyObject } from '../shared.js';

export const RunSummaryObject = objectType({
  id: 'ExtAPI/Objects/RunSummary',
  name: 'RunSummary',
  fields: {
    id: { type: StringScalar },
    disk_backup_policy_id: { type: StringScalar, value: (r: RunSummary) => r.policy_id },
    status: {
      type: enumType('ExtAPI/Objects/RunSummaryStatusEnum', 'RunSummaryStatusEnum', ['claimed', 'running', 'succeeded', 'failed', 'skipped']),
      description: '`claimed` and `running` while it has not finished (`finished_at` null)',
    },
    error: { type: StringScalar, nullable: true, description: 'Why it failed or was skipped; null when it succeeded' },
    scheduled_at: { type: UnixTimeScalar, description: 'The instant the run is for (a manual run: when it was asked for)' },
    started_at: { type: UnixTimeScalar, nullable: true },
    finished_at: { type: UnixTimeScalar, nullable: true, description: 'Null while it is running' },
    copy: { type: RunCopyObject, nullable: true },
    backups_kept: { type: IntegerScalar, description: 'Its backups the policy still keeps (retention removes older ones)' },
    bytes_read: { type: IntegerScalar, nullable: true, description: "Bytes of the disk images its kept backups read; null when none is kept" },
    bytes_stored: { type: IntegerScalar, nullable: true, description: 'Stored bytes its kept backups newly added to the repository; null when none is kept' },
  },
});
