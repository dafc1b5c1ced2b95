import { ApiError } from '../../../framework/errors.js';
import { BackupUnreadable } from '../shared.js';

const UNREADABLE = new Set(['missing_chunk', 'corrupt_chunk', 'corrupt_manifest', 'backup_not_found']);

/** A repository error that means the backup cannot be read back, as the API's error; undefined for anything else. */
export function readFailure(error: unknown): ApiError | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && UNREADABLE.has(code)) return new ApiError(BackupUnreadable, { details: (error as Error).message });
  return undefined;
}
