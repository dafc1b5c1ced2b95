/** Pieces several Core API endpoint definitions share. */
import { IntegerScalar } from '../../framework/scalars.js';
import { argumentSet } from '../../framework/types.js';
import { ScheduleIntervalTypeEnum } from '../../objects/disk-backup-policy.js';
import { PaginationObject } from '../../objects/pagination.js';
import type { PageRequest } from '../../../services/pagination.js';

const greaterThanZero = { name: 'greater_than_zero', check: (value: number) => value > 0 };

/** `page` and `per_page`, with the real API's defaults and limits (at most 200 a page). */
export const paginationArguments = {
  page: { type: IntegerScalar, default: 1, validations: [greaterThanZero] },
  per_page: {
    type: IntegerScalar,
    default: 30,
    validations: [greaterThanZero, { name: 'less_than_or_equal_to_one_hundred', check: (value: number) => value <= 200 }],
  },
} as const;

export const paginationField = { pagination: { type: PaginationObject } } as const;

export function pageOf(args: { page: number | null; per_page: number | null }): PageRequest {
  // An explicit JSON `null` is "given" (so the default does not apply) but names no page: use the defaults.
  return { page: args.page ?? 1, perPage: args.per_page ?? 30 };
}

export const ScheduleArguments = argumentSet({
  id: 'CoreAPI/ArgumentSets/ScheduleArguments',
  name: 'ScheduleArguments',
  arguments: {
    frequency: { type: IntegerScalar },
    interval: { type: ScheduleIntervalTypeEnum },
    minute: { type: IntegerScalar },
    time: { type: IntegerScalar },
  },
});

export const DiskBackupPolicyArguments = argumentSet({
  id: 'CoreAPI/ArgumentSets/DiskBackupPolicyArguments',
  name: 'DiskBackupPolicyArguments',
  arguments: {
    retention: { type: IntegerScalar },
    schedule: { type: ScheduleArguments },
  },
});

/** The field spec of policy lists. */
export const POLICY_LIST_SPEC = 'id,retention,total_size,target[id,name],schedule[interval,next_invocation_at]';
export const POLICY_FULL_SPEC = '*,target[id,name]';
export const POLICY_SCOPES = ['disk_backup_policies', 'disk_backup_policies:read'] as const;
export const POLICY_MANAGE_SCOPES = ['disk_backup_policies'] as const;
export const POLICY_TAG = 'Disk backup policies';
