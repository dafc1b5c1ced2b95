import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LocalDirectoryStore } from '../../src/engine/storage/local-store.js';
import { StoreError, type ObjectKind } from '../../src/engine/storage/object-store.js';
import { openStore } from '../../src/engine/storage/open-store.js';
import { CachedObjectStore } from '../../src/engine/storage/cached-store.js';

/** The local directory store through the ObjectStore interface, and the files it leaves (docs/REPOSITORY.md). */
const root = mkdtempSync(join(tmpdir(), 'dbp-local-store-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
/** A store in a new directory (the store itself never makes its root: only a new repository's config does). */
function freshStore(): LocalDirectoryStore {
  const directory = join(root, `store-${counter++}`);
  mkdirSync(directory);
  return new LocalDirectoryStore(directory);
}
const PACK = 'ab'.repeat(16);

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StoreError, `a StoreError, not ${String(error)}`);
    return error.code;
  }
  return 'no error';
}

async function names(store: LocalDirectoryStore, kind: ObjectKind): Promise<string[]> {
  const found: string[] = [];
  for await (const { name } of store.list(kind)) found.push(name);
  return found.sort();
}

test('objects land in the layout of a repository directory, whole, and read back whole or by range', async () => {
  const store = freshStore();
  await store.put('config', 'config', [Buffer.from('{"format":1}')]);
  await store.put('pack', PACK, [Buffer.from('hello '), Buffer.from('world')]);
  await store.put('index', 'i1', [Buffer.from('index')]);
  await store.put('manifest', 'm1', [Buffer.from('manifest')]);
  await store.put('lock', 'l1', []);
  await store.barrier('pack');
  for (const directory of ['packs', 'index', 'backups', 'locks']) assert.ok(existsSync(join(store.root, directory)), `${directory} made with the config`);
  assert.equal(readFileSync(join(store.root, 'packs', 'ab', PACK), 'utf8'), 'hello world');
  assert.equal(readFileSync(join(store.root, 'backups', 'm1'), 'utf8'), 'manifest');
  assert.equal(readFileSync(join(store.root, 'locks', 'l1'), 'utf8'), '');
  assert.equal((await store.get('pack', PACK)).toString(), 'hello world');
  assert.equal((await store.get('pack', PACK, { offset: 6, length: 5 })).toString(), 'world');
  assert.equal((await store.get('pack', PACK, { offset: -5, length: 3 })).toString(), 'wor', 'a negative offset counts from the end');
  assert.equal((await store.stat('pack', PACK))?.size, 11);
  assert.equal(await store.stat('pack', 'cd'.repeat(16)), undefined);
  assert.deepEqual(await names(store, 'pack'), [PACK]);
  assert.deepEqual(await names(store, 'config'), ['config']);
  await store.close();
});

test('missing objects, ranges past the end, exclusive puts and retention give StoreErrors with their codes', async () => {
  const store = freshStore();
  assert.equal(await code(store.get('index', 'nothing')), 'not_found');
  assert.equal(await code(store.get('index', 'nothing', { offset: 0, length: 1 })), 'not_found');
  await store.put('index', 'i1', [Buffer.from('12345')]);
  assert.equal(await code(store.get('index', 'i1', { offset: 3, length: 3 })), 'out_of_range');
  assert.equal(await code(store.get('index', 'i1', { offset: -6, length: 1 })), 'out_of_range');
  await store.put('config', 'config', [Buffer.from('first')], { ifAbsent: true });
  assert.equal(await code(store.put('config', 'config', [Buffer.from('second')], { ifAbsent: true })), 'exists');
  assert.equal((await store.get('config', 'config')).toString(), 'first', 'an exclusive put never replaces');
  assert.equal(await code(store.put('index', 'i2', [], { retainUntil: new Date(Date.now() + 1000) })), 'unsupported');
  await store.remove('index', ['i1', 'never-there']);
  assert.deepEqual(await names(store, 'index'), []);
  await store.close();
});

test('a writer shows its object only once committed; an aborted one leaves nothing; leftovers are never listed and removeIncomplete deletes them', async () => {
  const store = freshStore();
  const writer = await store.writer('manifest', 'm1');
  await writer.write(Buffer.from('part one, '));
  await writer.write(Buffer.from('part two'));
  assert.deepEqual(await names(store, 'manifest'), [], 'not visible before commit');
  await writer.commit();
  assert.equal((await store.get('manifest', 'm1')).toString(), 'part one, part two');
  const aborted = await store.writer('manifest', 'm2');
  await aborted.write(Buffer.from('x'));
  await aborted.abort();
  assert.deepEqual(readdirSync(join(store.root, 'backups')), ['m1']);
  // What a killed writer leaves: a temporary file beside the name.
  writeFileSync(join(store.root, 'backups', '.tmp-leftover-m3'), 'half');
  assert.deepEqual(await names(store, 'manifest'), ['m1']);
  assert.equal(await store.removeIncomplete('manifest'), 1);
  assert.deepEqual(readdirSync(join(store.root, 'backups')), ['m1']);
  await store.close();
});

test('object names cannot leave their directory', async () => {
  const store = freshStore();
  for (const name of ['../escape', '.hidden', 'a/b', '']) await assert.rejects(store.put('index', name, []), RangeError);
  await store.close();
});

test('openStore opens a local location as a directory store, an S3 one as an S3 store, behind the cache when given one', async () => {
  const store = await openStore({ type: 'local', path: join(root, 'opened') });
  assert.ok(store instanceof LocalDirectoryStore);
  assert.equal(store.description, join(root, 'opened'));
  const s3 = { type: 's3', endpoint: 'http://127.0.0.1:7480', bucket: 'bucket', prefix: '' } as const;
  // Opening contacts nothing: no endpoint needs to answer.
  const plain = await openStore(s3);
  assert.equal(plain.constructor.name, 'S3ObjectStore');
  await plain.close();
  const cached = await openStore(s3, { cache: { directory: join(root, 'cache') } });
  assert.ok(cached instanceof CachedObjectStore);
  assert.deepEqual(cached.location, s3);
  await cached.close();
});

test("a put into a repository whose directory is gone fails, and does not make an empty one in its place", async () => {
  const store = freshStore();
  await store.put('config', 'config', [Buffer.from('{}')]);
  rmSync(store.description, { recursive: true });
  await assert.rejects(store.put('lock', 'backup-1', []), { code: 'ENOENT' });
  assert.equal(existsSync(store.description), false);
});
