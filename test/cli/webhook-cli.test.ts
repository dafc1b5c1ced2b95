/**
 * `dbp webhook create|list|delete|deliveries` as an operator runs them: bad input is a one-line
 * usage error (exit 2) that writes nothing, the secret is never printed back, and deleting an
 * unknown webhook is a clear failure (exit 1).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dbp, dbpJson } from '../support/dbp-cli.js';

const SECRET = 'cli-webhook-secret-0123456789';

let dataDir: string;
let data: string[];
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'dbp-webhook-cli-'));
  data = ['--data-dir', dataDir];
  await dbpJson([...data, 'org', 'create', '--name', 'Hooks', '--sub-domain', 'hooks']);
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('bad input: a clear one-line usage error, exit 2, nothing written', async () => {
  const cases: [string[], RegExp][] = [
    [['--url', 'ftp://example.com/x', '--secret', SECRET], /URL must use http or https, not ftp/],
    [['--url', 'example.com/x', '--secret', SECRET], /not a valid absolute URL/],
    [['--url', 'https://example.com/x', '--secret', 'too-short'], /Secret must be at least 16 characters long/],
    [['--url', 'https://example.com/x'], /--secret is required/],
    [['--secret', SECRET], /--url is required/],
  ];
  for (const [args, message] of cases) {
    const result = await dbp([...data, 'webhook', 'create', '--org', 'hooks', ...args]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.match(result.stderr, /^dbp webhook create: .*\nRun "dbp webhook create --help" for usage\.\n$/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  }
  const unknownOrg = await dbp([...data, 'webhook', 'create', '--org', 'nobody', '--url', 'https://example.com/x', '--secret', SECRET]);
  assert.equal(unknownOrg.code, 1);
  assert.match(unknownOrg.stderr, /No organization with id or sub-domain "nobody"/);
  assert.deepEqual(await dbpJson([...data, 'webhook', 'list', '--org', 'hooks']), []);
});

test('create, list and delete; the secret is never printed', async () => {
  const created = await dbp([...data, 'webhook', 'create', '--org', 'hooks', '--url', 'https://hooks.example.com/dbp', '--secret', SECRET, '--description', 'pager', '--json']);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout.includes(SECRET), false);
  const webhook = JSON.parse(created.stdout);
  assert.match(webhook.id, /^whk_/);
  assert.equal(webhook.url, 'https://hooks.example.com/dbp');
  assert.equal(webhook.enabled, true);

  const listed = await dbp([...data, 'webhook', 'list', '--org', 'hooks']);
  assert.equal(listed.code, 0);
  assert.match(listed.stdout, new RegExp(`${webhook.id}\\s+https://hooks\\.example\\.com/dbp\\s+yes`));
  assert.equal(listed.stdout.includes(SECRET), false);
  assert.deepEqual((await dbpJson([...data, 'webhook', 'list', '--org', 'hooks'])).map((w: { id: string }) => w.id), [webhook.id]);
  assert.deepEqual(await dbpJson([...data, 'webhook', 'deliveries', webhook.id]), []);

  const deleted = await dbp([...data, 'webhook', 'delete', webhook.id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, /Webhook deleted/);
  const again = await dbp([...data, 'webhook', 'delete', webhook.id]);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, `dbp webhook delete: No webhook with id "${webhook.id}"\n`);
  assert.deepEqual(await dbpJson([...data, 'webhook', 'list', '--org', 'hooks']), []);
});
