/**
 * Where a request's arguments come from, merged as the Core API merges them: the query string
 * (Rack-style nested keys: `disk[id]=…`, `a[]=1&a[]=2`) and form fields, then a JSON body — the body
 * of an `application/json` request, else a `_arguments` field holding JSON — which wins on a clash.
 * A JSON body that is not an object counts as no arguments.
 */
import qs from 'qs';
import { ApiError } from '../api/framework/errors.js';
import { InvalidJsonBody } from '../api/framework/framework-errors.js';

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
