/**
 * The bench's server processes: each child is forked with an IPC channel, announces itself with a
 * `ready` message, and stops (cleaning up after itself) on a `stop` message or when the channel
 * closes because the parent went away. The parent tracks every child so that any exit path can
 * stop them, and kills (by pid, its own children only) whatever does not stop in time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ChildHandle<Ready> {
  readonly name: string;
  readonly process: ChildProcess;
  readonly ready: Ready;
  /** The child's CPU time so far (process.cpuUsage(), microseconds). */
  cpuUsage(): Promise<NodeJS.CpuUsage>;
  /** Asks the child to stop and waits for it to exit (then kills it, after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

const children = new Set<ChildProcess>();

/** Kills every child still running, synchronously (for `process.on('exit')`). */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

export async function startChild<Ready>(
  name: string,
  script: URL,
  config: unknown,
  options: { execArgv?: readonly string[]; readyTimeoutMs?: number } = {},
): Promise<ChildHandle<Ready>> {
  const child = fork(fileURLToPath(script), [JSON.stringify(config)], {
    execArgv: [...process.execArgv, ...(options.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      children.delete(child);
      resolve();
    });
  });

  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name}: not ready within ${options.readyTimeoutMs ?? 60_000} ms`)), options.readyTimeoutMs ?? 60_000);
    const onMessage = (message: { type?: string; error?: string }) => {
      if (message?.type === 'ready') done(() => resolve(message as Ready));
      else if (message?.type === 'failed') fail(new Error(`${name}: ${message.error}`));
    };
    const onExit = (code: number | null, signal: string | null) => fail(new Error(`${name}: exited (${signal ?? code}) before it was ready`));
    const done = (then: () => void) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      then();
    };
    const fail = (error: Error) => done(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      reject(error);
    });
    child.on('message', onMessage);
    child.once('exit', onExit);
  });

  return {
    name,
    process: child,
    ready,
    cpuUsage: () =>
      new Promise<NodeJS.CpuUsage>((resolve, reject) => {
        const onMessage = (message: { type?: string; usage?: NodeJS.CpuUsage }) => {
          if (message?.type !== 'cpu' || !message.usage) return;
          child.off('message', onMessage);
          resolve(message.usage);
        };
        child.on('message', onMessage);
        child.send({ type: 'cpu' }, (error) => {
          if (error) {
            child.off('message', onMessage);
            reject(error);
          }
        });
      }),
    async stop(timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * For the child side: runs `start`, reports `ready` (or `failed`) to the parent, and runs `stop`
 * once — on a `stop` message, on the parent going away, or on SIGINT/SIGTERM — then exits.
 */
export function serveChild<Ready extends object>(start: () => Promise<{ ready: Ready; stop: () => Promise<void> }>): void {
  const started = start();
  let stopping: Promise<void> | undefined;
  const shutdown = (code: number) => {
    stopping ??= (async () => {
      try {
        const { stop } = await started;
        await stop();
      } catch (error) {
        if (code === 0) console.error(error);
        code = code || 1;
      }
      process.exit(code);
    })();
  };
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'stop') shutdown(0);
    else if (message?.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
  });
  process.on('disconnect', () => shutdown(0));
  process.on('SIGINT', () => shutdown(130));
  process.on('SIGTERM', () => shutdown(143));

  started.then(
    ({ ready }) => {
      if (!stopping) process.send?.({ type: 'ready', ...ready });
    },
    (error: unknown) => {
      process.send?.({ type: 'failed', error: error instanceof Error ? error.stack ?? error.message : String(error) });
      shutdown(1);
    },
  );
}
