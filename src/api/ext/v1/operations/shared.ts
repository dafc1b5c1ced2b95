/**
 * Long operations of the extension API: a run now, a restore or a verification asked for with
 * `async=true` answers 202 with the operation at once, and `GET operations/:operation` reports its
 * progress and then its result (services/operations.ts keeps them, for every process on the database).
 */
import { ApiError, defineError } from '../../../framework/errors.js';
import { BooleanScalar, IntegerScalar, StringScalar, UnixTimeScalar } from '../../../framework/scalars.js';
import { enumType, lookup, objectType, type LookupContext } from '../../../framework/types.js';
import type { Services } from '../../../../services/index.js';
import type { Operation, OperationStart } from '../../../../services/operations.js';
import type { Disk } from '../../../../store/schema.js';
import { findUnlessNul, guard } from '../../../core/v1/lookups.js';
import { repositoryFailure } from '../repository-errors.js';
import { RunObject, VerificationObject, type RunView } from '../shared.js';

export const OperationNotFound = defineError({
  id: 'ExtAPI/ArgumentSets/OperationLookup/OperationNotFound',
  code: 'operation_not_found',
  httpStatus: 404,
  description: 'No operation was found matching any of the criteria provided in the arguments',
});

export const OperationLookup = lookup<Operation>({
  id: 'ExtAPI/ArgumentSets/OperationLookup',
  name: 'OperationLookup',
  description: 'Provides for operations to be looked up',
  arguments: { id: { type: StringScalar } },
  errors: [OperationNotFound],
  async resolve(values, context: LookupContext) {
    const found = await findUnlessNul(values, () => (values.id ? context.services.operations.find(values.id) : Promise.resolve(null)));
    return guard(found, OperationNotFound, (o) => ({ organizationId: o.organization_id, objectId: null }), context);
  },
});

/** The `async` argument of the endpoints that may answer before their work is done. */
export const ASYNC_ARGUMENT = {
  type: BooleanScalar,
  default: false,
  description: 'True: answer 202 at once with the operation, whose progress and result `GET /ext/v1/operations/:operation` reports. False (the default): answer once it is done',
} as const;

/** An operation with what its result names, read for the answer. */
export interface OperationView {
  readonly operation: Operation;
  readonly run: RunView | null;
  readonly disk: Disk | null;
}

const OperationDiskObject = objectType({
  id: 'ExtAPI/Objects/OperationDisk',
  name: 'OperationDisk',
  fields: { id: { type: StringScalar }, name: { type: StringScalar }, size_in_gb: { type: IntegerScalar } },
});

export const OperationObject = objectType({
  id: 'ExtAPI/Objects/Operation',
  name: 'Operation',
  fields: {
    id: { type: StringScalar, value: (v: OperationView) => v.operation.id },
    kind: {
      type: enumType('ExtAPI/Objects/OperationKindEnum', 'OperationKindEnum', ['run', 'restore', 'verify']),
      description: "`run`: a policy's run now; `restore`: a backup restored to a new disk; `verify`: a backup verified",
      value: (v: OperationView) => v.operation.kind,
    },
    subject_id: { type: StringScalar, description: 'The policy run, or the backup restored or verified', value: (v: OperationView) => v.operation.subject_id },
    status: {
      type: enumType('ExtAPI/Objects/OperationStatusEnum', 'OperationStatusEnum', ['running', 'succeeded', 'failed']),
      description:
        '`failed` when the same request without `async` would have answered an error (`error` says which), or when the process doing it stopped (`interrupted`). A run that failed is a `succeeded` operation whose `run` says so, as the synchronous answer would',
      value: (v: OperationView) => v.operation.status,
    },
    bytes_done: { type: IntegerScalar, description: 'Bytes handled so far (written every half second or so)', value: (v: OperationView) => v.operation.bytes_done },
    bytes_total: {
      type: IntegerScalar,
      description: "Bytes to handle: the image restored or verified; for a run, its disks' images (it grows as each disk starts); 0 until known",
      value: (v: OperationView) => v.operation.bytes_total,
    },
    error: { type: StringScalar, nullable: true, description: 'Why it failed; null otherwise', value: (v: OperationView) => v.operation.error },
    created_at: { type: UnixTimeScalar, value: (v: OperationView) => v.operation.created_at },
    heartbeat_at: { type: UnixTimeScalar, description: 'Last written by the process doing it', value: (v: OperationView) => v.operation.heartbeat_at },
    finished_at: { type: UnixTimeScalar, nullable: true, value: (v: OperationView) => v.operation.finished_at },
    run: { type: RunObject, nullable: true, description: 'A succeeded `run`: the run, finished', value: (v: OperationView) => v.run },
    disk: { type: OperationDiskObject, nullable: true, description: 'A succeeded `restore`: the new disk', value: (v: OperationView) => v.disk },
    verification: {
      type: VerificationObject,
      nullable: true,
      description: 'A succeeded `verify`: what the check found',
      value: (v: OperationView) => (v.operation.kind === 'verify' && v.operation.status === 'succeeded' ? v.operation.result : null),
    },
  },
});

/** The 202 answer of an endpoint asked with `async=true`. */
export const ACCEPTED_OPERATION = {
  description: 'With `async=true`: the operation, started',
  fields: { operation: { type: OperationObject, description: 'The operation, running' } },
} as const;

/** What a run operation keeps as its result. */
export interface RunOperationResult {
  readonly run_id: string;
  readonly backups: RunView['backups'];
}

export async function operationView(services: Services, operation: Operation): Promise<OperationView> {
  if (operation.status !== 'succeeded') return { operation, run: null, disk: null };
  if (operation.kind === 'run') {
    const result = operation.result as RunOperationResult;
    const run = await services.runs.find(result.run_id);
    return { operation, run: run ? { run, backups: result.backups } : null, disk: null };
  }
  if (operation.kind === 'restore') {
    const disk = await services.inventory.findDisk({ id: (operation.result as { disk_id: string }).disk_id });
    return { operation, run: null, disk };
  }
  return { operation, run: null, disk: null };
}

/** The sentence an operation records when its work throws: as the synchronous answer's error would say it. */
export function explainFailure(repositoryPath: string | undefined): NonNullable<OperationStart['explain']> {
  return (error) => {
    const apiError = error instanceof ApiError ? error : repositoryFailure(error, repositoryPath);
    if (!apiError) return (error as Error)?.message ?? String(error);
    const details = (apiError.detail as { details?: unknown } | undefined)?.details;
    return `${apiError.definition.code}: ${typeof details === 'string' ? details : apiError.description}`;
  };
}
