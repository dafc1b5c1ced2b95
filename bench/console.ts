/**
 * `npm run bench:console`: the web console's weight and speed.
 *
 *   (a) first-screen JavaScript: the scripts dist/console/index.html loads (the chart is a separate
 *       chunk, loaded only on a policy's history), gzip-compressed, against the budget of 250 KB;
 *   (b) time to render the overview of an organization with 1 000 policies (each on its own disk) in
 *       Debian's Chromium, from navigation to the table drawn (goal: < 1 s), beside the baseline of
 *       the same API requests made from Node.js with fetch (what the data alone costs): the ratio is
 *       what the browser, the bundle and the rendering add.
 *
 * A real `dbp serve` on a fresh SQLite database; --rounds rounds (default 5), medians reported.
 * Prints a Markdown report and writes it to BENCHMARKS.md (its own section, `console`).
 *
 *   npm run bench:console [-- --policies 1000] [--rounds 5] [--dry-run]
 */
import { spawn } from 'node:child_process';

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { systemClock } from '../src/domain/clock.js';
import { openRuntime } from '../src/runtime.js';
import { writeBenchmarkSection } from './support/benchmarks-md.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const CONSOLE_DIR = join(ROOT, 'dist/console');
const BUDGET_BYTES = 250 * 1000;
const GOAL_MS = 1000;

const { values } = parseArgs({
  options: {
    policies: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    'dry-run': { type: 'boolean', default: false },
  },
});
const policyCount = Number(values.policies);
const rounds = Number(values.rounds);

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit' });
    child.once('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

/** (a) The scripts the first screen loads, compressed as a server would (gzip -9). */
function firstScreenScripts(): { files: { name: string; raw: number; gzip: number }[]; gzip: number } {
  const html = readFileSync(join(CONSOLE_DIR, 'index.html'), 'utf8');
  const names = [...html.matchAll(/<script[^>]*src="([^"]+)"|<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map((m) => (m[1] ?? m[2])!);
  const files = names.map((name) => {
    const bytes = readFileSync(join(CONSOLE_DIR, name));
    return { name, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  return { files, gzip: files.reduce((sum, file) => sum + file.gzip, 0) };
}

async function seed(dataDir: string): Promise<{ organizationId: string; token: string }> {
  const runtime = await openRuntime({ dataDir, clock: systemClock });
  try {
    const { inventory, policies, tokens } = runtime.services;
    const organization = await inventory.createOrganization({ name: 'Bench Console', timeZone: 'Europe/Berlin' });
    const intervals = ['hourly', 'daily', 'weekly', 'monthly'] as const;
    for (let i = 0; i < policyCount; i++) {
      const disk = await inventory.createDisk({ organizationId: organization.id, name: `disk-${i}`, sizeInGb: 10 });
      await policies.create(organization.id, { type: 'Disk', id: disk.id, name: disk.name }, {
        retention: 7,
        schedule: { interval: intervals[i % 4]!, frequency: 1, time: i % 24, minute: i % 60 },
      });
    }
    const { secret } = await tokens.create({ organizationId: organization.id, name: 'bench', rateLimit: 1_000_000 });
    return { organizationId: organization.id, token: secret };
  } finally {
    await runtime.close();
  }
}

/** The requests the overview makes, from Node.js: whoami, every policy page (200 a page), the last runs, the first pages of disks and virtual machines. */
async function apiBaseline(base: string, organizationId: string, token: string): Promise<number> {
  const get = async (path: string) => {
    const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json() as Promise<any>;
  };
  const started = performance.now();
  await get('/ext/v1/api_token');
  const policies = async () => {
    for (let page = 1; ; page++) {
      const answer = await get(`/core/v1/organizations/${organizationId}/disk_backup_policies?page=${page}&per_page=200`);
      if (answer.disk_backup_policies.length < 200) return;
    }
  };
  await Promise.all([
    policies(),
    get(`/ext/v1/organizations/${organizationId}/last_runs`),
    get(`/core/v1/organizations/${organizationId}/disks?page=1&per_page=100`),
    get(`/core/v1/organizations/${organizationId}/virtual_machines?page=1&per_page=30`),
  ]);
  return performance.now() - started;
}

async function main(): Promise<void> {
  console.log('building the console…');
  await run(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'console/vite.config.ts']);
  const size = firstScreenScripts();

  const dataDir = mkdtempSync(join(tmpdir(), 'dbp-bench-console-'));
  console.log(`seeding ${policyCount} policies on ${policyCount} disks…`);
  const { organizationId, token } = await seed(dataDir);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const browser = await chromium.launch({ executablePath: process.env.DBP_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    for (let i = 0; i < 300; i++) {
      const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      await sleep(100);
    }
    const consoleMs: number[] = [];
    const apiMs: number[] = [];
    // One warm-up of each, then the rounds, alternating so both see the same machine.
    for (let round = 0; round <= rounds; round++) {
      const api = await apiBaseline(base, organizationId, token);
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await context.addInitScript((secret: string) => (globalThis as any).sessionStorage.setItem('dbp.console.token', secret), token);
      const page = await context.newPage();
      const started = performance.now();
      await page.goto(`${base}/`);
      await page.getByText(`${policyCount} ${policyCount === 1 ? 'policy' : 'policies'} in the organization`).waitFor({ timeout: 30_000 });
      await page.locator('table.overview tbody tr').nth(99).waitFor();
      const rendered = performance.now() - started;
      await context.close();
      if (round === 0) continue;
      apiMs.push(api);
      consoleMs.push(rendered);
      console.log(`round ${round}: console ${rendered.toFixed(0)} ms, API alone ${api.toFixed(0)} ms`);
    }
    const consoleMedian = median(consoleMs);
    const apiMedian = median(apiMs);
    const date = new Date().toISOString().slice(0, 10);
    const report = `## Web console (\`npm run bench:console\`)

Run ${date} on ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load average ${loadavg()[0]!.toFixed(2)} at the end; SQLite, Debian's Chromium (headless), ${rounds} rounds after a warm-up, medians.

| measure | figure | goal | met? |
| --- | --- | --- | :-: |
| first-screen JavaScript, gzip -9 | ${(size.gzip / 1000).toFixed(1)} KB (${size.files.map((f) => `${f.name}: ${(f.raw / 1000).toFixed(1)} KB raw`).join(', ')}) | ≤ 250 KB | ${size.gzip <= BUDGET_BYTES ? 'yes' : '**no**'} |
| overview of ${policyCount} policies on ${policyCount} disks: navigation to the table drawn (every policy fetched, first page of 100 disks shown) | ${consoleMedian.toFixed(0)} ms (rounds: ${consoleMs.map((m) => m.toFixed(0)).join(', ')}) | < 1 000 ms | ${consoleMedian < GOAL_MS ? 'yes' : '**no**'} |
| baseline: the same API requests from Node.js (fetch) | ${apiMedian.toFixed(0)} ms | — | — |
| ratio console / API alone | ${(consoleMedian / apiMedian).toFixed(2)} × | — | — |

The chart library (uPlot) is a separate chunk loaded with a policy's history, not on the first screen.`;
    console.log(`\n${report}\n`);
    if (!values['dry-run']) writeBenchmarkSection(join(ROOT, 'BENCHMARKS.md'), 'console', report);
  } finally {
    await browser.close();
    server.kill('SIGTERM');
    await new Promise((done) => server.once('exit', done));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
