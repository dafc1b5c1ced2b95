/**
 * What commander does not do for the commands: the options every command takes (`--data-dir`,
 * `--database-url`, `--json`, given before or after the command), value checks with clear messages,
 * examples in the help, and printing (aligned text or snake_case JSON).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';

/** Bad input found by a command itself (exit 2, like the errors commander finds). */
export class UsageError extends Error {}

export interface CommonOptions {
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly json: boolean;
}

const DATA_DIR = '--data-dir <dir>';
const DATABASE_URL = '--database-url <url>';
const JSON_FLAG = '--json';

/** The program's own copies (shown in every help as global options), with their environment variables and defaults. */
export function addGlobalOptions(program: Command): void {
  program
    .addOption(new Option(DATA_DIR, 'where the SQLite database lives').env('DBP_DATA_DIR').default('./data'))
    .addOption(new Option(DATABASE_URL, 'postgres://… or sqlite:PATH; overrides --data-dir').env('DATABASE_URL'))
    .addOption(new Option(JSON_FLAG, 'machine-readable output (snake_case keys)'));
}

/**
 * A command that does work: hidden copies of the global options, so that they may also follow the
 * command's own flags (`dbp org create --name N --data-dir D`), and an example for its help.
 */
export function leafCommand(parent: Command, name: string, summary: string, examples: readonly string[]): Command {
  const command = parent.command(name).description(summary);
  command
    .addOption(new Option(DATA_DIR).hideHelp())
    .addOption(new Option(DATABASE_URL).hideHelp())
    .addOption(new Option(JSON_FLAG).hideHelp());
  return withExamples(command, examples);
}

/** A command with subcommands (`dbp org …`). */
export function groupCommand(parent: Command, name: string, summary: string, examples: readonly string[]): Command {
  return withExamples(parent.command(name).description(summary), examples);
}

function withExamples(command: Command, examples: readonly string[]): Command {
  return command.addHelpText('after', `\nExample${examples.length > 1 ? 's' : ''}:\n${examples.map((line) => `  $ ${line}`).join('\n')}\n`);
}

/** The global options as the command sees them: its own flags win over those given before it. */
export function commonOptions(command: Command): CommonOptions {
  const program = rootOf(command);
  const own = command.opts<{ dataDir?: string; databaseUrl?: string; json?: boolean }>();
  const global = program.opts<{ dataDir: string; databaseUrl?: string; json?: boolean }>();
  const databaseUrl = own.databaseUrl ?? global.databaseUrl;
  return {
    dataDir: own.dataDir ?? global.dataDir,
    databaseUrl: databaseUrl === '' ? undefined : databaseUrl,
    json: own.json === true || global.json === true,
  };
}

function rootOf(command: Command): Command {
  let root = command;
  while (root.parent) root = root.parent;
  return root;
}

/** An option parser for a whole number from `min` to `max`. */
export function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`--${flag} must be a whole number from ${min} to ${max} (got "${value}")`);
    }
    return Number(value);
  };
}

/** An option parser for a decimal number from `min` to `max` (`1`, `0.5`, `.25`). */
export function decimalNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`--${flag} must be a number from ${min} to ${max} (got "${value}")`);
    }
    return Number(value);
  };
}

/** An option parser for a count or size that must be at least 1. */
export function positiveWholeNumber(flag: string, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`--${flag} must be a positive whole number, at most ${max} (got "${value}")`);
    }
    return Number(value);
  };
}

/** For repeatable options (`--allow A --allow B`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Prints an object as JSON (`--json`) or as aligned `key: value` lines. */
export function printObject(json: boolean, title: string, fields: Record<string, unknown>): void {
  if (json) {
    printJson(fields);
    return;
  }
  const width = Math.max(...Object.keys(fields).map((k) => k.length));
  process.stdout.write(`${title}\n`);
  for (const [key, value] of Object.entries(fields)) {
    process.stdout.write(`  ${key.padEnd(width)}  ${Array.isArray(value) ? value.join(', ') : String(value)}\n`);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows under a header, each column as wide as its widest cell (or `empty` when there are no rows). */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[], empty: string): void {
  if (rows.length === 0) {
    process.stdout.write(`${empty}\n`);
    return;
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows]) {
    process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()}\n`);
  }
}

/** A time as the tables show it: ISO 8601 to the second, or "-". */
export function isoTime(at: number | null): string {
  return at === null ? '-' : new Date(at * 1000).toISOString().replace('.000Z', 'Z');
}

/** The same value with every object key in snake_case (`chunksRemoved` → `chunks_removed`), at any depth. */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`), snakeKeys(inner)]),
  );
}
