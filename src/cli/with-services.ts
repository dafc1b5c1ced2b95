/** Opening the command's database for the length of its work. */
import type { Command } from 'commander';
import { openRuntime } from '../runtime.js';
import type { Services } from '../services/index.js';
import { commonOptions } from './options.js';

/** Runs `work` with the runtime of the command's database open (`--data-dir`, `--database-url`), then closes it. */
export async function withServices(command: Command, work: (services: Services, json: boolean) => Promise<void>): Promise<void> {
  const options = commonOptions(command);
  const runtime = await openRuntime(options);
  try {
    await work(runtime.services, options.json);
  } finally {
    await runtime.close();
  }
}
