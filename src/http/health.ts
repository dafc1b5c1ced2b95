/**
 * The answer to `GET /healthz`, the same on the API port and on a worker's metrics port: whether the
 * process serves (its database answers), what it does (its role), and whether its backups are taken
 * or disabled (no repository passphrase: the scheduler records every run as skipped).
 */
import { sql } from 'kysely';
import type { Runtime } from '../runtime.js';

export type HealthRole = 'all' | 'api' | 'worker' | 'none';

export interface HealthBody {
  /** True when the database answers (kept from the first version of this document). */
  readonly ready: boolean;
  readonly status: 'serving' | 'unavailable';
  readonly role: HealthRole;
  readonly database: 'reachable' | 'unreachable';
  readonly backups: 'enabled' | 'disabled';
  /** Only when backups are disabled: why, and how to enable them. */
  readonly backups_detail?: string;
}

export interface Health {
  /** 200 when serving, 503 when the database is unreachable. */
  readonly httpStatus: 200 | 503;
  readonly body: HealthBody;
}

export async function healthOf(runtime: Runtime): Promise<Health> {
  const reachable = await sql`select 1`.execute(runtime.store.db).then(
    () => true,
    () => false,
  );
  const { servesApi, schedules, backups } = runtime.status;
  const role: HealthRole = servesApi ? (schedules ? 'all' : 'api') : schedules ? 'worker' : 'none';
  return {
    httpStatus: reachable ? 200 : 503,
    body: {
      ready: reachable,
      status: reachable ? 'serving' : 'unavailable',
      role,
      database: reachable ? 'reachable' : 'unreachable',
      ...(backups.enabled ? { backups: 'enabled' } : { backups: 'disabled', backups_detail: backups.detail }),
    },
  };
}
