/**
 * The `dbp` command tree, built without running anything (main.ts runs it; the tests walk it).
 * Help, usage and `--version` come from commander; see options.ts for what every command shares.
 */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerBackupCommands } from './commands/backups.js';
import { registerCopyCommand } from './commands/copy.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerInventoryCommands } from './commands/inventory.js';
import { registerPolicyCommands } from './commands/policies.js';
import { registerRepositoryCommands } from './commands/repository.js';
import { registerRunDueCommand } from './commands/run-due.js';
import { registerRunsCommand } from './commands/runs.js';
import { registerServeCommand } from './commands/serve.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerWebhookCommands } from './commands/webhooks.js';
import { addGlobalOptions } from './options.js';

const NOTES = `
ORG may be an organization id or sub-domain; VM a virtual machine id or FQDN.
The global options may be given before or after the command.
Run "dbp <command> --help" (or "dbp help <command>") for a command's flags and examples.

Examples:
  $ dbp demo && dbp serve
  $ dbp --data-dir /var/lib/dbp org list
  $ dbp policy run dbp_AbCdEfGh12345678 --json
`;

export function buildProgram(): Command {
  const program = new Command('dbp')
    .description('Katapult Core API v1 disk backup policies: serve the API, run due policies, back up, restore, administer')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show the usage, flags and examples')
    .helpCommand('help [command]', 'show the help of a command')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText('after', NOTES);
  addGlobalOptions(program);
  registerServeCommand(program);
  registerRunDueCommand(program);
  registerRunsCommand(program);
  registerPolicyCommands(program);
  registerBackupCommands(program);
  registerRepositoryCommands(program);
  registerCopyCommand(program);
  registerDemoCommand(program);
  registerInventoryCommands(program);
  registerTokenCommands(program);
  registerWebhookCommands(program);
  return program;
}

/** Every command of the tree below `command` (depth first), the program itself first. */
export function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** `dbp org create` for the command `create` under `org`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}
