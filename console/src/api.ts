/**
 * Calls to the service's public API (/core/v1, /ext/v1) with the signed-in token. Every failure becomes
 * an ApiFailure with a sentence fit to show; nothing here throws anything else.
 */
import { storedToken } from './session';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail: Record<string, unknown> = {},
    /** Seconds until a retry may succeed (429's retry-after). */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }

  /** The API's validation sentences (422 validation_error). */
  get validationErrors(): string[] {
    const errors = this.detail.errors;
    return Array.isArray(errors) ? errors.map(String) : [];
  }
}

export interface Pagination {
  current_page: number;
  total_pages: number | null;
  total: number | null;
  per_page: number;
  large_set: boolean;
}

type Query = Record<string, string | number | undefined>;

function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** `path` starts with /core/v1/ or /ext/v1/. */
export async function api<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = storedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiFailure(0, 'unreachable', 'The service could not be reached. Check that it is running, then try again.');
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (response.ok && body !== null) return body as T;
  throw failureOf(response, body);
}

function failureOf(response: Response, body: any): ApiFailure {
  const error = body?.error;
  const code: string = typeof error?.code === 'string' ? error.code : 'unexpected_answer';
  const detail: Record<string, unknown> = error?.detail && typeof error.detail === 'object' ? error.detail : {};
  const described: string = typeof error?.description === 'string' ? error.description : `The service answered ${response.status} ${response.statusText}`;
  switch (response.status) {
    case 429: {
      const seconds = Number(response.headers.get('retry-after'));
      const retryAfter = Number.isFinite(seconds) && seconds > 0 ? seconds : null;
      const permitted = typeof detail.total_permitted === 'number' ? ` (${detail.total_permitted} requests a minute)` : '';
      const when = retryAfter === null ? 'in a minute' : `in ${retryAfter} s`;
      return new ApiFailure(429, code, `Too many requests: this token's rate limit${permitted} is reached. Try again ${when}.`, detail, retryAfter);
    }
    case 503:
      return new ApiFailure(503, code, 'The service is unavailable for now: its database may be away. Try again shortly.', detail);
    case 422: {
      const errors = Array.isArray(detail.errors) ? detail.errors.map(String) : [];
      return new ApiFailure(422, code, errors.length ? `${described}: ${errors.join('; ')}` : described, detail);
    }
    default: {
      const extra = typeof detail.details === 'string' ? ` ${detail.details}` : '';
      return new ApiFailure(response.status, code, `${described}${extra}`, detail);
    }
  }
}

/** Every page of a list, 200 at a time (the API's largest page). */
export async function allPages<T>(path: string, key: string): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; ; page++) {
    const answer = await api<Record<string, unknown> & { pagination: Pagination }>('GET', path, { query: { page, per_page: 200 } });
    const rows = answer[key] as T[];
    items.push(...rows);
    const { total_pages } = answer.pagination;
    if (rows.length < 200 || (total_pages !== null && page >= total_pages)) return items;
  }
}
