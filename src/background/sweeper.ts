/**
 * Background housekeeping of the `worker` role: moves policies whose scheduled deletion has come to
 * the trash, and purges trash past its keep_until. Each step is idempotent, so several workers on one
 * database may sweep at once.
 */
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';

export interface Sweeper {
  /** One sweep now; resolves when it is done. */
  sweepOnce(): Promise<void>;
  stop(): void;
}

export function startSweeper(services: Services, logger: Logger | false, intervalMs = 60_000): Sweeper {
  const sweepOnce = async () => {
    try {
      const trashed = await services.policies.trashScheduledDeletions();
      if (trashed > 0 && logger) logger.info({ trashed }, 'moved policies with a scheduled deletion to the trash');
      const purged = await services.trash.purgeExpired();
      if (purged > 0 && logger) logger.info({ purged }, 'purged expired trash');
    } catch (error) {
      if (logger) logger.warn({ err: error }, 'sweep failed; the next one retries');
    }
  };
  const timer = intervalMs > 0 ? setInterval(sweepOnce, intervalMs) : undefined;
  timer?.unref();
  void sweepOnce();
  return { sweepOnce, stop: () => timer && clearInterval(timer) };
}
