/**
 * Makes the reference fixtures the tests read instead of the official documents, keeping only the
 * interface facts of the operations this service serves (`coreEndpoints`):
 *
 *   test/fixtures/official-openapi-interface.json  paths, methods, operation ids, tags, security (scopes),
 *     parameters, request bodies, response statuses and schemas, with every component they reference;
 *     descriptions, summaries, titles and examples stripped.
 *   test/fixtures/native-schema-interface.json  each served endpoint's scopes in the native ("apia")
 *     schema of the real API, for the endpoints that schema lists.
 *
 * Regenerate when the official document changes (or an endpoint is added), then commit the output:
 *
 *   node --import tsx scripts/make-reference-fixtures.ts <katapult-core-openapi-X.Y.Z.json> [<apia-schema.json>] [--out test/fixtures]
 *
 * The output is deterministic: the same documents give the same bytes. Each fixture names this script
 * and its source document (file name and version) in its top-level `x-fixture` object.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { coreEndpoints } from '../src/api/core/v1/index.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const SCRIPT = 'scripts/make-reference-fixtures.ts';
const OPENAPI_FIXTURE = 'official-openapi-interface.json';
const NATIVE_FIXTURE = 'native-schema-interface.json';
/** What an operation keeps (summary and description are documentation). */
const OPERATION_KEYS = ['operationId', 'tags', 'security', 'parameters', 'requestBody', 'responses'];
/** Schema keywords that only document. */
const DOCUMENTATION_KEYWORDS = new Set(['description', 'summary', 'title', 'example', 'examples', 'externalDocs']);

function isObject(node: Json | undefined): node is JsonObject {
  return node !== null && typeof node === 'object' && !Array.isArray(node);
}

function readJson(path: string): JsonObject {
  const document = JSON.parse(readFileSync(path, 'utf8')) as Json;
  if (!isObject(document)) throw new Error(`${path} does not hold a JSON object`);
  return document;
}

/**
 * A copy of an OpenAPI node without documentation keywords. Under `properties` the keys are field
 * names (a field may be called `description`), so only their values are cleaned.
 */
function stripDocumentation(node: Json, keysAreNames = false): Json {
  if (Array.isArray(node)) return node.map((item) => stripDocumentation(item));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (!keysAreNames && DOCUMENTATION_KEYWORDS.has(key)) continue;
    if (!keysAreNames && (key === 'enum' || key === 'required' || key === 'security')) out[key] = value;
    else out[key] = stripDocumentation(value, !keysAreNames && (key === 'properties' || key === 'content'));
  }
  return out;
}

/** Every `#/components/<section>/<name>` a node references, as [section, name]. */
function references(node: Json, found: [string, string][] = []): [string, string][] {
  if (Array.isArray(node)) node.forEach((item) => references(item, found));
  else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      const match = key === '$ref' && typeof value === 'string' ? /^#\/components\/([^/]+)\/([^/]+)$/.exec(value) : null;
      if (match) found.push([match[1]!, match[2]!]);
      else references(value, found);
    }
  }
  return found;
}

/** The document's path for a served route: `disks/:disk/disk_backup_policies` → `/disks/disk/disk_backup_policies`. */
function documentPath(route: string): string {
  return `/${route.replace(/:([a-z_]+)/g, '$1')}`;
}

function openApiFixture(path: string): { fixture: JsonObject; version: string } {
  const document = readJson(path);
  const info = isObject(document.info) ? document.info : {};
  const version = String(info['x-katapult-version'] ?? info.version ?? 'unknown');
  const sourcePaths = isObject(document.paths) ? document.paths : {};
  const components = isObject(document.components) ? document.components : {};

  const paths: JsonObject = {};
  const missing: string[] = [];
  for (const endpoint of coreEndpoints) {
    const docPath = documentPath(endpoint.route);
    const method = endpoint.method.toLowerCase();
    const operation = (sourcePaths[docPath] as JsonObject | undefined)?.[method];
    if (!isObject(operation)) {
      missing.push(`${endpoint.method} ${docPath}`);
      continue;
    }
    const kept: JsonObject = {};
    for (const key of OPERATION_KEYS) if (operation[key] !== undefined) kept[key] = stripDocumentation(operation[key]!);
    const pathItem = (paths[docPath] ??= {}) as JsonObject;
    pathItem[method] = kept;
  }
  if (missing.length > 0) process.stderr.write(`not in ${basename(path)} (left out): ${missing.join(', ')}\n`);

  // The components the kept operations reference, followed transitively, in the document's order.
  const wanted = new Set<string>();
  const queue = references(paths);
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [section, name] = next;
    const key = `${section}/${name}`;
    if (wanted.has(key)) continue;
    const definition = (components[section] as JsonObject | undefined)?.[name];
    if (definition === undefined) throw new Error(`${basename(path)}: #/components/${key} is referenced but not defined`);
    wanted.add(key);
    queue.push(...references(definition));
  }
  const keptComponents: JsonObject = {};
  for (const [section, entries] of Object.entries(components)) {
    if (!isObject(entries)) continue;
    const kept: JsonObject = {};
    for (const [name, definition] of Object.entries(entries)) {
      if (wanted.has(`${section}/${name}`)) kept[name] = stripDocumentation(definition);
    }
    if (Object.keys(kept).length > 0) keptComponents[section] = kept;
  }

  const fixture: JsonObject = {
    'x-fixture': {
      script: SCRIPT,
      source: { name: basename(path), version },
      kept: 'the operations this service serves: paths, methods, operation ids, tags, security, parameters, request bodies, response statuses and schemas, and the components they reference; documentation stripped',
    },
    openapi: document.openapi ?? null,
    paths,
    components: keptComponents,
  };
  return { fixture, version };
}

function nativeFixture(path: string, version: string): JsonObject {
  const schema = readJson(path);
  const objects = Array.isArray(schema.objects) ? schema.objects : [];
  const scopes = new Map<string, Json>();
  for (const object of objects) {
    if (isObject(object) && object.type === 'endpoint' && isObject(object.value) && typeof object.value.id === 'string') {
      scopes.set(object.value.id, object.value.scopes ?? []);
    }
  }
  const endpoints: JsonObject = {};
  for (const endpoint of coreEndpoints) {
    const found = scopes.get(endpoint.id);
    if (found !== undefined) endpoints[endpoint.id] = found;
  }
  return {
    'x-fixture': {
      script: SCRIPT,
      // The native schema carries no version of its own; it is published beside the OpenAPI document.
      source: { name: basename(path), version },
      kept: "the scopes of each endpoint this service serves that the native schema lists, by the endpoint's id",
    },
    endpoints,
  };
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string', default: 'test/fixtures' } } });
  const [openApiPath, nativePath, ...extra] = positionals;
  if (!openApiPath || extra.length > 0) {
    process.stderr.write('usage: node --import tsx scripts/make-reference-fixtures.ts <openapi.json> [<apia-schema.json>] [--out dir]\n');
    process.exit(2);
  }
  mkdirSync(values.out, { recursive: true });
  const write = (name: string, content: JsonObject) => {
    const file = join(values.out, name);
    writeFileSync(file, `${JSON.stringify(content, null, 1)}\n`);
    process.stdout.write(`wrote ${file}\n`);
  };
  const { fixture, version } = openApiFixture(openApiPath);
  write(OPENAPI_FIXTURE, fixture);
  if (nativePath) write(NATIVE_FIXTURE, nativeFixture(nativePath, version));
}

main();
