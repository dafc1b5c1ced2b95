import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { dbp, dbpJson } from '../support/dbp-cli.js';
import { corruptChunksAt } from '../support/repository-damage.js';

/**
 * Issue 15 defects 5, 8 and 11 through the CLI: a failed restore says why in one line, exits 1 and
 * leaves no file; a blank --to is a usage error; a damaged index file is named by verify and rebuilt
 * by `dbp repair index`.
 */
const CWD = fileURLToPath(new URL('../..', import.meta.url)); // where the dbp helper runs the CLI
let dataDir: string;
let backupId: string;
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-restore-repair-cli-'));
  const demo = await dbpJson(['demo', '--data-dir', dataDir]);
  const run = await dbpJson(['policy', 'run', demo.disk_backup_policy.id, '--data-dir', dataDir]);
  assert.equal(run.status, 'succeeded');
  backupId = run.backups[0].id;
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('restore --to "" or blank: usage error (exit 2), nothing written', async () => {
  const before = readdirSync(CWD);
  for (const to of ['', '   ']) {
    const result = await dbp(['restore', '--backup', backupId, '--to', to, '--data-dir', dataDir]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--to needs a path/);
  }
  assert.deepEqual(readdirSync(CWD), before);
});

test('restore onto a full file system: one line saying no space, exit 1, no file left', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a small tmpfs needs root');
  const small = join(dataDir, 'small');
  mkdirSync(small);
  try {
    // Smaller than the demo image's stored content (a few MiB).
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
  } catch (error) {
    return t.skip(`cannot mount a tmpfs here: ${(error as Error).message}`);
  }
  try {
    const result = await dbp(['restore', '--backup', backupId, '--to', join(small, 'restored.img'), '--data-dir', dataDir]);
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('restore '));
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^dbp restore: .*no space left/i);
    assert.deepEqual(readdirSync(small), []);
  } finally {
    execFileSync('umount', [small]);
  }
});

test('a damaged index file: verify names it (exit 1), repair index rebuilds it, verify is then clean, restore works', async () => {
  const repository = join(dataDir, 'repository');
  const [file] = readdirSync(join(repository, 'index'));
  const path = join(repository, 'index', file!);
  const bytes = readFileSync(path);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
  writeFileSync(path, bytes);
  const verify = await dbp(['verify', '--data-dir', dataDir]);
  assert.equal(verify.code, 1, verify.stderr);
  assert.match(verify.stdout, new RegExp(`index/${file}`));
  assert.match(verify.stderr, new RegExp(`warning: .*index/${file}`));
  const repaired = await dbpJson(['repair', 'index', '--data-dir', dataDir]);
  assert.ok(repaired.packs_indexed > 0, JSON.stringify(repaired));
  assert.deepEqual(readdirSync(join(repository, 'index')), [repaired.index_file.slice('index/'.length)]);
  const clean = await dbpJson(['verify', '--data-dir', dataDir]);
  assert.equal(clean.ok, true);
  assert.deepEqual(clean.index_problems, []);
  const to = join(dataDir, 'after-repair.img');
  await dbpJson(['restore', '--backup', backupId, '--to', to, '--data-dir', dataDir]);
  rmSync(to);
});

test('restore of a damaged chunk: one line naming the chunk, exit 1, no file left', async () => {
  const password = readFileSync(join(dataDir, 'repository.key'), 'utf8').trim();
  assert.ok((await corruptChunksAt(join(dataDir, 'repository'), password)) > 0);
  const target = join(dataDir, 'target');
  mkdirSync(target);
  const result = await dbp(['restore', '--backup', backupId, '--to', join(target, 'restored.img'), '--data-dir', dataDir]);
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('restore '));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /^dbp restore: Chunk [0-9a-f]{64}: /);
  assert.deepEqual(readdirSync(target), []);
});
