/**
 * One statement for many concurrent requests. While a statement is running, requests that need the
 * same kind of statement gather; when it returns, the next statement answers all of them at once.
 * Requests with the same key share one entry in that statement (say: one token, counted `count`
 * times); each learns its own position among them.
 *
 * A request is only ever answered by a statement that started after it was asked, so it sees what
 * was committed before it arrived, as if it had run its own. An idle coalescer sends a request at
 * once: coalescing adds no latency until the statements it would send overlap. Nor does a request
 * wait long for a statement that does not return (a stalled connection, a lock): after `maxWaitMs`
 * the gathered requests go in a statement of their own, so each request's wait stays bounded by its
 * own statement's timeout plus `maxWaitMs`.
 */

/** What one request learns of the statement that answered it. */
export interface Share<Answer> {
  /** The answer for the request's key. */
  readonly answer: Answer;
  /** Which of the key's requests in that statement this one is: 1 … `count`, in order of asking. */
  readonly position: number;
  readonly count: number;
}

/** Runs one statement for distinct keys: answers in the order of `entries` (undefined: none for it). */
export type BatchStatement<Entry, Answer> = (entries: readonly Entry[], counts: readonly number[]) => Promise<readonly (Answer | undefined)[]>;

interface Waiting<Entry, Answer> {
  readonly entry: Entry;
  readonly resolvers: ((share: Share<Answer | undefined>) => void)[];
  readonly rejecters: ((reason: unknown) => void)[];
}

export class Coalescer<Entry, Answer> {
  private gathering = new Map<string, Waiting<Entry, Answer>>();
  private running = 0;
  /** Sends the gathered requests when the running statements take longer than `maxWaitMs`. */
  private waitLimit: NodeJS.Timeout | undefined;

  /**
   * @param statement runs one statement for a batch.
   * @param concurrency statements running at once (further requests gather for the next, up to `maxWaitMs`).
   * @param maxWaitMs the longest a request waits for the running statements before it is sent anyway.
   */
  constructor(
    private readonly statement: BatchStatement<Entry, Answer>,
    private readonly concurrency = 1,
    private readonly maxWaitMs = 20,
  ) {}

  /** The answer for `key` from the next statement; `entry` is what the statement needs of the key (the first asker's). */
  ask(key: string, entry: Entry): Promise<Share<Answer | undefined>> {
    return new Promise((resolve, reject) => {
      let waiting = this.gathering.get(key);
      if (waiting === undefined) {
        waiting = { entry, resolvers: [], rejecters: [] };
        this.gathering.set(key, waiting);
      }
      waiting.resolvers.push(resolve);
      waiting.rejecters.push(reject);
      if (this.running < this.concurrency) this.send();
      else this.waitLimit ??= setTimeout(() => this.send(), this.maxWaitMs);
    });
  }

  private send(): void {
    clearTimeout(this.waitLimit);
    this.waitLimit = undefined;
    const batch = [...this.gathering.values()];
    if (batch.length === 0) return;
    this.gathering = new Map();
    this.running += 1;
    let answered: Promise<readonly (Answer | undefined)[]>;
    try {
      answered = this.statement(
        batch.map((waiting) => waiting.entry),
        batch.map((waiting) => waiting.resolvers.length),
      );
    } catch (error) {
      answered = Promise.reject(error);
    }
    answered
      .then(
        (answers) =>
          batch.forEach((waiting, i) => {
            const count = waiting.resolvers.length;
            waiting.resolvers.forEach((resolve, j) => resolve({ answer: answers[i], position: j + 1, count }));
          }),
        (error: unknown) => batch.forEach((waiting) => waiting.rejecters.forEach((reject) => reject(error))),
      )
      .finally(() => {
        this.running -= 1;
        if (this.running < this.concurrency) this.send();
      });
  }
}
