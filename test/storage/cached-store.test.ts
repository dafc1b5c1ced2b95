/**
 * The local cache in front of the S3 store (radosgw): config, index and manifests downloaded once,
 * served from the directory afterwards (even with the store unreachable), damaged cache files caught by
 * their digest and fetched again, a lost cache rebuilt, the size bound kept by dropping the least
 * recently used, packs and locks never cached.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CachedObjectStore } from '../../src/engine/storage/cached-store.js';
import { StoreError } from '../../src/engine/storage/object-store.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { s3Settings, s3Skip, uniqueBucketName } from '../support/s3.js';

describe('cached store over S3', { skip: s3Skip }, () => {
  const bucket = uniqueBucketName('cache');
  const rgw = new URL(s3Settings?.endpoint ?? 'http://127.0.0.1:7480');
  let proxy: TcpProxy;
  let scratch: string;
  let serial = 0;
  const closing: { close(): Promise<void> }[] = [];

  before(async () => {
    const admin = await S3ObjectStore.open({ type: 's3', endpoint: rgw.origin, bucket, prefix: '' });
    await admin.createBucket();
    await admin.close();
    proxy = await TcpProxy.toUrl(rgw);
    scratch = await mkdtemp(join(tmpdir(), 'dbp-cache-test-'));
  });

  after(async () => {
    for (const store of closing) await store.close();
    await proxy.close();
    await rm(scratch, { recursive: true, force: true });
  });

  /** A fresh repository: its S3 store (through the proxy, so a test can take it away) and a cache directory. */
  const repository = async () => {
    serial += 1;
    const remote = await S3ObjectStore.open(
      { type: 's3', endpoint: `http://127.0.0.1:${proxy.port}`, bucket, prefix: `cache-${serial}` },
      { maxAttempts: 2, connectionTimeoutMs: 1_000, socketTimeoutMs: 2_000 },
    );
    closing.push(remote);
    return { remote, directory: join(scratch, `cache-${serial}`) };
  };

  const offline = async (during: () => Promise<void>) => {
    proxy.cut('refuse');
    try {
      await during();
    } finally {
      proxy.restore();
    }
  };

  test('the second read of index files and manifests downloads nothing, even after reopening', async () => {
    const { remote, directory } = await repository();
    const objects = new Map([
      ['manifest/b1', randomBytes(5000)],
      ['manifest/b2', randomBytes(7000)],
      ['index/i1', randomBytes(3000)],
      ['config/config', Buffer.from('{"version":2}')],
    ]);
    for (const [key, bytes] of objects) {
      const [kind, name] = key.split('/') as ['manifest' | 'index' | 'config', string];
      await remote.put(kind, name, [bytes]);
    }
    const cached = await CachedObjectStore.open(remote, { directory });
    const readAll = async (store: CachedObjectStore) => {
      for (const [key, bytes] of objects) {
        const [kind, name] = key.split('/') as ['manifest' | 'index' | 'config', string];
        assert.ok((await store.get(kind, name)).equals(bytes), `${key} differs`);
      }
    };
    await readAll(cached);
    assert.deepEqual({ hits: cached.stats().hits, misses: cached.stats().misses }, { hits: 0, misses: 4 });
    await offline(() => readAll(cached)); // the store cannot be reached: only the cache can answer
    assert.deepEqual({ hits: cached.stats().hits, misses: cached.stats().misses }, { hits: 4, misses: 4 });
    const range = await cached.get('manifest', 'b2', { offset: -100, length: 40 });
    assert.ok(range.equals(objects.get('manifest/b2')!.subarray(6900, 6940)));
    await assert.rejects(cached.get('manifest', 'b2', { offset: 6990, length: 20 }), (error: unknown) => error instanceof StoreError && error.code === 'not_found');

    // A new process on the same cache directory starts with what is there.
    const reopened = await CachedObjectStore.open(remote, { directory });
    closing.push(reopened);
    assert.equal(reopened.stats().entries, 4);
    await offline(() => readAll(reopened));
    assert.deepEqual({ hits: reopened.stats().hits, misses: reopened.stats().misses }, { hits: 4, misses: 0 });
  });

  test('a damaged cache file is detected, dropped and fetched again; a lost cache is rebuilt', async () => {
    const { remote, directory } = await repository();
    const bytes = randomBytes(4096);
    await remote.put('index', 'damaged', [bytes]);
    const cached = await CachedObjectStore.open(remote, { directory });
    await cached.get('index', 'damaged');
    const file = join(directory, 'index', 'damaged');
    const content = await readFile(file);
    content.writeUInt8(content.readUInt8(100) ^ 0x40, 100); // one bit flipped in the cached object
    await writeFile(file, content);
    assert.ok((await cached.get('index', 'damaged')).equals(bytes));
    assert.deepEqual({ ...cached.stats(), bytes: undefined }, { hits: 0, misses: 2, damaged: 1, entries: 1, bytes: undefined });
    assert.ok((await cached.get('index', 'damaged')).equals(bytes));
    assert.equal(cached.stats().hits, 1, 'the refetched copy is cached again');

    await rm(directory, { recursive: true, force: true }); // the whole cache lost
    assert.ok((await cached.get('index', 'damaged')).equals(bytes));
    assert.equal(cached.stats().misses, 3);
    const reopened = await CachedObjectStore.open(remote, { directory });
    closing.push(reopened);
    assert.ok((await reopened.get('index', 'damaged')).equals(bytes));
    assert.deepEqual({ hits: reopened.stats().hits, misses: reopened.stats().misses }, { hits: 1, misses: 0 });
  });

  test('the size bound holds: the least recently used objects are dropped', async () => {
    const { remote, directory } = await repository();
    const names = ['a', 'b', 'c', 'd'];
    for (const name of names) await remote.put('manifest', name, [randomBytes(3000)]);
    const cached = await CachedObjectStore.open(remote, { directory, maxBytes: 10_000 });
    for (const name of ['a', 'b', 'c']) await cached.get('manifest', name); // 9000 bytes
    await cached.get('manifest', 'a'); // a is now the most recently used; b the least
    await cached.get('manifest', 'd'); // 12000 > 10000: b goes
    assert.ok(cached.stats().bytes <= 10_000);
    assert.deepEqual((await readdir(join(directory, 'manifest'))).sort(), ['a', 'c', 'd']);
    const before = cached.stats();
    await cached.get('manifest', 'a');
    await cached.get('manifest', 'b');
    assert.equal(cached.stats().hits, before.hits + 1, 'a was kept');
    assert.equal(cached.stats().misses, before.misses + 1, 'b was dropped');
    // At open, a directory holding more than the bound keeps only the most recent.
    const small = await CachedObjectStore.open(remote, { directory, maxBytes: 6_500 });
    closing.push(small);
    assert.equal(small.stats().entries, 2);
    let total = 0;
    for (const name of await readdir(join(directory, 'manifest'))) total += (await stat(join(directory, 'manifest', name))).size;
    assert.ok(total <= 6_500 + 2 * 32, `${total} bytes left in the cache directory`);
    // An object larger than the whole cache is served, never cached.
    await remote.put('manifest', 'huge', [randomBytes(8_000)]);
    await small.get('manifest', 'huge');
    assert.equal(small.stats().entries, 2);
  });

  test('packs and locks pass through uncached; puts and removals keep the cache right', async () => {
    const { remote, directory } = await repository();
    const cached = await CachedObjectStore.open(remote, { directory });
    closing.push(cached);
    await cached.put('pack', 'ab01', [Buffer.from('pack bytes')]);
    await cached.put('lock', 'shared-1', []);
    assert.equal((await cached.get('pack', 'ab01')).toString(), 'pack bytes');
    assert.equal((await cached.get('pack', 'ab01', { offset: 5, length: 5 })).toString(), 'bytes');
    assert.equal((await cached.get('lock', 'shared-1')).length, 0);
    assert.deepEqual(cached.stats(), { hits: 0, misses: 0, damaged: 0, entries: 0, bytes: 0 });

    await cached.put('manifest', 'written', [Buffer.from('manifest '), Buffer.from('bytes')]);
    await offline(async () => assert.equal((await cached.get('manifest', 'written')).toString(), 'manifest bytes'));
    await cached.remove('manifest', ['written']);
    await assert.rejects(cached.get('manifest', 'written'), (error: unknown) => error instanceof StoreError && error.code === 'not_found');
    assert.deepEqual(await readdir(join(directory, 'manifest')), []);

    const writer = await cached.writer('manifest', 'streamed');
    await writer.write(Buffer.from('in '));
    await writer.write(Buffer.from('pieces'));
    await writer.commit();
    assert.equal((await cached.get('manifest', 'streamed')).toString(), 'in pieces');
    const names: string[] = [];
    for await (const info of cached.list('manifest')) names.push(info.name);
    assert.deepEqual(names, ['streamed']);
  });
});
