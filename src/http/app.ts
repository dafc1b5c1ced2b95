/**
 * The Fastify application: one route per endpoint definition, the Core API's headers on every
 * response, and every error — typed, from Fastify, or unexpected — rendered in the one envelope
 * `{"error":{code,description,detail}}` with `x-api-schema: json-error`.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { compileEndpoint, type EndpointDefinition } from '../api/framework/endpoint.js';
import { ApiError, defineError } from '../api/framework/errors.js';
import {
  BadRequest,
  RequestTooLarge,
  RouteNotFound,
  ServiceUnavailable,
  UnhandledException,
} from '../api/framework/framework-errors.js';
import { buildOpenApiDocument } from '../api/framework/openapi.js';
import { API_TOKEN_SOURCE } from '../api/core/v1/api-tokens/shared.js';
import { AUTHENTICATION_ERRORS } from '../api/core/v1/errors.js';
import { translateServiceError } from '../api/core/v1/service-errors.js';
import { rateLimitHeaders } from './authentication.js';
import { DEFAULT_CONNECTION_LIMITS, limitConnectionsPerAddress, timeoutServerOptions, type ConnectionLimits } from './connection-limits.js';
import { serveConsole } from './console.js';
import type { Health } from './health.js';
import { runEndpoint, type PipelineDependencies } from './pipeline.js';
import type { RateLimitResult } from './rate-limit.js';
import { jsonBody, type JsonBody } from './response-cache.js';
import { MAX_BODY_BYTES } from './request-arguments.js';

export const API_PREFIX = '/core/v1/';
export const EXTENSION_PREFIX = '/ext/v1/';

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type',
};

/** A set of endpoints served under one prefix, with its own OpenAPI document at `<prefix>openapi.json`. */
export interface ApiNamespace {
  /** e.g. `/core/v1/` */
  readonly prefix: string;
  readonly title: string;
  readonly endpoints: readonly EndpointDefinition[];
}

export interface AppOptions extends PipelineDependencies {
  readonly apis: readonly ApiNamespace[];
  readonly logger: Logger | false;
  readonly version: string;
  /** The answer to /healthz (see health.ts). */
  readonly health: () => Promise<Health>;
  /** Serves /metrics and counts every request (no route and no counting when absent). */
  readonly metrics?: AppMetrics;
  /**
   * Addresses and CIDR ranges of proxies whose X-Forwarded-For is believed (validated by the caller);
   * `request.ip` is then the right-most address not in this list. Empty: the socket's address.
   */
  readonly trustedProxies?: readonly string[];
  /** Time bounds of requests and connections per client address (DEFAULT_CONNECTION_LIMITS when absent). */
  readonly connectionLimits?: ConnectionLimits;
  /** A built web console (console.ts) to serve at `/`; none when absent or not built. */
  readonly consoleDir?: string;
}

/** What the app needs of the process's metrics (src/metrics/process-metrics.ts). */
export interface AppMetrics {
  readonly contentType: string;
  render(): Promise<string>;
  observeRequest(route: string, method: string, statusCode: number, seconds: number): void;
}

/** The route label of a request no route matched (its raw path would make a series per path). */
export const UNMATCHED_ROUTE = 'unmatched';

