import pino from 'pino';
import { startSweeper } from '../../background/sweeper.js';
import { startMetricsServer } from '../../http/metrics-server.js';
import { startServer } from '../../http/server.js';
import { openRuntime } from '../../runtime.js';
import { schedulerFor } from '../../scheduler/index.js';
import { networkListErrors } from '../../domain/networks.js';
import { startGarbageCollection } from '../../engine/maintenance.js';
import { ENGINE_OPTIONS, engineIfConfigured } from '../engine-options.js';
import { commonOptions, integerOption, parseCommand, UsageError } from '../options.js';

const ROLES = ['all', 'api', 'worker'] as const;
type Role = (typeof ROLES)[number];

/** `dbp serve`: the API (role `api`), the scheduler and background sweep (role `worker`), or both (`all`). */
export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, {
    ...ENGINE_OPTIONS,
    host: { type: 'string', default: process.env.DBP_HOST ?? '127.0.0.1' },
    port: { type: 'string', default: process.env.DBP_PORT ?? '8080' },
    role: { type: 'string', default: process.env.DBP_ROLE ?? 'all' },
    'log-level': { type: 'string', default: process.env.DBP_LOG_LEVEL ?? 'info' },
    'metrics-port': { type: 'string', default: process.env.DBP_METRICS_PORT },
    'trusted-proxy': { type: 'string', multiple: true },
    'keep-runs': { type: 'string', default: process.env.DBP_KEEP_RUNS },
  });
  const options = commonOptions(values);
  const port = integerOption(values.port, 'port', 0, 65535)!;
  const metricsPort = integerOption(values['metrics-port'], 'metrics-port', 0, 65535);
  const keepRunsPerPolicy = integerOption(values['keep-runs'], 'keep-runs', 1, 1_000_000);
  const role = values.role as Role;
  if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')} (got "${role}")`);
  const trustedProxies = trustedProxiesOption(values['trusted-proxy'] as string[] | undefined);
  const logger = pino({ level: values['log-level'] as string });
  const runtime = await openRuntime(options);
  runtime.store.checkpointInBackground?.();

  const sweeper = role === 'api' ? undefined : startSweeper(runtime.services, logger, keepRunsPerPolicy === undefined ? {} : { keepRunsPerPolicy });
  const engine = await engineIfConfigured(runtime, options, values, logger);
  const scheduler = role === 'api' ? undefined : schedulerFor(runtime, { logger, ...(engine ? { runner: engine } : {}) });
  scheduler?.start();
  const garbageCollection = engine && role !== 'api' ? startGarbageCollection(engine, logger) : undefined;
  const server = role === 'worker' ? undefined : await startServer(runtime, { host: values.host as string, port, logger, trustedProxies, backups: engine });
  const metricsServer = metricsPort === undefined ? undefined : await startMetricsServer(runtime, values.host as string, metricsPort);
  logger.info(
    { role, url: server?.url, metrics: metricsServer?.url, worker: scheduler?.workerId, database: runtime.store.location, engine: runtime.store.engine },
    'dbp started',
  );
  if (server) process.stderr.write(`dbp: serving ${server.url}/core/v1/ (database: ${runtime.store.location})\n`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  logger.info('shutting down');
  sweeper?.stop();
  garbageCollection?.stop();
  await scheduler?.stop();
  await server?.stop();
  await metricsServer?.stop();
  await engine?.close();
  await runtime.close();
}

/** `--trusted-proxy` (repeatable), else DBP_TRUSTED_PROXIES (comma-separated): addresses or CIDR ranges. */
function trustedProxiesOption(flags: string[] | undefined): string[] {
  const entries = flags ?? (process.env.DBP_TRUSTED_PROXIES ?? '').split(',');
  const proxies = entries.map((entry) => entry.trim()).filter((entry) => entry !== '');
  const errors = networkListErrors(proxies, '--trusted-proxy');
  if (errors.length > 0) throw new UsageError(errors.join('; '));
  return proxies;
}
