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
  return qs.parse(text, QS_OPTIONS) as Params;
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
