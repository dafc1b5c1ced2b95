import { Option, type Command } from 'commander';
import pino from 'pino';
import { startSweeper } from '../../background/sweeper.js';
import { startMetricsServer, type MetricsServer } from '../../http/metrics-server.js';
import { startServer, type RunningServer } from '../../http/server.js';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../../http/connection-limits.js';
import { DEFAULT_METRICS_SETTINGS } from '../../metrics/process-metrics.js';
import { openRuntime } from '../../runtime.js';
import { schedulerFor } from '../../scheduler/index.js';
import { WebhookDispatcher } from '../../webhooks/dispatcher.js';
import { dispatcherSettingsFromEnv, type DispatcherSettings } from '../../webhooks/settings.js';
import { networkListErrors } from '../../domain/networks.js';
import { startGarbageCollection } from '../../engine/maintenance.js';
import { addCopyToOption, addEngineOptions, engineIfConfigured, LOG_LEVELS, type EngineValues } from '../engine-options.js';
import { DEFAULT_VERIFICATION_SETTINGS, SECONDS_PER_DAY, verificationSchedulerFor } from '../../verification/index.js';
import { collect, commonOptions, decimalNumber, leafCommand, UsageError, wholeNumber, type CommonOptions } from '../options.js';

const ROLES = ['all', 'api', 'worker'];
type Role = 'all' | 'api' | 'worker';

interface ServeFlags extends EngineValues {
  host: string;
  port: number;
  role: Role;
  logLevel: string;
  metricsPort?: number;
  /** `--metrics-policies` (commander names it after the flag). */
  metricsPolicies: number;
  trustedProxy?: string[];
  keepRuns?: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsPerIp: number;
  verifyEveryDays: number;
  verifyMaxShare: number;
}

