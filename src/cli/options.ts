/** Flag parsing shared by every command: clear errors for bad input, `--json`, and the database options. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export const COMMON_OPTIONS = {
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export interface CommonOptions {
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly json: boolean;
}

export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function commonOptions(values: { 'data-dir'?: unknown; 'database-url'?: unknown; json?: unknown }): CommonOptions {
  return {
    dataDir: (values['data-dir'] as string | undefined) ?? process.env.DBP_DATA_DIR ?? './data',
    databaseUrl: (values['database-url'] as string | undefined) ?? (process.env.DATABASE_URL || undefined),
    json: values.json === true,
  };
}

export function requireString(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${flag} is required`);
  return value;
}

export function integerOption(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${flag} must be a whole number from ${min} to ${max} (got "${text}")`);
  }
  return Number(text);
}

/** Prints an object as JSON (`--json`) or as aligned `key: value` lines. */
export function printObject(json: boolean, title: string, fields: Record<string, unknown>): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(fields, null, 2)}\n`);
    return;
  }
  const width = Math.max(...Object.keys(fields).map((k) => k.length));
  process.stdout.write(`${title}\n`);
  for (const [key, value] of Object.entries(fields)) {
    process.stdout.write(`  ${key.padEnd(width)}  ${Array.isArray(value) ? value.join(', ') : String(value)}\n`);
  }
}
