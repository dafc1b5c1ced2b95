/**
 * What every ObjectStore promises (object-store.ts), checked the same way on each store: whole objects,
 * byte ranges, exclusive creation, writers that show nothing until committed, listings past one page,
 * removal, stat, errors, and repositories kept apart. A store joins the suite with one factory line in
 * STORE_FACTORIES.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { StoreError, type ObjectKind, type ObjectStore } from '../../src/engine/storage/object-store.js';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalDirectoryStore } from '../../src/engine/storage/local-store.js';
import { S3ObjectStore } from '../../src/engine/storage/s3-store.js';
import { s3Settings, s3Skip, uniqueBucketName } from '../support/s3.js';

interface StoreFactory {
  readonly name: string;
  /** A reason to skip the suite, or false. */
  readonly skip: string | false;
  /** Runs once before the suite (creates a bucket…). */
  setUp(): Promise<void>;
  /** A store holding repository `repository`: the same name opens the same objects, another name others. */
  open(repository: string): Promise<ObjectStore>;
}

const s3Factory = (): StoreFactory => {
  const bucket = uniqueBucketName('contract');
  const location = (prefix: string) => ({ type: 's3' as const, endpoint: s3Settings?.endpoint ?? '', bucket, prefix });
  return {
    name: 'S3 (radosgw)',
    skip: s3Skip,
    async setUp() {
      const admin = await S3ObjectStore.open(location(''));
      await admin.createBucket();
      await admin.close();
    },
    // The smallest part size S3 allows, so the writer tests cross it with little data.
    open: (repository) => S3ObjectStore.open(location(`repositories/${repository}`), { partSize: 5 * 1024 * 1024 }),
  };
};

const localFactory = (): StoreFactory => {
  let root = '';
  return {
    name: 'local directory',
    skip: false,
    async setUp() {
      root = mkdtempSync(join(tmpdir(), 'dbp-store-contract-'));
    },
    open: async (repository) => {
      mkdirSync(join(root, repository), { recursive: true });
      return new LocalDirectoryStore(join(root, repository));
    },
  };
};

const STORE_FACTORIES: readonly StoreFactory[] = [localFactory(), s3Factory()];

async function names(store: ObjectStore, kind: ObjectKind): Promise<string[]> {
  const found: string[] = [];
  for await (const info of store.list(kind)) found.push(info.name);
  return found.sort();
}

async function rejectsWith(promise: Promise<unknown>, code: StoreError['code']): Promise<StoreError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected StoreError('${code}'), but it succeeded`),
    (error: unknown) => (caught = error),
  );
  assert.ok(caught instanceof StoreError, `expected a StoreError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

let repositories = 0;

