/**
 * What the console's browser tests share: Debian's Chromium driven by playwright-core (which never
 * downloads a browser), a real `dbp serve` on a SQLite database of their own with an organization, a
 * small disk image, a repository and tokens, the console freshly built, screenshots into
 * test-results/, and an axe-core pass that fails on serious or critical violations.
 *
 * Without Chromium the tests skip, unless DBP_REQUIRE_BROWSER=1 (CI): then they fail.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import { systemClock } from '../../src/domain/clock.js';
import { openBackupEngine } from '../../src/engine/index.js';
import { TEST_REPOSITORY_PASSWORD } from '../support/harness.js';
import { freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';
import { openRuntime } from '../../src/runtime.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RESULTS_DIR = join(REPO_ROOT, 'test-results');
const CHROMIUM = process.env.DBP_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here (they then skip), or null. Throws when CI requires the browser. */
export function browserSkipReason(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const reason = `no Chromium at ${CHROMIUM} (apt-get install chromium, or set DBP_CHROMIUM)`;
  if (process.env.DBP_REQUIRE_BROWSER === '1') throw new Error(`DBP_REQUIRE_BROWSER=1 but ${reason}`);
  return reason;
}

/** Builds the console into dist/console (Vite, about a second), so the test sees the sources as they are. */
export async function buildConsole(): Promise<void> {
  await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'console/vite.config.ts'], {
    cwd: REPO_ROOT,
  });
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export interface ConsoleSite {
  readonly base: string;
  readonly organizationId: string;
  readonly diskId: string;
  readonly diskName: string;
  /** Every scope. */
  readonly adminToken: string;
  /** Only read scopes. */
  readonly readOnlyToken: string;
  /** Every scope, but 3 requests a minute. */
  readonly limitedToken: string;
  stop(): Promise<void>;
}

const READ_SCOPES = ['organizations:read', 'disk_backup_policies:read', 'disks:read', 'virtual_machines:read', 'trash_objects:read', 'api_tokens:read'];

/** A `dbp serve` (SQLite) with an organization, a virtual machine with a protected disk and an unprotected 1 MiB disk, a repository and two tokens. */
export async function startSite(): Promise<ConsoleSite> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dbp-console-test-'));
  const runtime = await openRuntime({ dataDir, clock: systemClock });
  const { inventory, tokens, policies } = runtime.services;
  const organization = await inventory.createOrganization({ name: 'Console Test', timeZone: 'Asia/Tokyo' });
  const machine = await inventory.createVirtualMachine({ organizationId: organization.id, name: 'web-1' });
  const imagePath = join(dataDir, 'data-disk.img');
  writeFileSync(imagePath, randomBytes(1024 * 1024));
  const disk = await inventory.createDisk({ organizationId: organization.id, name: 'data-disk', sizeInGb: 1, imagePath });
  const system = await inventory.createDisk({ organizationId: organization.id, name: 'system', sizeInGb: 1, virtualMachineId: machine.id });
  await policies.create(organization.id, { type: 'Disk', id: system.id, name: system.name }, { retention: 3, schedule: { interval: 'weekly', time: 4, minute: 0 } });
  const admin = await tokens.create({ organizationId: organization.id, name: 'console admin' });
  const reader = await tokens.create({ organizationId: organization.id, name: 'console reader', scopes: READ_SCOPES });
  const limited = await tokens.create({ organizationId: organization.id, name: 'console limited', rateLimit: 3 });
  // Enough tokens for two pages of the tokens screen (30 a page).
  for (let i = 1; i <= 30; i++) await tokens.create({ organizationId: organization.id, name: `extra token ${i}`, scopes: ['disks:read'] });
  // The repository the server's engine opens.
  const engine = await openBackupEngine(runtime, { dataDir, password: TEST_REPOSITORY_PASSWORD, workers: 1 });
  await engine.close();
  await runtime.close();
  const port = await freePort();
  const child: Child = spawnServe(['--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], {
    DBP_REPOSITORY_PASSWORD: TEST_REPOSITORY_PASSWORD,
  });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(base, child, 60_000);
  return {
    base,
    organizationId: organization.id,
    diskId: disk.id,
    diskName: disk.name,
    adminToken: admin.secret,
    readOnlyToken: reader.secret,
    limitedToken: limited.secret,
    stop: async () => {
      await child.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Signs in on the console's first screen and waits for the overview. */
export async function signIn(page: Page, site: ConsoleSite, token: string): Promise<void> {
  await page.goto(`${site.base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
}

/** A screenshot of the screen as it is (test-results/<name>.png), then axe-core: no serious or critical violation. */
export async function checkScreen(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  await page.screenshot({ path: join(RESULTS_DIR, `console-${name}.png`), fullPage: true });
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  assert.deepEqual(
    bad.map((violation) => `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`),
    [],
    `axe-core on the ${name} screen`,
  );
}
