/**
 * Who is calling: `Authorization: Bearer <secret>` → an API token of one organization, with scopes,
 * used from a network it allows. Then the per-token rate limit. The checks run in the order the Core
 * API runs them. The client's address is `request.ip`: the socket's, or — only for a request that
 * came through a trusted proxy (`--trusted-proxy`) — the right-most untrusted X-Forwarded-For entry.
 */
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../api/framework/errors.js';
import type { Identity } from '../api/framework/endpoint.js';
import {
  InvalidApiToken,
  MissingApiToken,
  OrganizationSuspended,
  RateLimitReached,
  UnauthorizedNetworkForApiToken,
} from '../api/core/v1/errors.js';
import type { Services } from '../services/index.js';
import type { Authentication } from '../services/tokens.js';
import { rateLimitWindow, type RateLimiter, type RateLimitResult } from './rate-limit.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export interface Authenticated {
  readonly identity: Identity;
  readonly rateLimit: RateLimitResult;
  /** Moves whenever the organization's answers may have changed (see response-cache.ts). */
  readonly answersVersion: number;
}

/**
 * Answered at once (no promise) when nothing needs waiting for: on SQLite, a token seen before
 * while unchanged and the in-memory rate limiter. On PostgreSQL one statement reads the token and
 * counts the request in its shared rate-limit window (see TokenService.authenticate).
 */
export function authenticate(
  request: FastifyRequest,
  services: Services,
  rateLimiter: RateLimiter,
): Authenticated | Promise<Authenticated> {
  const header = request.headers.authorization;
  const secret = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
  if (!secret) throw new ApiError(MissingApiToken);

  const clientAddress = unmappedAddress(request.ip);
  const now = services.clock.now();
  const window = rateLimiter.countsWithToken ? rateLimitWindow(now) : undefined;
  const result = services.tokens.authenticate(secret, clientAddress, window);
  return result instanceof Promise
    ? result.then((found) => admit(found, clientAddress, rateLimiter, now))
    : admit(result, clientAddress, rateLimiter, now);
}

/** The token's checks in the Core API's order, then the rate limit. */
function admit(result: Authentication, clientAddress: string, rateLimiter: RateLimiter, now: number): Authenticated | Promise<Authenticated> {
  if (!result.ok) {
    if (result.reason === 'unauthorized_network') throw new ApiError(UnauthorizedNetworkForApiToken, { ip_address: clientAddress });
    throw new ApiError(InvalidApiToken, { details: result.reason === 'expired' ? 'The API token has expired' : null });
  }
  const { token } = result;
  if (result.organizationSuspended) throw new ApiError(OrganizationSuspended);

  const rateLimit =
    result.windowUsed !== undefined
      ? rateLimiter.counted(result.windowUsed, token.rate_limit, now)
      : rateLimiter.consume(token.id, token.rate_limit, now);
  return rateLimit instanceof Promise ? rateLimit.then((counted) => admitted(result, counted, now)) : admitted(result, rateLimit, now);
}

function admitted(result: Authentication & { ok: true }, rateLimit: RateLimitResult, now: number): Authenticated {
  if (!rateLimit.allowed) {
    // Windows are whole minutes: the next one starts at the next minute.
    const retryAfter = String(60 - (now % 60));
    throw new ApiError(RateLimitReached, { total_permitted: rateLimit.permitted }).withHeaders({ ...rateLimitHeaders(rateLimit), 'retry-after': retryAfter });
  }
  const { token } = result;
  return {
    identity: { tokenId: token.id, organizationId: token.organization_id, scopes: token.scopes, rateLimit: token.rate_limit },
    rateLimit,
    answersVersion: result.answersVersion,
  };
}

export function rateLimitHeaders(rateLimit: RateLimitResult): Record<string, string> {
  return {
    'x-ratelimit-permitted': String(rateLimit.permitted),
    'x-ratelimit-remaining': String(rateLimit.remaining),
  };
}

/** `::ffff:192.0.2.1` (an IPv4 client on an IPv6 socket) is written as the IPv4 address it is. */
function unmappedAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}
