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
  return runLoads([options]);
}

/**
 * Several autocannon instances at once (e.g. one per server process, each with its share of the
 * connections), as one result: requests, errors and req/s summed, exact percentiles over every
 * request of every instance. autocannon keeps only percentiles, not its histogram, so its own
 * figures cannot be merged: the result carries the highest p50 and p99 of the instances.
 */
export async function runLoads(options: readonly LoadOptions[]): Promise<LoadResult> {
  if (options.length === 0) throw new Error('runLoads: nothing to run');
  const latencies = new LatencyRecorder();
  const results = await Promise.all(options.map((o) => startLoad(o, latencies)));
  const statusCodes: Record<string, number> = {};
  for (const result of results) {
    for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = (statusCodes[code] ?? 0) + count;
  }
  const sum = (pick: (r: AutocannonResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  const highest = (pick: (r: AutocannonResult) => number | undefined) => Math.max(...results.map((r) => pick(r) ?? NaN));
  return {
    rps: sum((r) => r.requests.total / r.duration),
    requests: sum((r) => r.requests.total),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    exact: {
      p50: latencies.percentile(50),
      p90: latencies.percentile(90),
      p99: latencies.percentile(99),
      max: latencies.percentile(100),
    },
    autocannon: { p50: highest((r) => r.latency.p50), p99: highest((r) => r.latency.p99) },
    statusCodes,
  };
}

async function startLoad(options: LoadOptions, latencies: LatencyRecorder): Promise<AutocannonResult> {
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
  try {
    return await tracker;
  } finally {
    running.delete(tracker);
  }
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
