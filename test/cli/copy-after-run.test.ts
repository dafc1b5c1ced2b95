import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openRepository } from '../../src/engine/repository/index.js';
import { dbpJson } from '../support/dbp-cli.js';
import { corruptChunksAt } from '../support/repository-damage.js';

/** `--copy-to`: a scheduled run's backups copied to a second repository, and the run record saying so. */
let dataDir: string;
let demo: any;
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-copy-after-run-'));
  demo = await dbpJson(['demo', '--data-dir', dataDir]);
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

async function fingerprint(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { end: 16 * 1024 * 1024 - 1 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

test('a scheduled run with --copy-to copies its backup; the run record says what was copied; the copy restores', async () => {
  const second = join(dataDir, 'second');
  const due = await dbpJson(['run-due', '--now', '1893456000', '--copy-to', second, '--log-level', 'silent', '--data-dir', dataDir]);
  assert.equal(due.counts.succeeded, 1);
  const [run] = await dbpJson(['runs', 'list', '--data-dir', dataDir]);
  assert.equal(run.status, 'succeeded');
  assert.equal(run.copy.to, second);
  assert.equal(run.copy.backups_copied, 1);
  assert.ok(run.copy.chunks_sent > 0 && run.copy.bytes_sent > 0);
  assert.equal(run.copy.error, null);
  const [backup] = await dbpJson(['backups', 'list', '--data-dir', dataDir]);
  const password = readFileSync(join(dataDir, 'repository.key'), 'utf8').trim();
  const target = await openRepository({ location: { type: 'local', path: second }, password, workers: 1 });
  try {
    const restored = join(dataDir, 'restored.img');
    await target.restore(backup.repository_backup_id, { toPath: restored });
    assert.equal(await fingerprint(restored), await fingerprint(join(dataDir, 'disks', `${demo.disk.id}.img`)));
  } finally {
    await target.close();
  }
});

test('a failed copy does not fail the run: it stays succeeded and its copy says why', async () => {
  // The first repository's chunks damaged: the next backup of the same image only names them, the copy must read them.
  assert.ok((await corruptChunksAt(join(dataDir, 'repository'), readFileSync(join(dataDir, 'repository.key'), 'utf8').trim())) > 0);
  const run = await dbpJson(['policy', 'run', demo.disk_backup_policy.id, '--copy-to', join(dataDir, 'third'), '--data-dir', dataDir]);
  assert.equal(run.status, 'succeeded');
  const [record] = await dbpJson(['runs', 'list', '--data-dir', dataDir]);
  assert.equal(record.id, run.run_id);
  assert.equal(record.status, 'succeeded');
  assert.equal(record.copy.backups_copied, 0);
  assert.match(record.copy.error, /cannot be copied/);
});
