/**
 * The catalogue knows its repository: the first process to open the engine binds it, the same
 * repository (reached by any path) opens, another one — or a location that holds none — is refused
 * with a message naming both, and /healthz then says backups are disabled. (The same across real
 * processes on PostgreSQL: test/postgres/shared-repository.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { openBackupEngine, RepositoryMismatch } from '../../src/engine/index.js';
import { bindCatalogue, readBinding } from '../../src/engine/repository-binding.js';
import { healthOf } from '../../src/http/health.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';

const PASSWORD = 'binding test';

describe('the catalogue bound to its repository', () => {
  const root = mkdtempSync(join(tmpdir(), 'dbp-binding-'));
  const dataDir = join(root, 'data');
  let runtime: Runtime;

  before(async () => {
    runtime = await openRuntime({ dataDir });
  });
  after(async () => {
    await runtime.close();
    rmSync(root, { recursive: true, force: true });
  });

  const open = (repositoryPath: string, logger: pino.Logger | false = false) =>
    openBackupEngine(runtime, { dataDir, repositoryPath, password: PASSWORD, workers: 1 }, logger);

  test('the first open binds the catalogue to its repository', async () => {
    assert.equal(await readBinding(runtime.store.db), undefined);
    const engine = await open(join(root, 'first'));
    try {
      const binding = await readBinding(runtime.store.db);
      assert.equal(binding?.id, engine.repository.id);
      assert.equal(binding?.location, join(root, 'first'));
      assert.deepEqual(runtime.status.backups, { enabled: true });
    } finally {
      await engine.close();
    }
  });

  test('the same repository through another path opens, and the other location is logged', async () => {
    symlinkSync(join(root, 'first'), join(root, 'same'));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
    const engine = await open(join(root, 'same'), logger);
    await engine.close();
    assert.ok(lines.some((line) => line.includes('through another location') && line.includes(join(root, 'same'))), lines.join(''));
    assert.equal((await readBinding(runtime.store.db))?.location, join(root, 'first'), 'the binding keeps the first location');
  });

  test('another repository is refused, naming both; /healthz then says backups are disabled', async () => {
    const other = await openRuntime({ dataDir: join(root, 'elsewhere') });
    const created = await openBackupEngine(other, { dataDir: join(root, 'elsewhere'), repositoryPath: join(root, 'second'), password: PASSWORD, workers: 1 });
    const secondId = created.repository.id;
    await created.close();
    await other.close();

    const bound = (await readBinding(runtime.store.db))!;
    await assert.rejects(open(join(root, 'second')), (error: unknown) => {
      assert.ok(error instanceof RepositoryMismatch);
      assert.match(error.message, new RegExp(`written with repository ${bound.id} at ${join(root, 'first')}`));
      assert.match(error.message, new RegExp(`given ${join(root, 'second')}, which holds repository ${secondId}`));
      assert.match(error.message, /Point --repository \(or DBP_REPOSITORY\)/);
      return true;
    });
    assert.equal(runtime.status.backups.enabled, false);
    const health = await healthOf(runtime);
    assert.equal(health.body.backups, 'disabled');
    assert.match(health.body.backups_detail!, /written with repository/);
  });

  test('a location that holds no repository is refused and nothing is created there', async () => {
    await assert.rejects(open(join(root, 'missing')), (error: unknown) => error instanceof RepositoryMismatch && /which holds no repository/.test(error.message));
    await assert.rejects(import('node:fs/promises').then((fs) => fs.stat(join(root, 'missing'))), /ENOENT/);
  });

  test('processes binding at once agree on one repository: exactly one wins, the other is refused', async () => {
    await runtime.store.db.deleteFrom('repository_binding').execute();
    const second = await openRuntime({ dataDir });
    try {
      const results = await Promise.allSettled([
        bindCatalogue(runtime.store.db, { id: 'a'.repeat(32), location: '/a' }, 1, false),
        bindCatalogue(second.store.db, { id: 'b'.repeat(32), location: '/b' }, 1, false),
      ]);
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      assert.ok(results.some((result) => result.status === 'rejected' && result.reason instanceof RepositoryMismatch));
    } finally {
      await second.close();
    }
  });

  test('a catalogue without a binding (as one written before bindings existed) is bound by the first open', async () => {
    await runtime.store.db.deleteFrom('repository_binding').execute();
    const engine = await open(join(root, 'first'));
    await engine.close();
    assert.equal((await readBinding(runtime.store.db))?.location, join(root, 'first'));
    assert.deepEqual(runtime.status.backups, { enabled: true });
  });
});
