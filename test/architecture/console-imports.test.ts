/**
 * The web console (console/src) is a client of the public API: of the server's code it may bundle only
 * pure domain modules that themselves import nothing (the schedule maths and the scope names), so that
 * no server code, database or Node.js module ends up in the browser.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONSOLE = join(ROOT, 'console/src');
const ALLOWED = ['src/domain/schedule.ts', 'src/domain/scopes.ts'];
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : /\.tsx?$/.test(entry.name) ? [join(dir, entry.name)] : [],
  );
}

function specifiers(file: string): string[] {
  const source = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  return [...source.matchAll(SPECIFIER)].map((match) => match[2]!);
}

test('the console imports only its own files, its libraries and the pure domain modules allowed', () => {
  const outside: string[] = [];
  for (const file of files(CONSOLE)) {
    for (const specifier of specifiers(file)) {
      if (specifier.startsWith('node:')) outside.push(`${relative(ROOT, file)}: ${specifier}`);
      if (!specifier.startsWith('.')) continue;
      const target = relative(ROOT, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts');
      if (target.startsWith('console/')) continue;
      if (!ALLOWED.includes(target)) outside.push(`${relative(ROOT, file)}: ${specifier}`);
    }
  }
  assert.deepEqual(outside, []);
});

test('the domain modules the console bundles import nothing', () => {
  for (const file of ALLOWED) assert.deepEqual(specifiers(join(ROOT, file)), [], file);
});
