/**
 * The console while PostgreSQL is away: a real `dbp serve` reaches its database through a TCP proxy
 * the test cuts. The screen opened meanwhile shows the API's 503 as a message with "Try again" (no
 * blank screen); once the database is back, "Try again" shows the data.
 *
 * Needs Chromium (as the other browser tests) and TEST_DATABASE_URL (a PostgreSQL URL allowed to
 * CREATE DATABASE); skipped without the database, as the PostgreSQL outage tests are.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { openRuntime } from '../../src/runtime.js';
import { createDatabase, cleanUpServeTest, freePort, spawnServe, waitReady, type Child } from '../support/serve-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { browserSkipReason, buildConsole, checkScreen, launchBrowser } from './support.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL;
const skip = browserSkipReason() ?? (ADMIN_URL ? null : 'TEST_DATABASE_URL is not set: the console-with-the-database-away test is skipped');

describe('web console while the database is away', { skip: skip ?? false }, () => {
  const databaseName = `dbp_console_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'dbp-console-away-'));
  let databaseUrl: string | undefined;
  let proxy: TcpProxy;
  let child: Child | undefined;
  let browser: Browser | undefined;
  let base: string;
  let token: string;

  before(async () => {
    await buildConsole();
    databaseUrl = await createDatabase(ADMIN_URL!, databaseName);
    const runtime = await openRuntime({ dataDir, databaseUrl });
    try {
      const organization = await runtime.services.inventory.createOrganization({ name: 'Away' });
      token = (await runtime.services.tokens.create({ organizationId: organization.id, name: 'away' })).secret;
      await runtime.services.inventory.createDisk({ organizationId: organization.id, name: 'away-disk', sizeInGb: 1 });
    } finally {
      await runtime.close();
    }
    proxy = await TcpProxy.toUrl(ADMIN_URL!);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawnServe(['--database-url', proxy.rewriteUrl(databaseUrl), '--port', String(port), '--role', 'api', '--log-level', 'warn', '--data-dir', dataDir]);
    [browser] = await Promise.all([launchBrowser(), waitReady(base, child, 30_000)]);
  });
  after(() =>
    cleanUpServeTest(databaseUrl ? { adminUrl: ADMIN_URL!, name: databaseName } : undefined, dataDir, async () => {
      await browser?.close();
      await child?.stop();
      await proxy?.close();
    }),
  );

  test('a 503 is a message with "Try again", and the data comes back with the database', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`${base}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('tr', { hasText: 'away-disk' }).waitFor();

    proxy.cut('refuse');
    await page.getByRole('link', { name: 'Trash' }).click();
    const alert = page.getByRole('alert');
    await alert.getByText('The service is unavailable for now: its database may be away. Try again shortly.').waitFor();
    await checkScreen(page, 'trash-503');
    assert.equal(await page.getByRole('heading', { level: 1, name: 'Trash' }).count(), 1, 'the screen stays, with its message');

    proxy.restore();
    await alert.getByRole('button', { name: 'Try again' }).click();
    await page.getByText('The trash is empty.').waitFor();
    assert.equal(await page.getByRole('alert').count(), 0, 'the message is gone');
    await context.close();
  });
});
