#!/usr/bin/env node
/**
 * `dbp`: serve the API, run due policies, back up and restore, create demo data, administer
 * organizations, machines, disks and tokens (the command tree is in program.ts).
 *
 * Exit codes: 0 done (and for --help, --version); 1 the work failed (one line on stderr); 2 the
 * command line is wrong (one line on stderr and a pointer to the command's --help).
 */
import { CommanderError, type Command } from 'commander';
import { NotFound, ValidationFailed } from '../services/errors.js';
import { UsageError } from './options.js';
import { allCommands, buildProgram, commandPath } from './program.js';

/** What commander stopped with, and on which command. */
class Stop extends Error {
  constructor(
    readonly command: Command,
    readonly error: CommanderError,
  ) {
    super(error.message);
  }
}

/** Commander's message for one of its errors, as one line in the style of the commands' own. */
function usageMessage(error: CommanderError): string {
  const text = error.message.replace(/^error: /, '');
  switch (error.code) {
    case 'commander.missingMandatoryOptionValue':
      return `${/'(--[\w-]+)/.exec(text)?.[1] ?? text} is required`;
    case 'commander.missingArgument':
      return `${/'([^']+)'/.exec(text)?.[1] ?? text} is required`;
    case 'commander.invalidArgument': {
      // Our value checks name the flag themselves: keep only their sentence.
      const own = /is invalid\. (--.*)$/s.exec(text)?.[1];
      if (own) return own;
      const choice = /^option '(--[\w-]+)[^']*' (?:argument|value) '(.*?)'(?: from env '(\w+)')? is invalid\. Allowed choices are (.*)\.$/s.exec(text);
      if (choice) return `${choice[1]}${choice[3] ? ` (${choice[3]})` : ''} must be one of ${choice[4]} (got "${choice[2]}")`;
      break;
    }
  }
  return text.replace(/'([^']*)'/g, '"$1"').replace(/\s*\n\s*/g, ' ');
}

function usageFailure(command: Command, message: string): number {
  const path = commandPath(command);
  process.stderr.write(`${path}: ${message}\nRun "${path} --help" for usage.\n`);
  return 2;
}

function stopped(stop: Stop): number {
  const { command, error } = stop;
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
  if (error.code === 'commander.help' && error.exitCode === 0) return 0; // `dbp help`, `dbp help org`
  if (error.code === 'commander.help') {
    // A command that needs a subcommand (`dbp`, `dbp org`) was given none.
    return usageFailure(command, `missing command (one of ${command.commands.map((c) => c.name()).join(', ')})`);
  }
  return usageFailure(command, usageMessage(error));
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let running: Command = program;
  program.hook('preAction', (_program, actionCommand) => {
    running = actionCommand;
  });
  for (const command of allCommands(program)) {
    command.exitOverride((error) => {
      throw new Stop(command, error);
    });
    // Commander's own error output is replaced by the one-line messages above.
    command.configureOutput({ writeErr: () => {}, outputError: () => {} });
  }
  if (argv[0] === 'help' && argv[1] !== undefined && !program.commands.some((c) => c.name() === argv[1])) {
    return usageFailure(program, `unknown command "${argv[1]}"`);
  }
  try {
    // `dbp help org create` means `dbp org create --help` (commander's help command looks one level down).
    const args = argv[0] === 'help' && argv.length > 2 ? [...argv.slice(1), '--help'] : argv;
    await program.parseAsync(args, { from: 'user' });
    // A command that finished but found a problem (verify, policy run) sets the exit code itself.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof Stop) return stopped(error);
    if (error instanceof UsageError) return usageFailure(running, error.message);
    const path = commandPath(running);
    if (error instanceof ValidationFailed) process.stderr.write(`${path}: ${error.errors.join('; ')}\n`);
    else if (error instanceof NotFound) process.stderr.write(`${path}: ${error.message}\n`);
    else process.stderr.write(`${path}: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  }
}

// `dbp backups list | head -1`: once the reader is gone, stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
