/**
 * `dbp` explains itself: every command and subcommand — taken from the program's own command tree,
 * so that a new command cannot be left out — answers `--help` and `-h` with its usage, its flags and an
 * example, exits 0 and changes nothing in the data directory. `--version`, and one-line usage errors
 * (exit 2) that point to the command's `--help`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { allCommands, buildProgram, commandPath } from '../../src/cli/program.js';
import { dbp, dbpJson, type CliResult } from '../support/dbp-cli.js';

const WHOLE_FILE_LIMIT = 64 * 1024 * 1024;

/**
 * A fingerprint of every file below `root`: its path, size, modification and change times, and the
 * hash of its bytes (of a large sparse disk image, of its first and last 16 MiB: any write to it
 * changes its times anyway).
 */
function fingerprint(root: string): Map<string, string> {
  const prints = new Map<string, string>();
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        visit(path);
        continue;
      }
      const stat = statSync(path, { bigint: true });
      const hash = createHash('sha256');
      if (stat.size <= WHOLE_FILE_LIMIT) hash.update(readFileSync(path));
      else for (const at of [0, Number(stat.size) - 16 * 1024 * 1024]) hash.update(readPart(path, at, 16 * 1024 * 1024));
      prints.set(relative(root, path), `${stat.size} ${stat.mtimeNs} ${stat.ctimeNs} ${hash.digest('hex')}`);
    }
  };
  visit(root);
  return prints;
}

function readPart(path: string, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    return buffer.subarray(0, readSync(fd, buffer, 0, length, position));
  } finally {
    closeSync(fd);
  }
}

/** Runs `work` on every item, at most `width` at a time. */
async function inPool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** A usage error: exit 2, nothing on stdout, one line naming the command and a second pointing to its --help. */
function assertUsageError(result: CliResult, command: string, message: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, result.stderr);
  assert.ok(lines[0]!.startsWith(`${command}: `), lines[0]);
  assert.match(lines[0]!, message);
  assert.equal(lines[1], `Run "${command} --help" for usage.`);
}

let dataDir: string;
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-help-'));
  await dbpJson(['demo', '--data-dir', dataDir]);
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

describe('dbp --help', () => {
  test('every command and subcommand answers --help and -h with usage, flags and an example, exit 0, and changes nothing', async () => {
    const commands = allCommands(buildProgram());
    assert.ok(commands.length >= 25, `only ${commands.length} commands in the tree`);
    const before = fingerprint(dataDir);
    const runs = commands.flatMap((command) => ['--help', '-h'].map((flag) => ({ command, flag })));
    await inPool(runs, 3, async ({ command, flag }) => {
      const path = commandPath(command);
      const result = await dbp(['--data-dir', dataDir, ...path.split(' ').slice(1), flag]);
      const what = `${path} ${flag}`;
      assert.equal(result.code, 0, `${what}: ${result.stderr}`);
      assert.equal(result.stderr, '', what);
      assert.ok(result.stdout.startsWith(`Usage: ${path} `), `${what}: ${result.stdout.slice(0, 80)}`);
      assert.match(result.stdout, /\nExamples?:\n {2}\$ dbp /, `${what} shows no example`);
      for (const option of command.options) {
        if (!option.hidden) assert.ok(result.stdout.includes(option.long ?? option.flags), `${what} does not show ${option.flags}`);
      }
      for (const sub of command.commands) assert.ok(result.stdout.includes(`  ${sub.name()}`), `${what} does not list ${sub.name()}`);
    });
    assert.deepEqual(fingerprint(dataDir), before, 'the data directory changed');
  });

  test('the help shows defaults and environment variables, e.g. serve --port and --data-dir', async () => {
    const result = await dbp(['serve', '--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--port <port>\s+the API port \(0: any free port\) \(default: 8080, env:\s+DBP_PORT\)/);
    assert.match(result.stdout, /--data-dir <dir>\s+where the SQLite database lives \(default: "\.\/data",\s+env: DBP_DATA_DIR\)/);
  });

  test('dbp help <command> [<subcommand>] shows that command\'s help', async () => {
    const nested = await dbp(['help', 'org', 'create']);
    assert.equal(nested.code, 0, nested.stderr);
    assert.match(nested.stdout, /^Usage: dbp org create \[options\]/);
    assert.match(nested.stdout, /--sub-domain <sub-domain>/);
    const top = await dbp(['help']);
    assert.equal(top.code, 0);
    for (const command of ['serve', 'run-due', 'runs', 'policy', 'backups', 'restore', 'verify', 'gc', 'demo', 'org', 'vm', 'disk', 'token']) {
      assert.match(top.stdout, new RegExp(`\\n  ${command} `), command);
    }
    assertUsageError(await dbp(['help', 'frobnicate']), 'dbp', /^dbp: unknown command "frobnicate"$/);
  });

  test("dbp --version and -V print package.json's version", async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await dbp([flag]);
      assert.equal(result.code, 0);
      assert.equal(result.stdout, `${version}\n`);
    }
  });
});

describe('dbp usage errors', () => {
  test('an unknown command, flag or subcommand, a missing argument or a bad value: exit 2, one line and a pointer to --help', async () => {
    const before = fingerprint(dataDir);
    const where = ['--data-dir', dataDir];
    assertUsageError(await dbp(['frobnicate', ...where]), 'dbp', /unknown command "frobnicate"/);
    assertUsageError(await dbp(['org', 'list', '--colour', 'blue', ...where]), 'dbp org list', /unknown option "--colour"/);
    assertUsageError(await dbp(['runs', 'show', ...where]), 'dbp runs', /unknown command "show"/);
    assertUsageError(await dbp(['policy', 'show', ...where]), 'dbp policy show', /ID is required/);
    assertUsageError(await dbp(where), 'dbp', /missing command \(one of serve, run-due, .*, token, webhook\)/);
    assertUsageError(await dbp(['org', ...where]), 'dbp org', /missing command \(one of create, list, suspend, unsuspend\)/);
    assertUsageError(
      await dbp([...where, 'disk', 'create', '--org', 'demo', '--name', 'minus', '--size-gb', '-1']),
      'dbp disk create',
      /--size-gb must be a positive whole number, at most 65536 \(got "-1"\)/,
    );
    assertUsageError(await dbp(['serve', '--role', 'boss', ...where]), 'dbp serve', /--role must be one of all, api, worker \(got "boss"\)/);
    assertUsageError(await dbp(['runs', 'list', '--limit', '0', ...where]), 'dbp runs list', /--limit must be a whole number from 1 to 100000/);
    assert.deepEqual(fingerprint(dataDir), before, 'a refused command changed the data directory');
  });
});
