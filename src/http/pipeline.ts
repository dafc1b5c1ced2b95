/**
 * The request pipeline every endpoint goes through, in the Core API's order:
 * token → rate limit → scope → arguments → lookups (404 / 403 / 406) → action → field-spec serialization.
 * Errors are thrown as typed values anywhere below and rendered in one place (app.ts).
 */
import type { FastifyRequest } from 'fastify';
import { PendingLookup, parseArguments } from '../api/framework/arguments.js';
import type { CompiledEndpoint } from '../api/framework/endpoint.js';
import { ApiError } from '../api/framework/errors.js';
import { ScopeNotGranted } from '../api/framework/framework-errors.js';
import type { LookupContext } from '../api/framework/types.js';
import type { BackupOperations } from '../services/backups.js';
import type { Services } from '../services/index.js';
import { authenticate } from './authentication.js';
import type { RateLimiter, RateLimitResult } from './rate-limit.js';
import { mergeArguments, parseQueryString, readBodyOfGet, type RawBody } from './request-arguments.js';
import { jsonBody, ResponseCache, type JsonBody } from './response-cache.js';

export interface PipelineDependencies {
  readonly services: Services;
  readonly backups?: BackupOperations | undefined;
  readonly rateLimiter: RateLimiter;
  readonly responseCache: ResponseCache;
}

export async function runEndpoint(
  endpoint: CompiledEndpoint,
  request: FastifyRequest,
  dependencies: PipelineDependencies,
  onAuthenticated: (rateLimit: RateLimitResult) => void,
): Promise<{ httpStatus: number; body: JsonBody }> {
  const authenticated = authenticate(request, dependencies.services, dependencies.rateLimiter);
  const { identity, rateLimit, answersVersion } = authenticated instanceof Promise ? await authenticated : authenticated;
  onAuthenticated(rateLimit);

  if (endpoint.scopes.length > 0 && !endpoint.scopes.some((scope) => identity.scopes.has(scope))) {
    throw new ApiError(ScopeNotGranted, { scopes: [...endpoint.scopes] });
  }

  // A bodiless read's answer depends only on its URL and the organization's data, so it may be
  // served from the cache while the organization is unchanged.
  const requestBody = endpoint.method === 'GET' ? await readBodyOfGet(request) : (request.body as RawBody);
  const cacheKey =
    endpoint.method === 'GET' && requestBody === undefined && endpoint.cacheable !== false
      ? ResponseCache.key(identity.organizationId, answersVersion, endpoint.method, request.url)
      : undefined;
  const cached = cacheKey === undefined ? undefined : dependencies.responseCache.get(cacheKey);
  if (cached !== undefined) return { httpStatus: endpoint.httpStatus ?? 200, body: cached };

  const queryStart = request.url.indexOf('?');
  const query = queryStart < 0 ? {} : parseQueryString(request.url.slice(queryStart + 1));
  const raw = mergeArguments(query, requestBody);
  const parsed = parseArguments(
    { id: `${endpoint.id}/BaseArgumentSet`, arguments: endpoint.arguments },
    raw,
    request.params as Record<string, string>,
  );
  const args = await resolveLookups(parsed, { services: dependencies.services, identity });
  const result = await endpoint.action({ args: args as never, identity, services: dependencies.services, backups: dependencies.backups });
  const response = endpoint.writeResponse(result);
  const body = jsonBody(response.body);
  if (cacheKey !== undefined && response.httpStatus === (endpoint.httpStatus ?? 200)) dependencies.responseCache.set(cacheKey, body);
  return { httpStatus: response.httpStatus, body };
}

/** Replaces each pending lookup (at any depth) by the object it names, in argument order. */
async function resolveLookups(value: unknown, context: LookupContext): Promise<unknown> {
  if (value instanceof PendingLookup) return value.lookup.resolve(value.values, context);
  if (Array.isArray(value)) {
    const resolved: unknown[] = [];
    for (const item of value) resolved.push(await resolveLookups(item, context));
    return resolved;
  }
  if (typeof value === 'object' && value !== null) {
    const resolved: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) resolved[key] = await resolveLookups(item, context);
    return resolved;
  }
  return value;
}

