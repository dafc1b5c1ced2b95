/**
 * The scheduler benchmark's worker, in its own process so that its memory is its own: the real
 * scheduler loop (`schedulerFor(runtime).start()`) with a runner that does nothing, on a clock
 * shifted by `clockOffsetMs` (so the seeded due instant arrives a few seconds after it starts).
 *
 * For every run it notes the lag (runner start − scheduled instant, in milliseconds on its clock);
 * once `expected` runs have finished it reports them (`done` over IPC). Stops on `stop`.
 * Started by bench/scheduler.ts with its configuration as JSON in argv[2].
 */
import pino from 'pino';
import type { Clock } from '../../src/domain/clock.js';
import { openRuntime } from '../../src/runtime.js';
import { schedulerFor, type BackupRunner, type SchedulerSettings } from '../../src/scheduler/index.js';
import { serveChild } from './children.js';

export interface SchedulerChildConfig {
  readonly dataDir: string;
  readonly databaseUrl?: string;
  readonly postgresSchema?: string;
  readonly clockOffsetMs: number;
  /** Report once this many runs have finished. */
  readonly expected: number;
  readonly settings?: Partial<SchedulerSettings>;
}

export interface SchedulerChildReady {
  readonly pid: number;
  readonly workerId: string;
}

export interface SchedulerChildDone {
  readonly type: 'done';
  /** Runner start − scheduled instant, ms, one per run, in finishing order. */
  readonly lagsMs: number[];
  /** Last run finished − scheduled instant of the first, ms. */
  readonly drainMs: number;
  readonly recorded: number;
  readonly heapUsedBytes: number;
}

const config = JSON.parse(process.argv[2]!) as SchedulerChildConfig;

serveChild<SchedulerChildReady>(async () => {
  const nowMs = () => Date.now() + config.clockOffsetMs;
  const clock: Clock = { now: () => Math.floor(nowMs() / 1000), nowMs };
  const runtime = await openRuntime({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    postgresSchema: config.postgresSchema,
    clock,
  });
  const lagsMs: number[] = [];
  let firstScheduledMs = Infinity;
  const runner: BackupRunner = {
    async run(run) {
      lagsMs.push(nowMs() - run.scheduledAt * 1000);
      firstScheduledMs = Math.min(firstScheduledMs, run.scheduledAt * 1000);
      return { status: 'succeeded' };
    },
  };
  // Warnings (a failed claim, a lost lease) go to stderr; the per-run info lines are not wanted here.
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const scheduler = schedulerFor(runtime, { logger, runner, ...(config.settings ? { settings: config.settings } : {}) });
  let finished = 0;
  let recorded = 0;
  scheduler.onFinished((run) => {
    finished++;
    if (run.recorded) recorded++;
    if (finished === config.expected) {
      const done: SchedulerChildDone = {
        type: 'done', lagsMs, drainMs: nowMs() - firstScheduledMs, recorded, heapUsedBytes: process.memoryUsage().heapUsed,
      };
      process.send?.(done);
    }
  });
  scheduler.start();
  return {
    ready: { pid: process.pid, workerId: scheduler.workerId },
    stop: async () => {
      await scheduler.stop();
      await runtime.close();
    },
  };
});
