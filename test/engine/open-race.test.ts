import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { openRepository } from '../../src/engine/repository/index.js';
import { formatRepositoryLocation } from '../../src/engine/storage/location.js';
import type { StoreLocation } from '../../src/engine/storage/object-store.js';
import { dbp } from '../support/dbp-cli.js';
import { TEST_STORES } from '../support/test-stores.js';

/** Issue 15 defect 1: processes that create one repository at the same moment all end up using the same config (on both stores). */
const FIXTURE = fileURLToPath(new URL('./fixtures/open-race-child.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'dbp-open-race-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Child {
  readonly process: ChildProcess;
  output: string;
}

function start(repository: StoreLocation, image: string): Child {
  const child: Child = { process: spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(repository), image], { stdio: ['pipe', 'pipe', 'inherit'] }), output: '' };
  child.process.stdout!.on('data', (data: Buffer) => (child.output += data.toString()));
  return child;
}

/** Resolves once `condition` holds (checked on every output), or fails after a generous bound. */
function until(children: Child[], condition: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${children.map((c) => JSON.stringify(c.output)).join(' ')}`)), 90_000);
    const check = () => {
      if (!condition()) return;
      clearTimeout(timer);
      resolve();
    };
    for (const child of children) child.process.stdout!.on('data', check);
    check();
  });
}

const exited = (child: Child) => new Promise<number | null>((resolve) => (child.process.exitCode !== null ? resolve(child.process.exitCode) : child.process.once('exit', (code) => resolve(code))));

for (const store of TEST_STORES) {
  describe(`open race (${store.name})`, { skip: store.skip }, () => {
    test('pairs of processes creating one empty repository at the same moment: every backup of both lists and restores byte-exact', async () => {
      const PAIRS = 6;
      const AT_ONCE = 3;
      for (let first = 0; first < PAIRS; first += AT_ONCE) {
        const pairs = await Promise.all(Array.from({ length: AT_ONCE }, async (_, k) => {
          const repository = await store.location(`open-race-${first + k}`);
          const images = [0, 1].map((side) => {
            const path = join(root, `image-${store.name}-${first + k}-${side}`);
            writeFileSync(path, randomBytes(4096 * 5 + 100));
            return path;
          });
          return { repository, images, children: images.map((image) => start(repository, image)) };
        }));
        const children = pairs.flatMap((pair) => pair.children);
        await until(children, () => children.every((child) => child.output.startsWith('ready\n')), 'the children to start');
        for (const child of children) child.process.stdin!.end('go\n');
        const codes = await Promise.all(children.map(exited));
        assert.deepEqual(codes, children.map(() => 0), `every child backs up: ${children.map((c) => c.output).join(' | ')}`);
        for (const pair of pairs) {
          const repository = await openRepository({ location: pair.repository, password: 'open race', workers: 1 });
          try {
            const ids = pair.children.map((child) => child.output.split('\n')[1]!);
            assert.deepEqual((await repository.listBackups()).map((b) => b.id).sort(), [...ids].sort());
            for (const [side, id] of ids.entries()) {
              const to = join(root, `restored-${id}`);
              await repository.restore(id, { toPath: to });
              assert.ok(readFileSync(to).equals(readFileSync(pair.images[side]!)), 'restored byte-exact');
            }
          } finally {
            await repository.close();
          }
        }
      }
    });

    test('CLI: two dbp processes opening one new repository together both succeed', async () => {
      for (let pair = 0; pair < 4; pair++) {
        const repository = formatRepositoryLocation(await store.location(`cli-open-race-${pair}`));
        const runs = [0, 1].map((side) => {
          const dataDir = join(root, `cli-data-${store.name}-${pair}-${side}`);
          mkdirSync(dataDir);
          return dbp(['backups', 'list', '--data-dir', dataDir, '--json'], { env: { DBP_REPOSITORY: repository, DBP_REPOSITORY_PASSWORD: 'cli race' } });
        });
        for (const result of await Promise.all(runs)) {
          assert.equal(result.code, 0, result.stderr);
          assert.doesNotMatch(result.stderr, /not empty/);
        }
      }
    });
  });
}
