/**
 * The one place where the backup repository's failures become API errors: every extension endpoint's
 * action goes through `repositoryFailure` (see defineExtensionEndpoint), so that no repository or
 * object-store error reaches the client as `unhandled_exception`. Each answer carries the
 * repository's own error code and message.
 */
import { isAbsolute, relative } from 'node:path';
import { ApiError, defineError } from '../../framework/errors.js';
import { StringScalar } from '../../framework/scalars.js';
import { RepositoryError } from '../../../engine/repository/errors.js';
import type { RepositoryErrorCode } from '../../../engine/repository/contract.js';
import { StoreError } from '../../../engine/storage/object-store.js';

const REPOSITORY_DETAIL = {
  repository_error: { type: StringScalar, description: "The repository's own code for what went wrong (e.g. `missing_chunk`, `repository_locked`)" },
  details: { type: StringScalar, description: 'What went wrong, in words' },
};

export const BackupUnreadable = defineError({
  id: 'ExtAPI/Errors/BackupUnreadable',
  code: 'backup_unreadable',
  httpStatus: 422,
  description: 'The backup cannot be read back from the repository (a chunk or its manifest is missing or damaged)',
  detail: REPOSITORY_DETAIL,
});

export const RepositoryBusy = defineError({
  id: 'ExtAPI/Errors/RepositoryBusy',
  code: 'repository_busy',
  httpStatus: 409,
  description: 'The backup repository is in use by work that runs alone (garbage collection, an index repair); try again when it is done',
  detail: REPOSITORY_DETAIL,
});

export const RepositoryUnavailable = defineError({
  id: 'ExtAPI/Errors/RepositoryUnavailable',
  code: 'repository_unavailable',
  httpStatus: 503,
  description: 'The backup repository cannot be used right now (unreachable, refused, or not the repository it should be); try again later',
  detail: REPOSITORY_DETAIL,
});

/** Every error `repositoryFailure` answers (listed by each extension endpoint). */
export const REPOSITORY_ERRORS = [BackupUnreadable, RepositoryBusy, RepositoryUnavailable] as const;

/** The data of one backup is missing or damaged: that backup cannot be read, the repository still works. */
const UNREADABLE: ReadonlySet<RepositoryErrorCode> = new Set<RepositoryErrorCode>([
  'backup_not_found',
  'missing_chunk',
  'corrupt_chunk',
  'corrupt_manifest',
  'corrupt_pack',
  'corrupt_index',
]);

/**
 * A repository or object-store failure as the API's error; undefined for any other error. A local
 * repository's own file-system failures (its directory gone, unreadable, read-only) count too: they
 * are told by their path, under `repositoryPath`, which the answer shows only relative to it.
 */
export function repositoryFailure(error: unknown, repositoryPath?: string): ApiError | undefined {
  if (error instanceof RepositoryError) {
    const detail = { repository_error: error.code, details: error.message };
    if (UNREADABLE.has(error.code)) return new ApiError(BackupUnreadable, detail);
    if (error.code === 'repository_locked') return new ApiError(RepositoryBusy, detail);
    return new ApiError(RepositoryUnavailable, detail);
  }
  if (error instanceof StoreError) {
    const detail = { repository_error: `store_${error.code}`, details: error.message };
    if (error.code === 'not_found') return new ApiError(BackupUnreadable, detail);
    return new ApiError(RepositoryUnavailable, detail);
  }
  const system = error as NodeJS.ErrnoException | undefined;
  if (repositoryPath !== undefined && typeof system?.code === 'string' && typeof system.path === 'string') {
    const inside = relative(repositoryPath, system.path);
    if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
      const details = `The repository's file ${inside || '.'} cannot be used (${system.code}${system.syscall ? ` on ${system.syscall}` : ''}): is its directory there, readable and writable?`;
      return new ApiError(RepositoryUnavailable, { repository_error: `io_${system.code.toLowerCase()}`, details });
    }
  }
  return undefined;
}
