/**
 * The S3 store through a TCP proxy that drops and stalls its connections to radosgw: requests are
 * retried and objects arrive whole; a store that cannot be reached fails with 'unavailable' in a
 * bounded time instead of hanging.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../../src/engine/storage/object-store.js';
import { S3ObjectStore, type S3StoreOptions } from '../../src/engine/storage/s3-store.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { s3Settings, s3Skip, uniqueBucketName } from '../support/s3.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('S3 store faults', { skip: s3Skip }, () => {
  const bucket = uniqueBucketName('faults');
  const rgw = new URL(s3Settings?.endpoint ?? 'http://127.0.0.1:7480');
  let direct: S3ObjectStore;
  let proxy: TcpProxy;
  const opened: S3ObjectStore[] = [];

  const throughProxy = async (options: S3StoreOptions = {}, port = proxy.port): Promise<S3ObjectStore> => {
    const store = await S3ObjectStore.open(
      { type: 's3', endpoint: `http://127.0.0.1:${port}`, bucket, prefix: 'faults' },
      { socketTimeoutMs: 1_000, connectionTimeoutMs: 1_000, ...options },
    );
    opened.push(store);
    return store;
  };

  before(async () => {
    direct = await S3ObjectStore.open({ type: 's3', endpoint: rgw.origin, bucket, prefix: 'faults' });
    await direct.createBucket();
    proxy = await TcpProxy.toUrl(rgw);
  });

  after(async () => {
    for (const store of opened) await store.close();
    await direct.close();
    await proxy.close();
  });

  /**
   * Drops every connection through the proxy `times` times, `everyMs` apart, while `work` runs (each
   * drop resets whatever requests are in flight at that moment), then lets the rest through.
   */
  const withDrops = async <T>(times: number, everyMs: number, work: () => Promise<T>): Promise<{ result: T; drops: number }> => {
    let drops = 0;
    let running = true;
    const dropper = (async () => {
      while (running && drops < times) {
        await sleep(everyMs);
        if (!running) break;
        proxy.cut('refuse');
        drops += 1;
        await sleep(20);
        proxy.restore();
      }
    })();
    try {
      return { result: await work(), drops };
    } finally {
      running = false;
      await dropper;
      proxy.restore();
    }
  };

  test('connections dropped again and again during puts and gets: retried, every object whole', async () => {
    const store = await throughProxy();
    const objects = Array.from({ length: 8 }, (_, i) => ({ name: `dropped-${i}`, bytes: randomBytes(4 * 1024 * 1024 + i) }));
    const forwardedBefore = proxy.stats.forwarded;
    const puts = await withDrops(3, 150, () => Promise.all(objects.map(({ name, bytes }) => store.put('pack', name, [bytes]))));
    const gets = await withDrops(3, 100, () =>
      Promise.all(objects.flatMap(({ name }) => [store.get('pack', name), store.get('pack', name, { offset: 1_000_000, length: 2_500_000 })])),
    );
    for (const [i, { bytes }] of objects.entries()) {
      assert.equal(sha256(gets.result[2 * i]!), sha256(bytes), `object ${i} read back differs`);
      assert.ok(gets.result[2 * i + 1]!.equals(bytes.subarray(1_000_000, 3_500_000)), `range of object ${i} differs`);
    }
    assert.ok(puts.drops >= 1 && gets.drops >= 1, `drops: ${puts.drops} during puts, ${gets.drops} during gets`);
    // More connections than requests in flight at once: some were lost and opened again.
    assert.ok(proxy.stats.forwarded - forwardedBefore > 8, `no connection was lost: ${JSON.stringify(proxy.stats)}`);
    // What radosgw holds is what was sent (no part written twice or cut short).
    for (const { name, bytes } of objects) assert.equal(sha256(await direct.get('pack', name)), sha256(bytes));
  });

  test('a connection that stalls while a get streams its answer is abandoned and the get retried', { timeout: 60_000 }, async () => {
    // One connection at most, opened before: the transfer surely runs on the connection that freezes.
    const store = await throughProxy({ maxInFlight: 1 });
    const bytes = randomBytes(24 * 1024 * 1024);
    await direct.put('pack', 'stalled-get', [bytes]);
    await store.put('pack', 'warm-up', [Buffer.from('warm')]); // a kept-alive connection in the pool
    const started = Date.now();
    const transfer = store.get('pack', 'stalled-get');
    await sleep(20);
    // Frozen both ways, without a reset, and kept so for good (new connections pass again): only the
    // client's own timeout can end it.
    proxy.cut('stall');
    proxy.restore({ keepStalled: true });
    const got = await transfer;
    assert.equal(sha256(got), sha256(bytes));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1_000, `done in ${elapsed} ms: the stall did not reach the transfer`);
    assert.ok(elapsed < 20_000, `took ${elapsed} ms`);
  });

  test('a put meeting only silent connections gives each up after the socket timeout and retries', { timeout: 60_000 }, async () => {
    const store = await throughProxy();
    const bytes = randomBytes(8 * 1024 * 1024);
    await store.put('pack', 'warm-up', [Buffer.from('warm')]);
    const blackholedBefore = proxy.stats.blackholed;
    proxy.cut('stall'); // pooled connections frozen, new ones accepted and never answered
    const transfer = store.put('pack', 'stalled-put', [bytes]);
    await sleep(3_500);
    proxy.restore({ keepStalled: true });
    await transfer;
    assert.equal(sha256(await direct.get('pack', 'stalled-put')), sha256(bytes));
    // Each silent connection was given up after 1 s and another tried: several in 3.5 s, not one.
    const silent = proxy.stats.blackholed - blackholedBefore;
    assert.ok(silent >= 2, `${silent} silent connection(s) tried: the first one was waited on`);
  });

  test('throttling (503 SlowDown) and 500s are retried with backoff; if they persist, unavailable naming the code', async () => {
    const throttler = await ThrottlingProxy.start(rgw, 2);
    try {
      const store = await throughProxy({}, throttler.port);
      const bytes = randomBytes(100_000);
      const started = Date.now();
      await store.put('pack', 'throttled', [bytes]);
      assert.equal(throttler.refused, 2);
      assert.ok(Date.now() - started >= 1_000, 'retried at once, without backing off');
      assert.ok((await direct.get('pack', 'throttled')).equals(bytes));

      throttler.refuseNext(1_000, 500);
      const persistent = await throughProxy({ maxAttempts: 2 }, throttler.port);
      const error = await persistent.get('pack', 'throttled').then(
        () => assert.fail('succeeded while every answer was a 500'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof StoreError, String(error));
      assert.equal(error.code, 'unavailable');
      assert.match(error.message, /InternalError.*HTTP 500/);
    } finally {
      await throttler.close();
    }
  });

  test('a store that refuses every connection: unavailable, quickly, naming the endpoint', async () => {
    const refusing = await TcpProxy.toUrl(rgw);
    refusing.cut('refuse');
    try {
      const store = await throughProxy({ maxAttempts: 3 }, refusing.port);
      const started = Date.now();
      for (const attempt of [() => store.get('pack', 'ab00'), () => store.put('pack', 'ab00', [Buffer.from('x')]), () => drain(store.list('index'))]) {
        const error = await attempt().then(
          () => assert.fail('succeeded against a store that refuses connections'),
          (caught: unknown) => caught,
        );
        assert.ok(error instanceof StoreError, String(error));
        assert.equal(error.code, 'unavailable', error.message);
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${refusing.port}`));
        assert.doesNotMatch(error.message, /\n\s+at /, 'a stack trace in the message');
      }
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    } finally {
      await refusing.close();
    }
  });

  test('a store that accepts connections and never answers: unavailable within the timeouts, no hang', async () => {
    const silent = await TcpProxy.toUrl(rgw);
    silent.cut('blackhole');
    try {
      const store = await throughProxy({ maxAttempts: 2, socketTimeoutMs: 500 }, silent.port);
      const started = Date.now();
      await assert.rejects(store.get('index', 'anything'), (error: unknown) => error instanceof StoreError && error.code === 'unavailable');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 500 && elapsed < 10_000, `took ${elapsed} ms`);
      assert.ok(silent.stats.blackholed >= 1);
    } finally {
      await silent.close();
    }
  });
});

async function drain(listing: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of listing) {
    // nothing: only the failure matters
  }
}

/**
 * An HTTP proxy in front of radosgw that answers the next requests itself with an S3 error (503
 * SlowDown by default, as a store under load does), then forwards the others untouched.
 */
class ThrottlingProxy {
  refused = 0;
  private remaining: number;
  private status = 503;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    initial: number,
  ) {
    this.remaining = initial;
  }

  static async start(target: URL, refuseFirst: number): Promise<ThrottlingProxy> {
    let proxy: ThrottlingProxy | undefined;
    const server = createServer((incoming, outgoing) => {
      if (proxy && proxy.remaining > 0) {
        proxy.remaining -= 1;
        proxy.refused += 1;
        const [code, text] = proxy.status === 503 ? ['SlowDown', 'Please reduce your request rate.'] : ['InternalError', 'We encountered an internal error.'];
        incoming.resume();
        incoming.on('end', () => {
          outgoing.writeHead(proxy!.status, { 'content-type': 'application/xml' });
          outgoing.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${text}</Message></Error>`);
        });
        return;
      }
      const forwarded = httpRequest(
        { host: target.hostname, port: Number(target.port || 80), method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forwarded.on('error', () => outgoing.destroy());
      incoming.pipe(forwarded);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new ThrottlingProxy(server, (server.address() as AddressInfo).port, refuseFirst);
    return proxy;
  }

  refuseNext(count: number, status: number): void {
    this.remaining = count;
    this.status = status;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
