/** Every "now" in the product comes from a Clock, so tests and `--now` can fix time. */
export interface Clock {
  /** Current time in Unix seconds. */
  now(): number;
  /**
   * Current time in Unix milliseconds, for clocks that know it more finely than `now()` (the system
   * clock). The scheduler uses it to wake exactly on a due second and to measure its lag.
   */
  nowMs?(): number;
}

export const systemClock: Clock = { now: () => Math.floor(Date.now() / 1000), nowMs: () => Date.now() };

/** The clock's reading in milliseconds: its own when it has one, else its seconds. */
export function millisecondsOf(clock: Clock): number {
  return clock.nowMs ? clock.nowMs() : clock.now() * 1000;
}

export function fixedClock(at: number): Clock & { set(at: number): void; advance(seconds: number): void } {
  let current = at;
  return {
    now: () => current,
    set: (value) => {
      current = value;
    },
    advance: (seconds) => {
      current += seconds;
    },
  };
}
