/**
 * Whether the repository answers, for `dbp_repository_up`: one small request (the config object's
 * size) at most once a period, never a listing. A scrape waits a moment for a probe it started; a
 * probe slower than that (an S3 endpoint being retried) answers at a later scrape, and until then the
 * previous answer stands.
 */
const WAIT_MS = 2_000;

export class RepositoryProbe {
  private probe: (() => Promise<void>) | undefined;
  private up: boolean | undefined;
  private probedAt = 0;
  private inFlight: Promise<void> | undefined;

  watch(probe: () => Promise<void>): void {
    this.probe = probe;
    this.up = undefined;
    this.probedAt = 0;
  }

  /** true / false: the last answer; undefined: nothing watched, or no answer yet. */
  async state(periodSeconds: number): Promise<boolean | undefined> {
    const probe = this.probe;
    if (!probe) return undefined;
    if (!this.inFlight && Date.now() - this.probedAt >= periodSeconds * 1000) {
      this.probedAt = Date.now();
      this.inFlight = probe().then(
        () => { this.up = true; },
        () => { this.up = false; },
      ).finally(() => { this.inFlight = undefined; });
    }
    if (this.inFlight) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.inFlight, new Promise<void>((resolve) => { timer = setTimeout(resolve, WAIT_MS); })]);
      clearTimeout(timer);
    }
    return this.up;
  }
}