for (const factory of STORE_FACTORIES) {
  describe(`object store contract: ${factory.name}`, { skip: factory.skip }, () => {
    const opened: ObjectStore[] = [];
    const fresh = async (): Promise<ObjectStore> => {
      repositories += 1;
      const store = await factory.open(`r${repositories}-${randomBytes(3).toString('hex')}`);
      opened.push(store);
      return store;
    };

    before(() => factory.setUp());
    after(async () => {
      for (const store of opened) await store.close();
    });

    test('put then get returns the parts concatenated, and stat tells the size', async () => {
      const store = await fresh();
      const started = Date.now();
      await store.put('index', 'one', [Buffer.from('hello, '), Buffer.from('world')]);
      assert.equal((await store.get('index', 'one')).toString(), 'hello, world');
      const info = await store.stat('index', 'one');
      assert.equal(info?.name, 'one');
      assert.equal(info?.size, 12);
      assert.ok(Math.abs(info!.modifiedAt - started) < 60_000, `modifiedAt ${info!.modifiedAt} is near ${started}`);
      await store.put('manifest', 'empty', []);
      assert.equal((await store.get('manifest', 'empty')).length, 0);
      assert.equal((await store.stat('manifest', 'empty'))?.size, 0);
    });

    test('absent objects: get is not_found, stat undefined', async () => {
      const store = await fresh();
      await rejectsWith(store.get('pack', 'ab00'), 'not_found');
      await rejectsWith(store.get('index', 'nothing', { offset: 0, length: 4 }), 'not_found');
      assert.equal(await store.stat('config', 'config'), undefined);
    });

    test('a range is exactly those bytes, from the start or from the end', async () => {
      const store = await fresh();
      let serial = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 4096 }),
          fc.nat(),
          fc.nat(),
          fc.boolean(),
          async (bytes, a, b, fromEnd) => {
            const name = `ranged-${(serial += 1)}`;
            await store.put('pack', name, [bytes]);
            const size = bytes.length;
            if (fromEnd) {
              const back = (a % size) + 1; // 1..size
              const length = b % (back + 1); // 0..back
              const got = await store.get('pack', name, { offset: -back, length });
              assert.deepEqual([...got], [...bytes.subarray(size - back, size - back + length)]);
            } else {
              const offset = a % size;
              const length = b % (size - offset + 1);
              const got = await store.get('pack', name, { offset, length });
              assert.deepEqual([...got], [...bytes.subarray(offset, offset + length)]);
            }
          },
        ),
        { numRuns: 30 },
      );
    });

    test('a range past the end is an error, never a short answer', async () => {
      const store = await fresh();
      await store.put('pack', 'ab12', [Buffer.alloc(100, 7)]);
      await rejectsWith(store.get('pack', 'ab12', { offset: 90, length: 11 }), 'out_of_range');
      await rejectsWith(store.get('pack', 'ab12', { offset: 100, length: 1 }), 'out_of_range');
      await rejectsWith(store.get('pack', 'ab12', { offset: 500, length: 10 }), 'out_of_range');
      await rejectsWith(store.get('pack', 'ab12', { offset: -101, length: 101 }), 'out_of_range');
      assert.equal((await store.get('pack', 'ab12', { offset: 99, length: 1 }))[0], 7);
    });

    test('ifAbsent refuses to replace an object, and leaves it as it was', async () => {
      const store = await fresh();
      await store.put('config', 'config', [Buffer.from('first')], { ifAbsent: true });
      const error = await rejectsWith(store.put('config', 'config', [Buffer.from('second')], { ifAbsent: true }), 'exists');
      assert.match(error.message, /config/);
      assert.equal((await store.get('config', 'config')).toString(), 'first');
      // The same bytes are no excuse: an exclusive empty object is a mutex.
      await store.put('lock', 'mutex', [], { ifAbsent: true });
      await rejectsWith(store.put('lock', 'mutex', [], { ifAbsent: true }), 'exists');
    });

    test('exclusive creation by many writers at once: one wins, the others see exists', async () => {
      const store = await fresh();
      for (const content of [(i: number) => Buffer.from(`writer ${i}`), () => Buffer.alloc(0)]) {
        const name = `exclusive-${content(1).length}`;
        const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => store.put('lock', name, [content(i)], { ifAbsent: true })));
        const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        assert.equal(won.length, 1, `${name}: ${JSON.stringify(outcomes.map((outcome) => outcome.status))}`);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') assert.equal((outcome.reason as StoreError).code, 'exists');
        }
      }
    });

    test('a writer shows nothing until commit, then the whole object (small and multipart)', async () => {
      const store = await fresh();
      for (const [name, pieces, pieceSize] of [
        ['small', 3, 1000],
        ['large', 12, 1024 * 1024], // 12 MiB: more than two parts of 5 MiB
      ] as const) {
        const writer = await store.writer('manifest', name);
        const expected: Buffer[] = [];
        for (let i = 0; i < pieces; i += 1) {
          const piece = randomBytes(pieceSize);
          expected.push(piece);
          await writer.write(piece);
        }
        assert.equal(await store.stat('manifest', name), undefined, `${name}: visible before commit`);
        assert.deepEqual(await names(store, 'manifest'), name === 'large' ? ['small'] : []);
        await writer.commit();
        const got = await store.get('manifest', name);
        assert.ok(got.equals(Buffer.concat(expected)), `${name}: the committed object differs from what was written`);
        assert.equal((await store.stat('manifest', name))?.size, pieces * pieceSize);
      }
      assert.deepEqual(await names(store, 'manifest'), ['large', 'small']);
    });

    test('an aborted or uncommitted writer never appears', async () => {
      const store = await fresh();
      const aborted = await store.writer('manifest', 'aborted');
      for (let i = 0; i < 7; i += 1) await aborted.write(randomBytes(1024 * 1024)); // past one part
      await aborted.abort();
      await aborted.abort(); // twice is harmless
      const smallAborted = await store.writer('manifest', 'small-aborted');
      await smallAborted.write(Buffer.from('x'));
      await smallAborted.abort();
      const open = await store.writer('manifest', 'never-committed');
      await open.write(randomBytes(6 * 1024 * 1024));
      assert.deepEqual(await names(store, 'manifest'), []);
      assert.equal(await store.stat('manifest', 'aborted'), undefined);
      await rejectsWith(store.get('manifest', 'never-committed'), 'not_found');
      await open.abort();
    });

    test('list covers more than one page (1100 objects) and keeps kinds apart', async () => {
      const store = await fresh();
      const expected = Array.from({ length: 1100 }, (_, i) => `index-${String(i).padStart(5, '0')}`);
      for (let start = 0; start < expected.length; start += 50) {
        await Promise.all(expected.slice(start, start + 50).map((name) => store.put('index', name, [Buffer.from(name)])));
      }
      await store.put('pack', '00aa', [Buffer.from('p1')]);
      await store.put('pack', 'ffbb', [Buffer.from('p2')]);
      await store.put('lock', 'exclusive-1-host-1', []);
      await store.put('config', 'config', [Buffer.from('{}')]);
      const listed: string[] = [];
      for await (const info of store.list('index')) {
        listed.push(info.name);
        assert.equal(info.size, info.name.length);
      }
      assert.deepEqual(listed.sort(), expected);
      assert.deepEqual(await names(store, 'pack'), ['00aa', 'ffbb']);
      assert.deepEqual(await names(store, 'lock'), ['exclusive-1-host-1']);
      assert.deepEqual(await names(store, 'config'), ['config']);
      assert.deepEqual(await names(store, 'manifest'), []);
    });

    test('remove deletes what is there and ignores what is not', async () => {
      const store = await fresh();
      await store.put('pack', 'aa01', [Buffer.from('1')]);
      await store.put('pack', 'aa02', [Buffer.from('2')]);
      await store.put('pack', 'bb03', [Buffer.from('3')]);
      await store.remove('pack', ['aa01', 'bb03', 'cc99']);
      await store.remove('pack', []);
      assert.deepEqual(await names(store, 'pack'), ['aa02']);
      await rejectsWith(store.get('pack', 'aa01'), 'not_found');
      assert.equal(await store.stat('pack', 'bb03'), undefined);
    });

    test('two repositories in one store are kept apart', async () => {
      const first = await fresh();
      const second = await fresh();
      await first.put('config', 'config', [Buffer.from('first')]);
      await first.put('pack', 'ab01', [Buffer.from('first pack')]);
      assert.equal(await second.stat('config', 'config'), undefined);
      assert.deepEqual(await names(second, 'pack'), []);
      await second.put('pack', 'ab01', [Buffer.from('second pack')]);
      await second.remove('pack', ['ab01']);
      assert.equal((await first.get('pack', 'ab01')).toString(), 'first pack');
    });

    test('names that are not one path segment are refused', async () => {
      const store = await fresh();
      for (const name of ['', '..', 'a/b', 'a\\b', 'nul\u0000']) {
        await assert.rejects(store.put('index', name, [Buffer.from('x')]), `name ${JSON.stringify(name)} accepted`);
      }
      assert.deepEqual(await names(store, 'index'), []);
    });
  });
}
