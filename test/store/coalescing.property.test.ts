/**
 * The coalescer behind PostgreSQL's per-request token statement: under any interleaving of requests
 * and statement completions, every request is answered, by a statement that started
 * after it asked, with its own key's answer and its own place among that key's requests; no more
 * statements run at once than allowed, unless they outlast the waiting limit; a failed statement
 * fails exactly its own requests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Coalescer, type Share } from '../../src/store/coalescing.js';

interface Sent {
  readonly entries: readonly string[];
  readonly counts: readonly number[];
  readonly finish: (ok: boolean) => void;
}

/** No waiting limit within a test (a timer firing midway would send more statements than allowed). */
const NEVER = 1e9;

type Step = { kind: 'ask'; key: string } | { kind: 'finish'; ok: boolean; which: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('ask' as const), key: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ kind: fc.constant('finish' as const), ok: fc.boolean(), which: fc.nat() }),
);

test('every request is answered, by a later statement, with its key and its own place', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 3 }), async (steps, concurrency) => {
      const sent: Sent[] = [];
      const running = new Set<Sent>();
      let mostAtOnce = 0;
      const coalescer = new Coalescer<string, string>((entries, counts) => {
        return new Promise((resolve, reject) => {
          const statement: Sent = {
            entries,
            counts,
            finish: (ok) => {
              running.delete(statement);
              if (ok) resolve(entries.map((entry) => `${sent.indexOf(statement)}:${entry}`));
              else reject(new Error(`statement ${sent.indexOf(statement)} failed`));
            },
          };
          sent.push(statement);
          running.add(statement);
          mostAtOnce = Math.max(mostAtOnce, running.size);
        });
      }, concurrency, NEVER);

      const asked: { key: string; sentBefore: number; outcome?: { share?: Share<string | undefined>; error?: Error } }[] = [];
      const settle = () => new Promise((resolve) => setImmediate(resolve));
      for (const s of steps) {
        if (s.kind === 'ask') {
          const request: (typeof asked)[number] = { key: s.key, sentBefore: sent.length };
          asked.push(request);
          coalescer.ask(s.key, s.key).then(
            (share) => (request.outcome = { share }),
            (error: Error) => (request.outcome = { error }),
          );
        } else if (running.size > 0) {
          [...running][s.which % running.size]!.finish(s.ok);
          await settle();
        }
      }
      while (running.size > 0) {
        [...running][0]!.finish(true);
        await settle();
      }

      assert.ok(mostAtOnce <= concurrency, `${mostAtOnce} statements at once, allowed ${concurrency}`);
      for (const statement of sent) assert.equal(new Set(statement.entries).size, statement.entries.length, 'a key once per statement');
      const places = new Map<string, { positions: number[]; count: number }>();
      for (const request of asked) {
        assert.ok(request.outcome, `the request for ${request.key} was answered`);
        const { share, error } = request.outcome;
        // The answer (or the error) names the statement that gave it.
        const [index, key] = share ? share.answer!.split(':') : [/statement (\d+)/.exec(error!.message)![1], request.key];
        assert.ok(Number(index) >= request.sentBefore, 'answered by a statement that started after it asked');
        assert.equal(key, request.key);
        if (!share) continue;
        const statement = sent[Number(index)]!;
        assert.equal(share.count, statement.counts[statement.entries.indexOf(key)]);
        const place = places.get(share.answer!) ?? { positions: [], count: share.count };
        place.positions.push(share.position);
        places.set(share.answer!, place);
      }
      for (const [where, { positions, count }] of places) {
        assert.deepEqual(positions, Array.from({ length: count }, (_, i) => i + 1), `places 1…${count} in order of asking (${where})`);
      }
    }),
    { numRuns: 300 },
  );
});

test('an idle coalescer sends a request at once; requests asked meanwhile share the next statement', async () => {
  const batches: { entries: readonly string[]; counts: readonly number[] }[] = [];
  let release: () => void = () => {};
  const coalescer = new Coalescer<string, number>((entries, counts) => {
    batches.push({ entries, counts });
    return new Promise((resolve) => {
      release = () => resolve(entries.map((_, i) => counts[i]!));
    });
  }, 1, NEVER);
  const first = coalescer.ask('t1', 't1');
  assert.deepEqual(batches, [{ entries: ['t1'], counts: [1] }], 'sent without waiting');
  const later = [coalescer.ask('t1', 't1'), coalescer.ask('t2', 't2'), coalescer.ask('t1', 't1')];
  assert.equal(batches.length, 1, 'the others wait for the running statement');
  release();
  assert.deepEqual(await first, { answer: 1, position: 1, count: 1 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(batches[1], { entries: ['t1', 't2'], counts: [2, 1] });
  release();
  assert.deepEqual(await Promise.all(later), [
    { answer: 2, position: 1, count: 2 },
    { answer: 1, position: 1, count: 1 },
    { answer: 2, position: 2, count: 2 },
  ]);
});

test('a statement that throws at once fails its requests, and the next one still runs', async () => {
  let calls = 0;
  const coalescer = new Coalescer<string, string>((entries) => {
    calls += 1;
    if (calls === 1) throw new Error('no connection');
    return Promise.resolve(entries.map(() => 'ok'));
  });
  await assert.rejects(coalescer.ask('k', 'k'), /no connection/);
  assert.deepEqual(await coalescer.ask('k', 'k'), { answer: 'ok', position: 1, count: 1 });
});

test('requests wait for a statement that does not return only up to the limit, then go in their own', async () => {
  const sent: (readonly string[])[] = [];
  const coalescer = new Coalescer<string, string>(
    (entries) => {
      sent.push(entries);
      return sent.length === 1 ? new Promise(() => {}) : Promise.resolve(entries.map(() => 'ok')); // the first stalls for ever
    },
    1,
    10,
  );
  void coalescer.ask('stalled', 'stalled');
  const later = coalescer.ask('later', 'later');
  assert.deepEqual(sent, [['stalled']], 'it waits for the running statement first');
  assert.deepEqual(await later, { answer: 'ok', position: 1, count: 1 });
  assert.deepEqual(sent, [['stalled'], ['later']]);
});
