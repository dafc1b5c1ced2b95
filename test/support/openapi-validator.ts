/**
 * Validates response bodies against the official Katapult Core API OpenAPI document (2.68.0), as kept
 * in the committed fixture test/fixtures/official-openapi-interface.json (the interface facts of the
 * operations this service serves; made by scripts/make-reference-fixtures.ts, which says how to
 * regenerate it).
 *
 *   validateAgainstOfficial('GET', '/disks/disk/disk_backup_policies', 200, body) // → [] when valid
 *
 * `path` is the document's path (`/disks/disk/disk_backup_policies`); a leading `/core/v1` is ignored.
 * For an error status the document describes the inner error object, so pass `body.error`.
 *
 * The document is OpenAPI 3.0: `nullable: true` becomes a type union (or an `anyOf` with null), and
 * `#/components/…` references are resolved against the whole document's components.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule.default;

/** The official document's interface, as the fixture keeps it. */
export const OFFICIAL_INTERFACE_URL = new URL('../fixtures/official-openapi-interface.json', import.meta.url);
const DOCUMENT_ID = 'katapult-core-openapi';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

let cached: { document: JsonObject; ajv: Ajv; validators: Map<string, ValidateFunction | string> } | null = null;

function load() {
  if (cached) return cached;
  const document = JSON.parse(readFileSync(OFFICIAL_INTERFACE_URL, 'utf8')) as JsonObject;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ components: toJsonSchema(document.components as JsonObject) } as object, DOCUMENT_ID);
  cached = { document, ajv, validators: new Map() };
  return cached;
}

/** OpenAPI 3.0 schema → JSON Schema (draft 7) as ajv reads it. */
function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) out[key] = `${DOCUMENT_ID}${value}`;
    else if (key !== 'nullable') out[key] = toJsonSchema(value);
  }
  if (node.nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    return out;
  }
  return { anyOf: [out, { type: 'null' }] };
}

/** Follows a `#/components/…` reference inside the raw document. */
function resolveRef(document: JsonObject, node: Json): Json {
  let current = node;
  for (let hops = 0; current && typeof current === 'object' && !Array.isArray(current) && typeof current.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error('reference loop');
    current = current.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<Json>((at, part) => (at && typeof at === 'object' && !Array.isArray(at) ? at[part] ?? null : null), document);
  }
  return current;
}

/** The JSON schema of one documented response, or a sentence saying why there is none. */
function responseSchema(document: JsonObject, method: string, path: string, status: number): Json | string {
  const docPath = path.replace(/^\/core\/v1(?=\/)/, '');
  const pathItem = (document.paths as JsonObject)[docPath] as JsonObject | undefined;
  if (!pathItem) return `the official document (as the fixture keeps it) has no path ${docPath}`;
  const operation = pathItem[method.toLowerCase()] as JsonObject | undefined;
  if (!operation) return `the official document has no ${method.toUpperCase()} ${docPath}`;
  const response = resolveRef(document, ((operation.responses as JsonObject) ?? {})[String(status)] ?? null) as JsonObject | null;
  if (!response) return `the official document has no ${status} response for ${method.toUpperCase()} ${docPath}`;
  const schema = (((response.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema ?? null) as Json;
  if (schema === null) return `the ${status} response of ${method.toUpperCase()} ${docPath} has no JSON schema`;
  return schema;
}

function validatorFor(method: string, path: string, status: number): ValidateFunction | string {
  const { document, ajv, validators } = load();
  const key = `${method.toUpperCase()} ${path} ${status}`;
  let validator = validators.get(key);
  if (validator === undefined) {
    const schema = responseSchema(document, method, path, status);
    validator = typeof schema === 'string' ? schema : ajv.compile(toJsonSchema(schema) as object);
    validators.set(key, validator);
  }
  return validator;
}

/** The errors of `body` against the official schema of that response (empty when it is valid). */
export function validateAgainstOfficial(method: string, path: string, status: number, body: unknown): string[] {
  const validator = validatorFor(method, path, status);
  if (typeof validator === 'string') return [validator];
  if (validator(body)) return [];
  return (validator.errors ?? []).map((error) => `${error.instancePath || '(body)'} ${error.message ?? 'is invalid'} (${error.schemaPath})`);
}

/**
 * The error codes the official document lists for one response status of an operation (the enums of
 * its `code` properties, through `oneOf`s and references). Empty when the status is not documented.
 */
export function officialErrorCodes(method: string, path: string, status: number): string[] {
  const { document } = load();
  const schema = responseSchema(document, method, path, status);
  if (typeof schema === 'string') return [];
  const codes = new Set<string>();
  const seen = new Set<Json>();
  const walk = (raw: Json): void => {
    const node = resolveRef(document, raw);
    if (node === null || typeof node !== 'object' || seen.has(node)) return;
    seen.add(node);
    if (Array.isArray(node)) return node.forEach(walk);
    const code = resolveRef(document, ((node.properties as JsonObject | undefined)?.code ?? null) as Json);
    if (code && typeof code === 'object' && !Array.isArray(code) && Array.isArray(code.enum)) {
      for (const value of code.enum) if (typeof value === 'string') codes.add(value);
    }
    for (const keyword of ['oneOf', 'anyOf', 'allOf'] as const) if (Array.isArray(node[keyword])) (node[keyword] as Json[]).forEach(walk);
  };
  walk(schema);
  return [...codes].sort();
}
