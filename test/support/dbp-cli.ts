/** Runs the `dbp` command line as a child process, the way an operator runs it, from the repository root. */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of the test process without anything that would point the CLI at another database or repository. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'DBP_DATA_DIR', 'TEST_DATABASE_URL', 'DBP_REPOSITORY', 'DBP_REPOSITORY_PASSWORD']) delete env[name];
  return { ...env, ...extra };
}

/** Starts `dbp` with its output piped, for a test that reads (or stops reading) as it goes. */
export function spawnDbp(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

export function dbp(args: string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: REPO_ROOT, env: cleanEnv(options.env), timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a command that must succeed with --json and answers what it printed. */
export async function dbpJson(args: string[]): Promise<any> {
  const result = await dbp([...args, '--json']);
  assert.equal(result.code, 0, `dbp ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}
