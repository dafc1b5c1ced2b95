/**
 * Where a request's arguments come from, merged as the Core API merges them: the query string
 * (Rack-style nested keys: `disk[id]=…`, `a[]=1&a[]=2`) and form fields, then a JSON body — the body
 * of an `application/json` request, else a `_arguments` field holding JSON — which wins on a clash.
 * A JSON body that is not an object counts as no arguments.
 */
import type { FastifyRequest } from 'fastify';
import qs from 'qs';
import { ApiError } from '../api/framework/errors.js';
import { InvalidJsonBody, RequestTooLarge } from '../api/framework/framework-errors.js';

/** The largest request body accepted, on any method. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The raw body as the content-type parsers left it. */
export type RawBody = { kind: 'json'; text: string } | { kind: 'form'; text: string } | undefined;

type Params = Record<string, unknown>;

// As Rack: a repeated plain key keeps its last value; only `key[]` makes an array.
const QS_OPTIONS = { depth: 10, arrayLimit: 1000, parameterLimit: 2000, allowPrototypes: false, duplicates: 'last' } as const;

export function parseQueryString(text: string): Params {
  return qs.parse(pairParallelArrays(text), QS_OPTIONS) as Params;
}

/** `name[][member]` (decoded); the name and member hold no brackets. */
const PARALLEL_ARRAY_KEY = /^([^[\]]+)\[\]\[([^[\]]+)\]$/;

/**
 * An array of argument sets in a query string, as OpenAPI clients send it: one array parameter per
 * member, `annotations[][key]=a&annotations[][key]=b&annotations[][value]=x&annotations[][value]=y`
 * (go-katapult's generated client repeats each parameter and sorts the keys), the n-th values of the
 * members making the n-th set. Each occurrence is numbered (`annotations[0][key]`, …) so that qs builds
 * [{key: a, value: x}, {key: b, value: y}]; other keys pass unchanged.
 */
function pairParallelArrays(text: string): string {
  if (!text.includes('[]') && !/%5B%5D/i.test(text)) return text;
  const counts = new Map<string, number>();
  return text
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const rawKey = equals < 0 ? pair : pair.slice(0, equals);
      let key: string;
      try {
        key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      } catch {
        return pair;
      }
      const match = PARALLEL_ARRAY_KEY.exec(key);
      if (!match) return pair;
      const [, name, member] = match;
      const counter = `${name}\u0000${member}`;
      const index = counts.get(counter) ?? 0;
      counts.set(counter, index + 1);
      return `${encodeURIComponent(`${name}[${index}][${member}]`)}${equals < 0 ? '' : pair.slice(equals)}`;
    })
    .join('&');
}

export function mergeArguments(query: Params, body: RawBody): Params {
  const params = body?.kind === 'form' ? deepMerge(query, parseQueryString(body.text)) : query;
  const json = body?.kind === 'json' ? parseJsonObject(body.text) : jsonFromArgumentsField(params);
  return json ? deepMerge(params, json) : params;
}

/**
 * Fastify reads no body on a GET, but the Core API takes arguments from the body of any request;
 * so a GET's body is read here, under the same limit and the same content types.
 */
export async function readBodyOfGet(request: FastifyRequest): Promise<RawBody> {
  const { headers } = request;
  const declaresBody =
    headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
  if (!declaresBody) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(RequestTooLarge, {}, `The request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = headers['content-type'] ?? '';
  if (/^application\/json/i.test(type)) return { kind: 'json', text };
  if (/^application\/x-www-form-urlencoded/i.test(type)) return { kind: 'form', text };
  return undefined;
}

function jsonFromArgumentsField(params: Params): Params | null {
  const field = params._arguments;
  return typeof field === 'string' ? parseJsonObject(field) : null;
}

function parseJsonObject(text: string): Params {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError(InvalidJsonBody, { details: (error as Error).message });
  }
  return isObject(value) ? value : {};
}

function deepMerge(base: Params, override: Params): Params {
  const merged: Params = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const existing = merged[key];
    merged[key] = isObject(existing) && isObject(value) ? deepMerge(existing, value) : value;
  }
  return merged;
}

function isObject(value: unknown): value is Params {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
