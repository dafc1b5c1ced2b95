/** How the webhook dispatcher paces itself; defaults, and the DBP_WEBHOOK_* variables that change them. */

export interface DispatcherSettings {
  /** Sleep between looks at the outbox when nothing was due. */
  readonly pollMs: number;
  /** Most deliveries claimed (and sent at once) per look. */
  readonly batchSize: number;
  /** A receiver that has not answered by then has failed this attempt. */
  readonly timeoutMs: number;
  /**
   * A claim holds a delivery this long: a process that dies mid-delivery leaves it due again after
   * this, for any process to send (with the same event id). Longer than `timeoutMs`.
   */
  readonly leaseSeconds: number;
  /** The wait after the first failed attempt; doubled after each further one (± 20 % jitter). */
  readonly retryBaseSeconds: number;
  /** The longest wait between two attempts. */
  readonly retryMaxSeconds: number;
  /** A delivery not delivered this long after its event is given up (status `failed`). */
  readonly giveUpAfterSeconds: number;
}

export const DEFAULT_DISPATCHER_SETTINGS: DispatcherSettings = {
  pollMs: 1000,
  batchSize: 16,
  timeoutMs: 10_000,
  leaseSeconds: 60,
  retryBaseSeconds: 10,
  retryMaxSeconds: 3600,
  giveUpAfterSeconds: 24 * 3600,
};

const VARIABLES: Record<keyof DispatcherSettings, { name: string; min: number; max: number }> = {
  pollMs: { name: 'DBP_WEBHOOK_POLL_MS', min: 10, max: 600_000 },
  batchSize: { name: 'DBP_WEBHOOK_BATCH_SIZE', min: 1, max: 1000 },
  timeoutMs: { name: 'DBP_WEBHOOK_TIMEOUT_MS', min: 100, max: 600_000 },
  leaseSeconds: { name: 'DBP_WEBHOOK_LEASE_SECONDS', min: 1, max: 86_400 },
  retryBaseSeconds: { name: 'DBP_WEBHOOK_RETRY_BASE_SECONDS', min: 1, max: 86_400 },
  retryMaxSeconds: { name: 'DBP_WEBHOOK_RETRY_MAX_SECONDS', min: 1, max: 7 * 86_400 },
  giveUpAfterSeconds: { name: 'DBP_WEBHOOK_GIVE_UP_SECONDS', min: 1, max: 30 * 86_400 },
};

/** The settings the environment gives (the rest default); throws with every problem named. */
export function dispatcherSettingsFromEnv(env: NodeJS.ProcessEnv): DispatcherSettings {
  const settings: Record<string, number> = { ...DEFAULT_DISPATCHER_SETTINGS };
  const errors: string[] = [];
  for (const [key, { name, min, max }] of Object.entries(VARIABLES)) {
    const text = env[name]?.trim();
    if (text === undefined || text === '') continue;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) errors.push(`${name} must be a whole number from ${min} to ${max}, not "${text}"`);
    else settings[key] = value;
  }
  const result = settings as unknown as DispatcherSettings;
  if (errors.length === 0 && result.leaseSeconds * 1000 <= result.timeoutMs) {
    errors.push(`DBP_WEBHOOK_LEASE_SECONDS (${result.leaseSeconds}) must be longer than DBP_WEBHOOK_TIMEOUT_MS (${result.timeoutMs} ms)`);
  }
  if (errors.length > 0) throw new Error(errors.join('; '));
  return result;
}

/** Seconds to wait after failed attempt number `attempt` (1-based): exponential, capped, ± 20 % jitter, at least 1. */
export function retryDelaySeconds(settings: DispatcherSettings, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(settings.retryMaxSeconds, settings.retryBaseSeconds * 2 ** Math.min(attempt - 1, 30));
  return Math.max(1, Math.round(base * (0.8 + 0.4 * random())));
}
