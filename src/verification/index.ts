/** The worker's scheduled verification: see scheduler.ts (the loop) and claims.ts (the claim). */
import type { Logger } from 'pino';
import type { Runtime } from '../runtime.js';
import { VerificationScheduler, type BackupVerifier, type ScheduledVerification, type VerificationSettings } from './scheduler.js';

export { VerificationScheduler, DEFAULT_VERIFICATION_SETTINGS, SECONDS_PER_DAY, type BackupVerifier, type ScheduledVerification, type VerificationSettings } from './scheduler.js';

/** A verification scheduler on the runtime's database and clock (not started). */
export function verificationSchedulerFor(
  runtime: Runtime,
  verifier: BackupVerifier,
  options: { logger: Logger | false; settings?: Partial<VerificationSettings>; onVerified?: (verification: ScheduledVerification) => void },
): VerificationScheduler {
  return new VerificationScheduler({
    db: runtime.store.db,
    engine: runtime.store.engine,
    clock: runtime.services.clock,
    verifier,
    logger: options.logger,
    ...(options.settings ? { settings: options.settings } : {}),
    ...(options.onVerified ? { onVerified: options.onVerified } : {}),
  });
}
