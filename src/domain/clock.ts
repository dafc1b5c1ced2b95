/** Every "now" in the product comes from a Clock, so tests and `--now` can fix time. */
export interface Clock {
  /** Current time in Unix seconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Math.floor(Date.now() / 1000) };

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
