import pino from 'pino';
import { startServer } from '../../http/server.js';
import { openRuntime } from '../../runtime.js';
import { commonOptions, integerOption, parseCommand } from '../options.js';

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, {
    host: { type: 'string', default: process.env.DBP_HOST ?? '127.0.0.1' },
    port: { type: 'string', default: process.env.DBP_PORT ?? '8080' },
    'log-level': { type: 'string', default: process.env.DBP_LOG_LEVEL ?? 'info' },
  });
  const options = commonOptions(values);
  const port = integerOption(values.port, 'port', 0, 65535)!;
  const logger = pino({ level: values['log-level'] as string });
  const runtime = await openRuntime(options);
  const server = await startServer(runtime, { host: values.host as string, port, logger });
  logger.info({ url: server.url, database: runtime.store.location, engine: runtime.store.engine }, 'serving the Core API');
  process.stderr.write(`dbp: serving ${server.url}/core/v1/ (database: ${runtime.store.location})\n`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('shutting down');
  await server.stop();
  await runtime.close();
}
