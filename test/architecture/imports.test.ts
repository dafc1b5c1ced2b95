/**
 * No import circles under src/: every relative `import … from`, `import type … from`, `export … from`,
 * side-effect `import '…'` and type-position `import('…')` is an edge, and a depth-first search over
 * those edges must find no file that leads back to itself.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/** `from '…'`, a bare `import '…'`, and `import('…')` (dynamic or in a type). */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Drops comments, so an import shown in a doc comment is no edge. */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** The file a relative specifier names (`./x.js` is written for `./x.ts`), or null outside src/. */
function resolveSpecifier(from: string, specifier: string): string | null {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  return null;
}

export function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const source = withoutComments(readFileSync(file, 'utf8'));
    const targets = new Set<string>();
    for (const match of source.matchAll(SPECIFIER)) {
      const target = resolveSpecifier(file, match[2]!);
      if (target) targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/** Every cycle the DFS meets, each as the files along it (first file repeated at the end). */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      const seen = state.get(next);
      if (seen === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (seen === undefined) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

test('the cycle finder finds a circle of three files and none in a chain', () => {
  const circle = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  assert.deepEqual(findCycles(circle), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', []]])), []);
});

test('the graph sees `import type`, `export … from` and type-position `import()` edges', () => {
  const graph = importGraph([join(SRC, 'api/framework/types.ts'), join(SRC, 'api/framework/endpoint.ts')]);
  assert.ok([...graph.values()].some((targets) => targets.length > 0), 'some edge is found');
  assert.ok(graph.get(join(SRC, 'api/framework/endpoint.ts'))!.includes(join(SRC, 'api/framework/types.ts')), 'import type is an edge');
});

test('no file under src/ is in an import cycle', () => {
  const files = tsFiles(SRC);
  assert.ok(files.length > 50, `found ${files.length} files under src/`);
  const cycles = findCycles(importGraph(files));
  const named = cycles.map((cycle) => cycle.map((file) => relative(ROOT, file)).join(' → '));
  assert.deepEqual(named, [], `import cycles:\n${named.join('\n')}`);
});
