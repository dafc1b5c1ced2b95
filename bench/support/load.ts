/**
 * A typed wrapper around autocannon's programmatic API (the package ships no type declarations),
 * recording every 2xx latency at full precision besides autocannon's own histogram, which keeps
 * whole milliseconds only.
 */
import { createRequire } from 'node:module';

export interface LoadRequest {
  readonly method: 'GET' | 'PATCH' | 'POST';
  readonly path: string;
  readonly headers: Record<string, string>;
  /** A fixed body, or one built for every request (e.g. a different value each time). */
  readonly body?: string | ((sequence: number) => string);
}

export interface LoadOptions {
  readonly url: string;
  readonly request: LoadRequest;
  readonly connections: number;
  /** Seconds. */
  readonly duration: number;
  /** Requests per second across all connections (autocannon's `overallRate`); 0: as fast as possible. */
  readonly overallRate?: number;
}

export interface LoadResult {
  /** Completed requests per second over the measured window. */
  readonly rps: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Milliseconds, exact (from every 2xx response's own time). */
  readonly exact: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  /** Milliseconds, as autocannon reports them (whole ms; with its coordinated-omission correction when rate-limited). */
  readonly autocannon: { readonly p50: number; readonly p99: number };
  readonly statusCodes: Record<string, number>;
}

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}

interface AutocannonResult {
  requests: { total: number; average: number };
  latency: Record<string, number>;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}

interface AutocannonTracker extends PromiseLike<AutocannonResult> {
  on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void): void;
  catch(onRejected: (error: unknown) => void): Promise<unknown>;
  stop(): void;
}

type Autocannon = (options: Record<string, unknown>) => AutocannonTracker;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** Trackers still running, so that a failing or interrupted bench can stop them. */
const running = new Set<AutocannonTracker>();

export function stopAllLoad(): void {
  for (const tracker of running) tracker.stop();
  running.clear();
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { request } = options;
  let sequence = 0;
  const body = request.body;
  const autocannonRequest: AutocannonRequest = {
    method: request.method,
    path: request.path,
    headers: request.headers,
    ...(typeof body === 'string' ? { body } : {}),
    ...(typeof body === 'function' ? { setupRequest: (r: AutocannonRequest) => ({ ...r, body: body(sequence++) }) } : {}),
  };

  const latencies = new LatencyRecorder();
  const tracker = autocannon({
    url: options.url,
    connections: options.connections,
    pipelining: 1,
    duration: options.duration,
    requests: [autocannonRequest],
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    timeout: 10,
  });
  running.add(tracker);
  tracker.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.record(responseTime);
  });
  let result: AutocannonResult;
  try {
    result = await tracker;
  } finally {
    running.delete(tracker);
  }
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  return {
    rps: result.requests.total / result.duration,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    exact: {
      p50: latencies.percentile(50),
      p90: latencies.percentile(90),
      p99: latencies.percentile(99),
      max: latencies.percentile(100),
    },
    autocannon: { p50: result.latency.p50 ?? NaN, p99: result.latency.p99 ?? NaN },
    statusCodes,
  };
}

/** Every latency in a growing Float64Array; sorted once, when asked for a percentile. */
class LatencyRecorder {
  private values = new Float64Array(1 << 16);
  private count = 0;
  private sorted = false;

  record(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
    this.sorted = false;
  }

  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const values = this.values.subarray(0, this.count);
    if (!this.sorted) {
      values.sort();
      this.sorted = true;
    }
    const rank = Math.min(this.count - 1, Math.max(0, Math.ceil((p / 100) * this.count) - 1));
    return values[rank]!;
  }
}
