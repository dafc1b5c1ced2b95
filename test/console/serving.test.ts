/**
 * `dbp serve` serves the built console at `/` (no browser needed): its page and hashed assets with a
 * content security policy that allows this origin only, while the API and its errors are unchanged
 * (every other path, and every API route, answers as before).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildConsole, startSite, type ConsoleSite } from './support.js';

let site: ConsoleSite;

before(async () => {
  await buildConsole();
  site = await startSite();
});
after(() => site?.stop());

test('the console is served at / with its assets, from this origin only', async () => {
  const page = await fetch(`${site.base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  const policy = page.headers.get('content-security-policy') ?? '';
  assert.match(policy, /default-src 'self'/);
  assert.match(policy, /script-src 'self'(;|$)/);
  const html = await page.text();
  const scripts = [...html.matchAll(/src="([^"]+)"/g)].map((match) => match[1]!);
  assert.ok(scripts.length > 0, html);
  for (const src of scripts) {
    assert.match(src, /^\/assets\/[\w-]+\.js$/, 'scripts come from this origin');
    const asset = await fetch(`${site.base}${src}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
  }
  assert.ok(!/https?:\/\//.test(html), 'no outside address in the page');
});

test('the API and its errors are as before: unknown paths are route_not_found, a refused token 403, never a 500', async () => {
  for (const path of ['/nothing-here', '/core/v1/nothing-here', '/assets/missing.js']) {
    const answer = await fetch(`${site.base}${path}`);
    assert.equal(answer.status, 404, path);
    assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'route_not_found', path);
    assert.equal(answer.headers.get('x-api-schema'), 'json-error');
  }
  const refused = await fetch(`${site.base}/ext/v1/api_token`, { headers: { authorization: 'Bearer not-a-token' } });
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'invalid_api_token');
  const known = await fetch(`${site.base}/ext/v1/api_token`, { headers: { authorization: `Bearer ${site.adminToken}` } });
  assert.equal(known.status, 200);
  assert.equal(((await known.json()) as { organization: { id: string } }).organization.id, site.organizationId);
});
