/**
 * The request pipeline every endpoint goes through, in the Core API's order:
 * token → rate limit → scope → arguments → lookups (404 / 403 / 406) → action → field-spec serialization.
 * Errors are thrown as typed values anywhere below and rendered in one place (app.ts).
 */
import type { FastifyRequest } from 'fastify';
import { PendingLookup, parseArguments } from '../api/framework/arguments.js';
import type { CompiledEndpoint, Identity } from '../api/framework/endpoint.js';
import { ApiError } from '../api/framework/errors.js';
import { ScopeNotGranted } from '../api/framework/framework-errors.js';
import type { LookupContext } from '../api/framework/types.js';
import type { Services } from '../services/index.js';
import { authenticate } from './authentication.js';
import type { RateLimiter, RateLimitResult } from './rate-limit.js';
import { mergeArguments, type RawBody } from './request-arguments.js';

export interface PipelineDependencies {
  readonly services: Services;
  readonly rateLimiter: RateLimiter;
}

export interface EndpointResponse {
  readonly body: string;
  readonly rateLimit: RateLimitResult;
}

export async function runEndpoint(
  endpoint: CompiledEndpoint,
  request: FastifyRequest,
  dependencies: PipelineDependencies,
  onAuthenticated: (rateLimit: RateLimitResult) => void,
): Promise<string> {
  const { identity, rateLimit } = await authenticate(request, dependencies.services, dependencies.rateLimiter);
  onAuthenticated(rateLimit);

  if (endpoint.scopes.length > 0 && !endpoint.scopes.some((scope) => identity.scopes.has(scope))) {
    throw new ApiError(ScopeNotGranted, { scopes: [...endpoint.scopes] });
  }

  const raw = mergeArguments(request.query as Record<string, unknown>, request.body as RawBody);
  const parsed = parseArguments(
    { id: `${endpoint.id}/BaseArgumentSet`, arguments: endpoint.arguments },
    raw,
    request.params as Record<string, string>,
  );
  const args = await resolveLookups(parsed, { services: dependencies.services, identity });
  const result = await endpoint.action({ args: args as never, identity, services: dependencies.services });
  return endpoint.writeBody(result);
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

export type { Identity };
