/**
 * The web console in Debian's Chromium against a real `dbp serve` (SQLite): the whole path of a
 * policy (create with the preview, a 422 beside its field, run now, the backup appearing, restore to
 * a new disk, verify, delete to the trash and restore), the tokens screen, a read-only token that is
 * offered no write control, keyboard-only sign-in, and API errors (429) shown as messages. Every
 * screen is screenshotted into test-results/ and passes axe-core (no serious or critical violation).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkipReason, buildConsole, checkScreen, launchBrowser, signIn, startSite, type ConsoleSite } from './support.js';

const skip = browserSkipReason();

/** The operation's progress bar, at its end: 100 %, every byte of the image done (its part-way states are polled in test/api/ext-operations.test.ts). */
async function assertFinishedBar(page: Page, label: string): Promise<void> {
  const bar = page.getByRole('progressbar', { name: label });
  await bar.waitFor();
  assert.equal(await bar.getAttribute('aria-valuemin'), '0');
  assert.equal(await bar.getAttribute('aria-valuemax'), '100');
  assert.equal(await bar.getAttribute('aria-valuenow'), '100');
  const text = (await bar.getAttribute('aria-valuetext')) ?? '';
  const [, done, total] = /: (.+) of (.+) \(100%\), done$/.exec(text) ?? [];
  assert.ok(done && done === total, `every byte done: ${text}`);
}

