/**
 * What the extension endpoints share: their objects, errors, lookups and scopes. The real Core API
 * has no backups endpoints; these live under /ext/v1/ with their own OpenAPI document.
 */
import { defineEndpoint, type EndpointDefinition } from '../../framework/endpoint.js';
import { ApiError, defineError } from '../../framework/errors.js';
import { BooleanScalar, IntegerScalar, StringScalar, UnixTimeScalar } from '../../framework/scalars.js';
import { enumType, lookup, objectType, type ArgumentDefinition, type LookupContext } from '../../framework/types.js';
import type { BackupOperations, TakenBackup } from '../../../services/backups.js';
import type { Backup, BackupRun } from '../../../store/schema.js';
import { findUnlessNul, guard } from '../../core/v1/lookups.js';
import { StringScalar as Key } from '../../framework/scalars.js';
import { repositoryFailure, REPOSITORY_ERRORS } from './repository-errors.js';

export { BackupUnreadable } from './repository-errors.js';

export const BACKUP_TAG = 'Backups (extension)';

/** What the extension endpoints' actions are given besides the framework's context. */
export interface ExtensionContext {
  /** The backup engine, in a process that has one. */
  readonly backups?: BackupOperations | undefined;
}

/**
 * An extension endpoint: its action may use the backup engine. Whatever the repository throws is
 * answered as one of REPOSITORY_ERRORS (see repository-errors.ts), which every such endpoint lists.
 */
export function defineExtensionEndpoint<const A extends Record<string, ArgumentDefinition<any>>>(
  definition: EndpointDefinition<A, ExtensionContext>,
): EndpointDefinition<A, ExtensionContext> {
  const { action } = definition;
  return defineEndpoint<A, ExtensionContext>({
    ...definition,
    errors: [...definition.errors, ...REPOSITORY_ERRORS.filter((error) => !definition.errors.includes(error))],
    action: (context) =>
      action(context).catch((error: unknown) => {
        throw repositoryFailure(error, context.backups?.repositoryPath) ?? error;
      }),
  });
}
/** Reading backups needs the policies' read scope; running, restoring and verifying the manage scope. */
export const READ_SCOPES = ['disk_backup_policies', 'disk_backup_policies:read'] as const;
export const MANAGE_SCOPES = ['disk_backup_policies'] as const;

export const BackupNotFound = defineError({
  id: 'ExtAPI/ArgumentSets/BackupLookup/BackupNotFound',
  code: 'backup_not_found',
  httpStatus: 404,
  description: 'No backup was found matching any of the criteria provided in the arguments',
});

export const BackupEngineUnavailable = defineError({
  id: 'ExtAPI/Errors/BackupEngineUnavailable',
  code: 'backup_engine_unavailable',
  httpStatus: 503,
  description: 'This service process has no backup engine (no repository passphrase is configured)',
});

export const RunInProgressError = defineError({
  id: 'ExtAPI/Errors/RunInProgress',
  code: 'run_in_progress',
  httpStatus: 409,
  description: 'The policy already has a run in progress (two runs of one policy never overlap); try again once it has finished',
  detail: { run_id: { type: StringScalar } },
});

export const BackupLookup = lookup<Backup>({
  id: 'ExtAPI/ArgumentSets/BackupLookup',
  name: 'BackupLookup',
  description: 'Provides for backups to be looked up',
  arguments: { id: { type: Key } },
  errors: [BackupNotFound],
  async resolve(values, context: LookupContext) {
    const found = await findUnlessNul(values, () => (values.id ? context.services.backups.find(values.id) : Promise.resolve(null)));
    return guard(found, BackupNotFound, (b) => ({ organizationId: b.organization_id, objectId: null }), context);
  },
});

export function engineOf(backups: BackupOperations | undefined): BackupOperations {
  if (!backups) throw new ApiError(BackupEngineUnavailable);
  return backups;
}

const LIVE_READ_DESCRIPTION = 'True when the disk was read in place while it could change, not from a point-in-time clone';

/** A backup's last verification (migration 0013), by whatever asked for it: scheduled, `dbp verify` or the API. */
export const BackupVerificationObject = objectType({
  id: 'ExtAPI/Objects/BackupLastVerification',
  name: 'BackupLastVerification',
  fields: {
    verified_at: { type: UnixTimeScalar, description: 'When it ended', value: (b: Backup) => b.verified_at },
    outcome: {
      type: enumType('ExtAPI/Objects/BackupVerificationOutcomeEnum', 'BackupVerificationOutcomeEnum', ['ok', 'failed']),
      description: '`ok`: every chunk read and authenticated; `failed`: a chunk or the manifest is damaged or missing',
      value: (b: Backup) => b.verify_outcome,
    },
    detail: { type: StringScalar, description: 'What it found, in a sentence', value: (b: Backup) => b.verify_detail },
    bytes_checked: { type: IntegerScalar, description: "Plain bytes of the backup's chunks it read and authenticated", value: (b: Backup) => b.verify_bytes },
  },
});

