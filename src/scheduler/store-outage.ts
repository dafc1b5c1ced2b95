/**
 * A repository store that cannot be reached (radosgw down, the network gone): the object store gave up
 * after its own retries with StoreError code 'unavailable'. That says nothing about the run either, but
 * unlike a database blip it may last minutes: a scheduled run that meets it is tried again later, with
 * exponential backoff (see Scheduler), and its `error` says so meanwhile; a manual run fails at once.
 *
 * The count of tries travels in the waiting run's `error` (no column of its own): written and read only
 * here.
 */

/**
 * True when `error` or one of its causes is a StoreError with code 'unavailable'. Told by name and code,
 * not by class, so that an error rebuilt on its way from a worker thread counts too.
 */
export function isStoreUnavailable(error: unknown): boolean {
  return storeErrorOf(error) !== undefined;
}

/** The store's own one-line message for the outage (what it could not do, where, and why). */
export function storeOutageMessage(error: unknown): string {
  const found = storeErrorOf(error) ?? (error as { message?: unknown } | undefined);
  const message = typeof found?.message === 'string' ? found.message : String(error);
  return message.split('\n')[0]!;
}

function storeErrorOf(error: unknown): { message?: unknown } | undefined {
  for (let cause = error, depth = 0; typeof cause === 'object' && cause !== null && depth < 8; depth++) {
    const { name, code } = cause as { name?: unknown; code?: unknown };
    if (name === 'StoreError' && code === 'unavailable') return cause as { message?: unknown };
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/** How every run error about an unreachable store begins. */
export const STORE_UNREACHABLE = 'repository store unreachable';

/** The error of a manual run (or any run not retried) that met the outage. */
export function storeUnreachableError(error: unknown): string {
  return `${STORE_UNREACHABLE}: ${storeOutageMessage(error)}`;
}

/** The `error` of a run waiting for its next try. */
export function waitingForStoreError(tries: number, maxTries: number, nextTryAt: number, error: unknown): string {
  return `${STORE_UNREACHABLE} (try ${tries} of ${maxTries} failed); tried again at ${isoSeconds(nextTryAt)}: ${storeOutageMessage(error)}`;
}

/** The `error` of a run given up on: out of tries, or its policy's next instant comes before the next try. */
export function gaveUpOnStoreError(tries: number, reason: 'tries' | { nextInstant: number }, error: unknown): string {
  const why = reason === 'tries' ? `${tries} tries, none left` : `${tries} tries; not tried again: the policy's next run is due at ${isoSeconds(reason.nextInstant)}`;
  return `${STORE_UNREACHABLE} (${why}): ${storeOutageMessage(error)}`;
}

/** How many tries of a run have met the outage so far, from its `error` (0 when it is no such note). */
export function storeTriesOf(error: string | null | undefined): number {
  const match = /^repository store unreachable \(try (\d+) of \d+ failed\)/.exec(error ?? '');
  return match ? Number(match[1]) : 0;
}

/** Seconds to wait after failed try number `tries` (1 for the first): first, twice that, … at most max. */
export function storeRetryDelaySeconds(tries: number, firstSeconds: number, maxSeconds: number): number {
  return Math.min(maxSeconds, firstSeconds * 2 ** Math.max(0, tries - 1));
}

function isoSeconds(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace('.000Z', 'Z');
}
