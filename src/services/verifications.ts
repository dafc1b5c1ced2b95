/**
 * Each backup's last verification in the catalogue (migration 0013): written by the backup engine
 * after every verification it completes, whoever asked for it (`dbp verify`, the API's verify
 * endpoint, the worker's verification scheduler).
 */
import type { Kysely } from 'kysely';
import type { Database, VerifyOutcome } from '../store/schema.js';

export interface VerificationResult {
  /** The catalogue id (`backups.id`). */
  readonly backupId: string;
  readonly outcome: VerifyOutcome;
  /** A short sentence (cut to DETAIL_LIMIT characters). */
  readonly detail: string;
  /** Plain bytes of the backup's chunks read and authenticated. */
  readonly bytesChecked: number;
}

/** Details are for people reading a listing, not a full report (that is `dbp verify --backup …`). */
export const DETAIL_LIMIT = 300;

/** Records each backup's verification as its last one, ended at `now` (a scheduler's claim on it is the scheduler's to give back). */
export async function recordVerifications(db: Kysely<Database>, results: readonly VerificationResult[], now: number): Promise<void> {
  for (const result of results) {
    await db
      .updateTable('backups')
      .set({
        verified_at: now,
        verify_outcome: result.outcome,
        verify_detail: result.detail.length > DETAIL_LIMIT ? `${result.detail.slice(0, DETAIL_LIMIT - 1)}…` : result.detail,
        verify_bytes: result.bytesChecked,
      })
      .where('id', '=', result.backupId)
      .execute();
  }
}