export function registerServeCommand(program: Command): void {
  addEngineOptions(addCopyToOption(
    leafCommand(
      program,
      'serve',
      'migrate the database; serve the API and /metrics (role api), run due policies, deliver webhooks and sweep the trash (role worker), or both (all)',
      ['dbp serve --port 8080', 'dbp serve --role worker --metrics-port 9100 --database-url postgres://dbp@db/dbp'],
    ),
  ))
    .addOption(new Option('--host <host>', 'the address to listen on').env('DBP_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'the API port (0: any free port)').env('DBP_PORT').default(8080).argParser(wholeNumber('port', 0, 65535)))
    .addOption(new Option('--role <role>', 'what this process does').env('DBP_ROLE').default('all').choices(ROLES))
    .addOption(new Option('--log-level <level>', 'of the JSON log lines on stdout').env('DBP_LOG_LEVEL').default('info').choices(LOG_LEVELS))
    .addOption(
      new Option('--metrics-port <port>', 'also serve /metrics alone on this port (for a worker without the API)')
        .env('DBP_METRICS_PORT')
        .argParser(wholeNumber('metrics-port', 0, 65535)),
    )
    .addOption(
      new Option('--metrics-policies <n>', 'per-policy /metrics series for at most this many policies (the oldest; dbp_policies_omitted counts the rest)')
        .env('DBP_METRICS_POLICIES')
        .default(DEFAULT_METRICS_SETTINGS.policyLimit)
        .argParser(wholeNumber('metrics-policies', 0, 10_000_000)),
    )
    .option(
      '--trusted-proxy <cidr>',
      'believe X-Forwarded-For only from this address or range (repeatable; default: DBP_TRUSTED_PROXIES=a,b, else none)',
      collect,
    )
    .addOption(
      new Option('--keep-runs <n>', "keep each policy's newest N finished run records (default: 100)")
        .env('DBP_KEEP_RUNS')
        .argParser(wholeNumber('keep-runs', 1, 1_000_000)),
    )
    .addOption(
      new Option('--headers-timeout <s>', 'seconds: close a connection whose request head has not all arrived by then')
        .env('DBP_HEADERS_TIMEOUT')
        .default(DEFAULT_CONNECTION_LIMITS.headersTimeoutMs / 1000)
        .argParser(wholeNumber('headers-timeout', 1, 3600)),
    )
    .addOption(
      new Option('--request-timeout <s>', 'seconds: close a connection whose request (head and body) has not all arrived by then')
        .env('DBP_REQUEST_TIMEOUT')
        .default(DEFAULT_CONNECTION_LIMITS.requestTimeoutMs / 1000)
        .argParser(wholeNumber('request-timeout', 1, 3600)),
    )
    .addOption(
      new Option('--keep-alive-timeout <s>', 'seconds: close a kept-alive connection idle this long')
        .env('DBP_KEEP_ALIVE_TIMEOUT')
        .default(DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs / 1000)
        .argParser(wholeNumber('keep-alive-timeout', 1, 3600)),
    )
    .addOption(
      new Option('--connections-per-ip <n>', 'open connections one client address may hold; more are closed at once (trusted proxies are not counted)')
        .env('DBP_CONNECTIONS_PER_IP')
        .default(DEFAULT_CONNECTION_LIMITS.maxConnectionsPerAddress)
        .argParser(wholeNumber('connections-per-ip', 1, 1_000_000)),
    )
    .addOption(
      new Option('--verify-every-days <n>', 'worker: re-read and authenticate each backup at most this often, oldest-verified first (0: never; decimals allowed)')
        .env('DBP_VERIFY_EVERY_DAYS')
        .default(DEFAULT_VERIFICATION_SETTINGS.everySeconds / SECONDS_PER_DAY)
        .argParser(decimalNumber('verify-every-days', 0, 3650)),
    )
    .addOption(
      new Option('--verify-max-share <f>', "worker: the share of the worker's time scheduled verification may take (after t seconds of it, rest t·(1−share)/share)")
        .env('DBP_VERIFY_MAX_SHARE')
        .default(DEFAULT_VERIFICATION_SETTINGS.maxShare)
        .argParser(decimalNumber('verify-max-share', 0.001, 1)),
    )
    .action(async (flags: ServeFlags, command: Command) => serve(commonOptions(command), flags));
}

/** `dbp serve`: the API (role `api`), the scheduler and background sweep (role `worker`), or both (`all`). */
async function serve(options: CommonOptions, flags: ServeFlags): Promise<void> {
  const { port, role, metricsPort, keepRuns: keepRunsPerPolicy } = flags;
  const trustedProxies = trustedProxiesOption(flags.trustedProxy);
  const connectionLimits = connectionLimitsOption(flags);
  const logger = pino({ level: flags.logLevel });
  const webhookSettings = role === 'api' ? undefined : webhookSettingsOption();
  const runtime = await openRuntime({ ...options, metrics: { policyLimit: flags.metricsPolicies } });
  runtime.store.checkpointInBackground?.();
  const engine = await engineIfConfigured(runtime, options, flags, logger).catch(async (error: unknown) => {
    await runtime.close();
    throw error;
  });

  // The ports first: one that cannot be listened on ends the process before any work starts (no
  // scheduler, sweeper or gc), with one line (ListenFailed) and a non-zero exit.
  let server: RunningServer | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    server = role === 'worker' ? undefined : await startServer(runtime, { host: flags.host, port, logger, trustedProxies, backups: engine, connectionLimits });
    metricsServer = metricsPort === undefined ? undefined : await startMetricsServer(runtime, flags.host, metricsPort, connectionLimits);
  } catch (error) {
    await server?.stop();
    await engine?.close();
    await runtime.close();
    throw error;
  }

  const sweeper = role === 'api' ? undefined : startSweeper(runtime.services, logger, keepRunsPerPolicy === undefined ? {} : { keepRunsPerPolicy });
  // RBD snapshots a killed backup left behind go before the worker takes runs (docs/RBD.md); it logs what it cannot remove.
  if (engine && role !== 'api') await engine.reconcileSnapshots();
  const scheduler = role === 'api' ? undefined : schedulerFor(runtime, { logger, ...(engine ? { runner: engine } : {}) });
  scheduler?.start();
  // Workers deliver the webhook outbox (any number of them: each claims its own rows).
  const webhooks = webhookSettings
    ? new WebhookDispatcher({ db: runtime.store.db, engine: runtime.store.engine, clock: runtime.services.clock, logger, settings: webhookSettings, ...(scheduler ? { workerId: scheduler.workerId } : {}) })
    : undefined;
  webhooks?.start();
  const garbageCollection = engine && role !== 'api' ? startGarbageCollection(engine, logger) : undefined;
  // Scheduled verification goes through the engine's verify, as `dbp verify` and the API's endpoint do.
  const verification =
    engine && role !== 'api'
      ? verificationSchedulerFor(runtime, engine, { logger, settings: { everySeconds: verifyEverySeconds(flags.verifyEveryDays), maxShare: flags.verifyMaxShare } })
      : undefined;
  verification?.start();
  logger.info(
    {
      role, url: server?.url, metrics: metricsServer?.url, worker: scheduler?.workerId, database: runtime.store.location, engine: runtime.store.engine,
      verifyEveryDays: verification?.enabled ? flags.verifyEveryDays : 0,
    },
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
  await Promise.all([scheduler?.stop(), verification?.stop()]);
  await webhooks?.stop();
  await server?.stop();
  await metricsServer?.stop();
  await engine?.close();
  await runtime.close();
}

/** Whole seconds, at least 1 unless off (a tiny period in days is a test's or a demo's, not off). */
function verifyEverySeconds(days: number): number {
  return days === 0 ? 0 : Math.max(1, Math.round(days * SECONDS_PER_DAY));
}

/** The webhook dispatcher's pacing from DBP_WEBHOOK_* (docs/WEBHOOKS.md); a bad value is a usage error. */
function webhookSettingsOption(): DispatcherSettings {
  try {
    return dispatcherSettingsFromEnv(process.env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** `--trusted-proxy` (repeatable), else DBP_TRUSTED_PROXIES (comma-separated): addresses or CIDR ranges. */
function trustedProxiesOption(flags: string[] | undefined): string[] {
  const entries = flags ?? (process.env.DBP_TRUSTED_PROXIES ?? '').split(',');
  const proxies = entries.map((entry) => entry.trim()).filter((entry) => entry !== '');
  const errors = networkListErrors(proxies, '--trusted-proxy');
  if (errors.length > 0) throw new UsageError(errors.join('; '));
  return proxies;
}

/** The request time bounds and the connections per address, from their flags (seconds → ms). */
function connectionLimitsOption(flags: ServeFlags): ConnectionLimits {
  if (flags.headersTimeout > flags.requestTimeout) {
    throw new UsageError(`--headers-timeout (${flags.headersTimeout}) cannot be longer than --request-timeout (${flags.requestTimeout})`);
  }
  return {
    headersTimeoutMs: flags.headersTimeout * 1000,
    requestTimeoutMs: flags.requestTimeout * 1000,
    keepAliveTimeoutMs: flags.keepAliveTimeout * 1000,
    maxConnectionsPerAddress: flags.connectionsPerIp,
  };
}
