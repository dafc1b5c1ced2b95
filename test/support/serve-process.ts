/**
 * What the multi-process PostgreSQL tests share: a real `dbp serve` child process, HTTP calls to it with
 * a deadline (a call that gets no answer in time is observed as status 0, never a hang), free loopback
 * ports, and databases of their own on the server of TEST_DATABASE_URL (created and dropped with it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A correctness bound, not a benchmark: an answer slower than this is a hang. */
export const CALL_BOUND_MS = 8000;

export interface Observed {
  status: number; // 0: no answer within the bound, or the connection failed
  ms: number;
  text: string;
  body: any;
  headers?: Headers;
}

export interface ObservedCallOptions {
  token?: string;
  json?: unknown;
  /** The deadline of this call (CALL_BOUND_MS unless given). */
  timeoutMs?: number;
}

/** Calls `base`: `path` is below /core/v1/ unless it starts with a slash. */
export async function call(base: string, method: string, path: string, options: ObservedCallOptions = {}): Promise<Observed> {
  const url = `${base}${path.startsWith('/') ? path : `/core/v1/${path}`}`;
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method,
      headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
      signal: AbortSignal.timeout(options.timeoutMs ?? CALL_BOUND_MS),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, ms: Math.round(performance.now() - started), text, body, headers: response.headers };
  } catch (error) {
    return { status: 0, ms: Math.round(performance.now() - started), text: String(error), body: undefined };
  }
}

export interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `dbp serve <args…>` from the repository root, with no DATABASE_URL or DBP_* from this environment (only `extraEnv`). */
export function spawnServe(args: string[], extraEnv: Record<string, string> = {}): Child {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'DBP_DATA_DIR', 'DBP_HOST', 'DBP_PORT', 'DBP_ROLE', 'DBP_LOG_LEVEL', 'DBP_REPOSITORY', 'DBP_REPOSITORY_PASSWORD']) delete env[name];
  Object.assign(env, extraEnv);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    process: child,
    exited,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Resolves once `base`/healthz answers 200; throws if the child exits first or `timeoutMs` passes. */
export async function waitReady(base: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null) throw new Error(`dbp serve exited with ${child.process.exitCode}:\n${child.output()}`);
    const health = await call(base, 'GET', '/healthz');
    if (health.status === 200) return;
    await sleep(100);
  }
  throw new Error(`dbp serve was not ready within ${timeoutMs} ms:\n${child.output()}`);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** Runs one statement on its own connection; answers its rows. */
export async function queryDatabase<T = unknown>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Creates database `name` on the server of `adminUrl`; answers its URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  await queryDatabase(adminUrl, `create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await queryDatabase(adminUrl, `drop database if exists ${name} with (force)`);
}

/**
 * The after-hook of a test that starts `dbp serve` on a database of its own: `stop` what it started
 * (processes, proxies, browsers), then, whatever that threw, drop the database and remove the directory.
 */
export async function cleanUpServeTest(database: { adminUrl: string; name: string } | undefined, directory: string, stop: () => Promise<unknown>): Promise<void> {
  try {
    await stop();
  } finally {
    if (database) await dropDatabase(database.adminUrl, database.name);
    rmSync(directory, { recursive: true, force: true });
  }
}