export const BackupObject = objectType({
  id: 'ExtAPI/Objects/Backup',
  name: 'Backup',
  fields: {
    id: { type: StringScalar },
    disk_backup_policy_id: { type: StringScalar, value: (b: Backup) => b.policy_id },
    disk_id: { type: StringScalar },
    run_id: { type: StringScalar, nullable: true },
    created_at: { type: UnixTimeScalar },
    size: { type: IntegerScalar, description: 'Bytes of the disk image backed up', value: (b: Backup) => b.disk_size_bytes },
    new_stored_size: { type: IntegerScalar, description: 'Stored bytes this backup added to the repository', value: (b: Backup) => b.new_stored_bytes },
    consistency: {
      type: enumType('ExtAPI/Objects/BackupConsistencyEnum', 'BackupConsistencyEnum', ['snapshot', 'live']),
      description: '`snapshot`: read from a point-in-time clone of the image; `live`: read while the disk could change',
    },
    live_read: { type: BooleanScalar, description: LIVE_READ_DESCRIPTION },
    read_mode: {
      type: enumType('ExtAPI/Objects/BackupReadModeEnum', 'BackupReadModeEnum', ['full', 'incremental']),
      nullable: true,
      description: 'An RBD disk (docs/RBD.md): `full` (its allocated extents read) or `incremental` (only the chunks changed since the previous backup); null for other disks',
    },
    read_note: { type: StringScalar, nullable: true, description: 'Why an RBD disk was read in full although it had an earlier backup; null otherwise' },
    snapshot_group: {
      type: StringScalar,
      nullable: true,
      description: "The RBD group snapshot (`POOL/GROUP@NAME`) a virtual machine's disks were read from at one instant, the same on each of their backups; null otherwise",
    },
    last_verification: {
      type: BackupVerificationObject,
      nullable: true,
      description: 'Its last verification (scheduled, `dbp verify` or the verify endpoint); null while it was never verified',
      value: (b: Backup) => (b.verified_at === null ? null : b),
    },
  },
});

/** One disk's backup as a run took it. */
export const RunBackupObject = objectType({
  id: 'ExtAPI/Objects/RunBackup',
  name: 'RunBackup',
  fields: {
    id: { type: StringScalar, description: 'The backup (as listed by the backups endpoint)' },
    disk_id: { type: StringScalar, value: (b: TakenBackup) => b.diskId },
    bytes_read: { type: IntegerScalar, description: 'Bytes read from the disk', value: (b: TakenBackup) => b.bytesRead },
    bytes_stored: {
      type: IntegerScalar,
      description: 'Stored bytes this backup newly added to the repository (0 when all its data was already there)',
      value: (b: TakenBackup) => b.bytesStored,
    },
    duration_ms: { type: IntegerScalar, description: 'Wall time of reading and storing the disk', value: (b: TakenBackup) => b.durationMs },
    live_read: { type: BooleanScalar, description: LIVE_READ_DESCRIPTION, value: (b: TakenBackup) => b.liveRead },
  },
});

/** The second copy after a run (`--copy-to`). */
export const RunCopyObject = objectType({
  id: 'ExtAPI/Objects/RunCopy',
  name: 'RunCopy',
  fields: {
    to: { type: StringScalar, description: 'The repository copied to' },
    backups_copied: { type: IntegerScalar, description: "The run's backups copied (those already there are not counted)" },
    chunks_sent: { type: IntegerScalar, description: 'Chunks the target lacked, sent to it' },
    bytes_sent: { type: IntegerScalar, description: 'Stored bytes sent to the target' },
    error: { type: StringScalar, nullable: true, description: "Why the copy failed (the run's backups stand); null when it succeeded" },
  },
});

/** A finished run, with the backups it took. */
export interface RunView {
  readonly run: BackupRun;
  readonly backups: readonly TakenBackup[];
}

export const RunObject = objectType({
  id: 'ExtAPI/Objects/BackupRun',
  name: 'BackupRun',
  fields: {
    id: { type: StringScalar, value: (v: RunView) => v.run.id },
    status: {
      type: enumType('ExtAPI/Objects/BackupRunStatusEnum', 'BackupRunStatusEnum', ['succeeded', 'failed', 'skipped']),
      value: (v: RunView) => v.run.status,
    },
    error: { type: StringScalar, nullable: true, description: 'Why it failed or was skipped; null when it succeeded', value: (v: RunView) => v.run.error },
    live_read: { type: BooleanScalar, description: 'True when any of its backups was read live', value: (v: RunView) => v.run.live_read },
    copy: {
      type: RunCopyObject,
      nullable: true,
      description: 'The second copy of its backups to another repository (`--copy-to`), null when none was made; a failed copy does not fail the run',
      value: (v: RunView) => v.run.copy,
    },
    scheduled_at: { type: UnixTimeScalar, description: 'The instant the run is for (a manual run: when it was asked for)', value: (v: RunView) => v.run.scheduled_at },
    started_at: { type: UnixTimeScalar, nullable: true, value: (v: RunView) => v.run.started_at },
    finished_at: { type: UnixTimeScalar, nullable: true, value: (v: RunView) => v.run.finished_at },
    backups: { type: RunBackupObject, array: true, description: 'The backups it took, one per disk backed up', value: (v: RunView) => v.backups },
  },
});

export const BadChunkObject = objectType({
  id: 'ExtAPI/Objects/BadChunk',
  name: 'BadChunk',
  fields: {
    chunk_id: { type: StringScalar, value: (c: { chunkId: string }) => c.chunkId },
    problem: { type: StringScalar },
    detail: { type: StringScalar },
  },
});

export const VerificationObject = objectType({
  id: 'ExtAPI/Objects/Verification',
  name: 'Verification',
  fields: {
    ok: { type: BooleanScalar },
    chunks_checked: { type: IntegerScalar, value: (v: { chunksChecked: number }) => v.chunksChecked },
    bad_chunks: { type: BadChunkObject, array: true, value: (v: { badChunks: unknown[] }) => v.badChunks },
  },
});