describe('web console', { skip: skip ?? false }, () => {
  let site: ConsoleSite;
  let browser: Browser;

  before(async () => {
    await buildConsole();
    [site, browser] = await Promise.all([startSite(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await site?.stop();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ timezoneId: 'Europe/Paris', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('dialog', (dialog) => void dialog.accept());
    return page;
  }

  test('a policy from creation to the trash and back: preview, 422, run now, restore, verify, change, scheduled deletion', async () => {
    const page = await newPage();
    await page.goto(`${site.base}/`);
    await checkScreen(page, 'sign-in');
    await signIn(page, site, site.adminToken);

    // The overview: the new disk has no policy and stands out; the system disk is protected.
    const unprotectedRow = page.locator('tr.unprotected', { hasText: site.diskName });
    await unprotectedRow.getByText('Unprotected').waitFor();
    assert.equal(await page.locator('tr', { hasText: 'system' }).getByText('Unprotected').count(), 0);
    assert.match(await page.locator('tr', { hasText: 'system' }).innerText(), /04:00 GMT\+9[\s\S]*yours: .* 20:00 CET/, "the next run in the organization's zone (Tokyo) and the viewer's (Paris)");
    await page.locator('tr', { hasText: 'web-1' }).getByRole('link', { name: 'Add a backup policy for every disk of web-1' }).waitFor();
    await checkScreen(page, 'overview');

    // The editor previews five runs, and follows the schedule as it is edited.
    await unprotectedRow.getByRole('link', { name: `Add a backup policy for ${site.diskName}` }).click();
    const runs = page.getByTestId('next-runs').locator('li');
    await runs.first().waitFor();
    assert.equal(await runs.count(), 5);
    await page.getByLabel('Minute (0–59)').fill('45');
    await page.getByLabel('Interval', { exact: true }).selectOption('hourly');
    await page.waitForFunction(() => [...(globalThis as any).document.querySelectorAll('[data-testid=next-runs] li')].every((li: any) => /:45/.test(li.textContent ?? '')));
    const first = await runs.nth(0).innerText();
    const second = await runs.nth(1).innerText();
    assert.notEqual(first, second);
    await checkScreen(page, 'policy-editor');

    // The API's validation error is shown beside its field; nothing is created.
    await page.getByLabel('Backups kept (retention)').fill('0');
    await page.getByRole('button', { name: 'Create policy' }).click();
    const fieldError = page.locator('#policy-retention-error');
    await fieldError.waitFor();
    assert.match(await fieldError.innerText(), /Retention must be greater than or equal to 1/);
    assert.equal(await page.getByLabel('Backups kept (retention)').getAttribute('aria-invalid'), 'true');
    await checkScreen(page, 'policy-editor-422');

    await page.getByLabel('Backups kept (retention)').fill('4');
    await page.getByRole('button', { name: 'Create policy' }).click();
    await page.getByRole('heading', { level: 1, name: /^Policy dbp_/ }).waitFor();
    const policyId = (await page.getByRole('heading', { level: 1 }).innerText()).replace('Policy ', '');
    await page.getByText('No backups yet.').first().waitFor();

    // Run now: a progress bar follows the operation to its end, then the backup appears, with the run and the chart.
    await page.getByRole('button', { name: 'Run now' }).click();
    await page.getByText(/Run run_\w+ succeeded: backup bkp_\w+ taken\./).waitFor({ timeout: 60_000 });
    await assertFinishedBar(page, 'Backing up now');
    const backupRow = page.locator('tbody tr', { hasText: 'bkp_' }).first();
    await backupRow.waitFor();
    const backupId = (await backupRow.locator('th').innerText()).split(/\s/)[0]!;
    await page.locator('tr', { hasText: /run_\w+/ }).getByText('succeeded').first().waitFor();
    await page.locator('.chart canvas').first().waitFor();
    await checkScreen(page, 'policy-history');

    // Restore to a new disk, then verify.
    await page.getByLabel('New disk name').fill('restored-copy');
    await page.getByRole('button', { name: 'Restore to a new disk' }).click();
    await page.getByText(new RegExp(`Backup ${backupId} restored to the new disk restored-copy \\(disk_\\w+\\)`)).waitFor({ timeout: 60_000 });
    await assertFinishedBar(page, `Restoring ${backupId} to a new disk`);
    await page.getByRole('button', { name: `Verify ${backupId}` }).click();
    await page.getByText(new RegExp(`Backup ${backupId} verified: \\d+ chunks read and authenticated`)).waitFor({ timeout: 60_000 });
    await assertFinishedBar(page, `Verifying ${backupId}`);
    await page.locator('tr', { hasText: backupId }).locator('.badge.succeeded', { hasText: 'ok' }).waitFor();

    // Delete into the trash, and restore it from there.
    // Change it: the preview of the unchanged schedule starts at the policy's next run, as the service has it.
    const summary = await page.locator('.policy-summary').innerText();
    const nextRun = /Next run: (.+)\./.exec(summary)![1]!;
    await page.getByRole('link', { name: 'Edit or delete' }).click();
    await page.getByRole('heading', { level: 1, name: `Edit policy ${policyId}` }).waitFor();
    assert.equal(await runs.first().evaluate((li) => (li as any).firstChild.textContent), nextRun);
    await page.getByLabel('Backups kept (retention)').fill('6');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText(/keeps 6 backups/).waitFor();

    await page.getByRole('link', { name: 'Edit or delete' }).click();
    await page.getByLabel('Move to the trash at (your time)').fill('2099-01-01T12:00');
    await page.getByRole('button', { name: 'Schedule deletion' }).click();
    await page.getByText('The policy will move to the trash at Thu, 01 Jan 2099, 12:00 CET.').waitFor();
    await page.getByRole('button', { name: 'Move to the trash now' }).click();
    await page.getByRole('heading', { level: 1, name: 'Trash' }).waitFor();
    await page.locator('tr', { hasText: policyId }).waitFor();
    await checkScreen(page, 'trash');
    await page.getByRole('button', { name: `Restore ${policyId}` }).click();
    await page.getByText(`${policyId} is restored.`).waitFor();
    await page.getByText('The trash is empty.').waitFor();

    // Back on the overview, the disk is protected, with the run's outcome.
    await page.getByRole('link', { name: 'Overview' }).click();
    const restoredRow = page.locator('tr', { hasText: site.diskName });
    await restoredRow.getByRole('link', { name: /hourly/ }).waitFor();
    assert.equal(await restoredRow.getByText('Unprotected').count(), 0);
    await restoredRow.getByText('succeeded').waitFor();
    await page.locator('tr', { hasText: 'restored-copy' }).getByText('Unprotected').waitFor();
    await page.context().close();
  });

  test('API tokens: a new token with scopes, networks and expiry; its secret shown once', async () => {
    const page = await newPage();
    await signIn(page, site, site.adminToken);
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
    // 33 tokens: pages of 30, as the API pages them.
    await page.getByText('Page 1 of 2 (33 in all)').waitFor();
    assert.equal(await page.locator('tbody tr').count(), 30);
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText('Page 2 of 2 (33 in all)').waitFor();
    assert.deepEqual(await page.locator('tbody th').evaluateAll((cells) => cells.map((cell) => (cell as any).firstChild.textContent)), ['extra token 28', 'extra token 29', 'extra token 30']);
    await page.getByLabel('Name', { exact: true }).fill('backup reader');
    await page.getByLabel('disk_backup_policies:read').check();
    await page.getByLabel(/Allowed networks/).fill('192.0.2.0/24');
    await page.getByLabel(/Expires/).fill('2099-01-01T12:00');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = page.getByLabel('Secret of backup reader');
    await secret.waitFor();
    assert.match(await secret.inputValue(), /^\w{48}$/);
    const row = page.locator('tr', { hasText: 'backup reader' });
    await row.waitFor(); // the last token, on the page shown
    await page.getByText('Page 2 of 2 (34 in all)').waitFor();
    assert.match(await row.innerText(), /disk_backup_policies:read[\s\S]*192\.0\.2\.0\/24[\s\S]*2099/);
    await checkScreen(page, 'tokens');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    assert.equal(await page.getByLabel('Secret of backup reader').count(), 0, 'the secret is not shown again');
    await page.context().close();
  });

  test('a read-only token, signed in with the keyboard only, is offered no write control', async () => {
    const page = await newPage();
    await page.goto(`${site.base}/`);
    await page.getByRole('heading', { level: 1, name: 'Sign in with an API token' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.id), 'token');
    await page.keyboard.type(site.readOnlyToken);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.locator('tr', { hasText: 'system' }).getByRole('link', { name: /weekly/ }).waitFor();
    await page.locator('tr', { hasText: 'web-1' }).getByText('No policy of its own').waitFor();
    const writeControls = /Add a|Run now|Edit or delete|Restore|Purge|Verify|Create|Save|Move to the trash/;
    const countWriteControls = async () =>
      (await page.getByRole('button', { name: writeControls }).count()) + (await page.getByRole('link', { name: writeControls }).count());
    assert.equal(await countWriteControls(), 0, 'overview');
    await checkScreen(page, 'overview-read-only');

    // Keyboard: the policy's link is reached by Tab and opened with Enter.
    const link = page.locator('tr', { hasText: 'system' }).getByRole('link', { name: /weekly/ });
    for (let i = 0; i < 40 && !(await link.evaluate((element) => element === (globalThis as any).document.activeElement)); i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: /^Policy dbp_/ }).waitFor();
    await page.getByText('No backups yet.').first().waitFor();
    assert.equal(await countWriteControls(), 0, 'policy history');
    await checkScreen(page, 'policy-history-read-only');

    for (const screen of ['Trash', 'API tokens']) {
      await page.getByRole('link', { name: screen }).click();
      await page.getByRole('heading', { level: 1, name: screen }).waitFor();
      await page.getByRole('table').or(page.getByText('The trash is empty.')).first().waitFor();
      assert.equal(await countWriteControls(), 0, screen);
    }
    await page.context().close();
  });

  test('API errors are messages: 429 with its retry time, and a token the service refuses', async () => {
    const page = await newPage();
    await page.goto(`${site.base}/`);
    await page.getByLabel('API token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText(/not valid/).waitFor();
    await checkScreen(page, 'sign-in-refused');

    // 3 requests a minute: signing in takes one, the overview's three calls go over.
    await signIn(page, site, site.limitedToken);
    const alert = page.getByRole('alert');
    await alert.getByText(/Too many requests: this token's rate limit \(3 requests a minute\) is reached\. Try again in \d+ s\./).waitFor();
    await alert.getByRole('button', { name: 'Try again' }).waitFor();
    await checkScreen(page, 'overview-429');
    await page.context().close();
  });
});
