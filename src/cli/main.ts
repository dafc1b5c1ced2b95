#!/usr/bin/env node
/**
 * `dbp`: serve the API, run due policies, create demo data, administer organizations, machines, disks
 * and tokens.
 * Every command takes --data-dir / --database-url (DBP_DATA_DIR, DATABASE_URL) and --json.
 */
import { ValidationFailed, NotFound } from '../services/errors.js';
import { UsageError } from './options.js';
import { demoCommand } from './commands/demo.js';
import { serveCommand } from './commands/serve.js';
import { diskCommand, orgCommand, vmCommand } from './commands/inventory.js';
import { tokenCommand } from './commands/tokens.js';
import { runDueCommand } from './commands/run-due.js';
import { runsCommand } from './commands/runs.js';
import { backupsCommand, gcCommand, policyCommand, restoreCommand, verifyCommand } from './commands/backups.js';

const USAGE = `Usage: dbp <command> [options]

Commands:
  serve  [--host 127.0.0.1] [--port 8080] [--role all|api|worker] [--metrics-port P] [--trusted-proxy CIDR]…
                                                 migrate the database; serve the API and /metrics (api); run due
                                                 policies and sweep the trash (worker); --metrics-port serves
                                                 /metrics alone (for a worker without the API); X-Forwarded-For is
                                                 believed only from a --trusted-proxy (DBP_TRUSTED_PROXIES=a,b);
                                                 --keep-runs N keeps each policy's newest N finished run records (100)
  run-due [--now UNIX]                           run every policy due at that instant once, wait, print the runs
  runs list [--policy ID] [--limit 100]          the scheduler's run records, newest first
  policy run ID                                  back the policy's disks up now (recorded as a run)
  backups list [--policy ID]                     the backups taken, newest first
  restore --backup ID (--to PATH | --new-disk NAME)
                                                 write a backup's image (byte-exact, sparse) to a new file,
                                                 or to a new disk of the backup's organization
  verify [--backup ID]                           re-read and authenticate every chunk; names the backups a
                                                 bad chunk affects (exit 1 when not clean)
  gc                                             mend the catalogue after a crash, delete unused chunks
  demo                                           create demo data (idempotent) and print it
  org create --name N [--sub-domain S] [--time-zone Europe/London | --country GB]
  org suspend ORG | org unsuspend ORG            a suspended organization's tokens get organization_suspended
  vm create --org ORG --name N
  disk create --org ORG [--vm VM] --name N (--size-gb G | --image PATH [--size-gb G])
                                                 --image: a raw image file or block device holding the disk;
                                                 otherwise a sparse image of G GB the service makes
  token create --org ORG [--scopes a,b,…] [--name N] [--rate-limit N] [--allow CIDR]… [--expires-at UNIX]
                                                 prints the secret once; --allow (repeatable) limits the networks
                                                 it may be used from; no --scopes: every scope
  token list --org ORG                           the organization's tokens (never their secrets)
  token revoke ID                                delete a token: its secret stops working at once

Options of the backup commands (and serve, run-due):
  --repository PATH     the backup repository (DBP_REPOSITORY, default DATA-DIR/repository)
  --unencrypted-repository
                        without a passphrase (DBP_REPOSITORY_PASSWORD or DATA-DIR/repository.key),
                        use an unencrypted repository

Options for every command:
  --data-dir DIR        where the SQLite database lives (DBP_DATA_DIR, default ./data)
  --database-url URL    postgres://… or sqlite:PATH (DATABASE_URL); overrides --data-dir
  --json                machine-readable output
ORG may be an organization id or sub-domain; VM a virtual machine id or FQDN.`;

type Command = (argv: string[]) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  demo: demoCommand,
  org: orgCommand,
  vm: vmCommand,
  disk: diskCommand,
  token: tokenCommand,
  'run-due': runDueCommand,
  runs: runsCommand,
  backups: backupsCommand,
  restore: restoreCommand,
  verify: verifyCommand,
  policy: policyCommand,
  gc: gcCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`dbp: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    await command(rest);
    // A command that finished but found a problem (verify) sets the exit code itself.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`dbp ${name}: ${error.message}\nRun "dbp help" for usage.\n`);
      return 2;
    }
    if (error instanceof ValidationFailed) {
      process.stderr.write(`dbp ${name}: ${error.errors.join('\n  ')}\n`);
      return 1;
    }
    if (error instanceof NotFound) {
      process.stderr.write(`dbp ${name}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`dbp ${name}: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
