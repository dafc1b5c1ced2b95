/**
 * A counting semaphore: at most `limit` tasks run at once, the others wait in arrival order. The S3
 * store runs every request through one, so that uploads proceed in parallel while the memory held by
 * their bodies and the connections to the store stay bounded.
 */
export class RequestLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`the request limit must be a positive integer, not ${limit}`);
  }

  /** Requests running now (for tests and diagnostics). */
  get inFlight(): number {
    return this.running;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter (running stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