declare module 'fastify' {
  interface FastifyRequest {
    rateLimit?: RateLimitResult;
  }
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const limits = options.connectionLimits ?? DEFAULT_CONNECTION_LIMITS;
  const app = Fastify({
    ...timeoutServerOptions(limits),
    loggerInstance: (options.logger || undefined) as FastifyBaseLogger | undefined,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: options.trustedProxies?.length ? [...options.trustedProxies] : false,
    bodyLimit: MAX_BODY_BYTES,
    // The query string is parsed by the pipeline, and only when an answer is not already cached.
    routerOptions: {
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      querystringParser: () => ({}),
      // A long placeholder is looked up (and not found) like any other, rather than refused.
      maxParamLength: 2048,
    },
    // Errors Node's HTTP parser meets (a request head over 16 KiB, say) are answered in the envelope too.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(rawErrorResponse(error));
      socket.destroy(error);
    },
    // Errors Fastify meets before routing (a path that is not valid percent-encoding) get our envelope too.
    frameworkErrors: (error, request, reply) => {
      setCommonHeaders(request, reply);
      sendError(reply, new ApiError(BadRequest, { details: error.message }));
    },
  });

  limitConnectionsPerAddress(app.server, limits.maxConnectionsPerAddress, options.trustedProxies);

  // Bodies are kept as text; they are parsed (or rejected as invalid JSON) in the argument step,
  // after authentication, as the real API does.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) =>
    done(null, { kind: 'json', text }),
  );
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, text, done) =>
    done(null, { kind: 'form', text }),
  );
  // Other bodies carry no arguments; they are read (within the body limit) and ignored.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, undefined));

  app.addHook('onRequest', (request, reply, done) => {
    setCommonHeaders(request, reply);
    done();
  });

  const metrics = options.metrics;
  if (metrics) {
    // By the route's template (`/core/v1/disks/:disk`), never the raw URL: the series stay bounded.
    app.addHook('onResponse', (request, reply, done) => {
      metrics.observeRequest(request.routeOptions.url ?? UNMATCHED_ROUTE, request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }

  for (const api of options.apis) {
    for (const definition of api.endpoints) {
      const endpoint = compileEndpoint(definition);
      app.route({
        method: endpoint.method,
        url: api.prefix + endpoint.route,
        handler: async (request, reply) => {
          const { httpStatus, body } = await runEndpoint(endpoint, request, options, (rateLimit) => {
            request.rateLimit = rateLimit;
            reply.headers(rateLimitHeaders(rateLimit));
          });
          sendJson(reply, httpStatus, body);
        },
      });
    }
    const openApi = jsonBody(JSON.stringify(
      buildOpenApiDocument(api.endpoints, {
        title: api.title,
        version: options.version,
        serverUrl: api.prefix.replace(/\/$/, ''),
        authErrors: AUTHENTICATION_ERRORS,
        tokenSource: API_TOKEN_SOURCE,
      }),
    ));
    app.get(`${api.prefix}openapi.json`, async (_request, reply) => sendJson(reply, 200, openApi));
  }

  app.get('/healthz', async (_request, reply) => {
    const { httpStatus, body } = await options.health();
    // A Buffer, as in sendJson, so that no charset is appended to the content type.
    reply.code(httpStatus).type('application/json').send(Buffer.from(JSON.stringify(body)));
  });

  if (metrics) {
    app.get('/metrics', async (_request, reply) => {
      reply.header('content-type', metrics.contentType).send(await metrics.render());
    });
  }

  app.options('*', async (_request, reply) => {
    reply.code(200).header('content-type', 'text/plain').send('');
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0]!;
    const prefix = options.apis.find((api) => path.startsWith(api.prefix))?.prefix;
    const apiPath = prefix ? path.slice(prefix.length) : path;
    sendError(reply, new ApiError(RouteNotFound, {}, `No route matches '${apiPath}' for ${request.method}`));
  });

  app.setErrorHandler(async (error, request, reply) => {
    sendError(reply, toApiError(error, request));
  });

  // Last: registering a plugin loads what is queued, so the handlers above must be set by then.
  if (options.consoleDir !== undefined) await serveConsole(app, options.consoleDir);

  return app;
}

function toApiError(error: unknown, request: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  const translated = translateServiceError(error);
  if (translated) return translated;
  const fastifyError = error as FastifyError;
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError(RequestTooLarge, {}, `The request body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new ApiError(BadRequest, { details: fastifyError.message });
  }
  if (isDatabaseUnavailable(error)) {
    request.log.warn({ err: error }, 'database unavailable');
    return new ApiError(ServiceUnavailable);
  }
  request.log.error({ err: error }, 'unhandled exception');
  return new ApiError(UnhandledException, {}, 'This is an exception that has occurred and not been handled.');
}

function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    code === 'SQLITE_BUSY' ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === '57P01' || // PostgreSQL: admin shutdown
    code === '57P02' || // PostgreSQL: crash shutdown
    code === '57P03' || // PostgreSQL: cannot connect now
    code === '57014' || // PostgreSQL: query canceled (statement_timeout)
    code === '53300' || // PostgreSQL: too many connections
    (typeof code === 'string' && code.startsWith('08')) || // PostgreSQL: connection exception
    /timeout exceeded when trying to connect|Connection terminated|Query read timeout|not queryable/i.test(String((error as Error)?.message))
  );
}

/** A whole HTTP response for a request that never reached Fastify, in the usual envelope. */
function rawErrorResponse(error: NodeJS.ErrnoException): string {
  const apiError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new ApiError(RequestTooLarge, {}, 'The request head is larger than this service accepts (16 KiB)')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ApiError(RequestTimeout)
        : new ApiError(BadRequest, { details: error.message });
  const body = errorBody(apiError);
  const headers = {
    ...CORS_HEADERS,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-cache',
    'x-api-schema': 'json-error',
    'x-request-id': randomUUID(),
    connection: 'close',
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${apiError.httpStatus} ${STATUS_CODES[apiError.httpStatus]}\r\n${head.join('\r\n')}\r\n\r\n${body}`;
}

/** The request (head, or head and body) did not arrive within the server's bound (connection-limits.ts). */
const RequestTimeout = defineError({
  id: 'DBP/Errors/RequestTimeout',
  code: 'request_timeout',
  httpStatus: 408,
  description: 'The request did not arrive in time; the connection is closed',
});

function errorBody(error: ApiError): string {
  return JSON.stringify({ error: { code: error.definition.code, description: error.description, detail: error.detail } });
}

function setCommonHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  reply.headers(CORS_HEADERS);
}

function sendJson(reply: FastifyReply, status: number, body: JsonBody): void {
  reply
    .code(status)
    .header('content-type', 'application/json')
    .header('cache-control', 'max-age=0, private, must-revalidate')
    .header('etag', body.etag)
    .send(body.bytes); // bytes, so that no charset is appended to the content type
}

function sendError(reply: FastifyReply, error: ApiError): void {
  const body = errorBody(error);
  reply
    .code(error.httpStatus)
    .headers(error.headers)
    .header('content-type', 'application/json')
    .header('cache-control', 'no-cache')
    .header('x-api-schema', 'json-error')
    .send(Buffer.from(body));
}
