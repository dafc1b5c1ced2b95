/**
 * Opening a repository directory, creating it when asked. Creation is exclusive: the config is
 * written whole into a temporary file and then hard-linked to its name (`link` fails when the name
 * exists, and never replaces it); the process that loses the race removes its temporary file and
 * reads the config that won. So two processes creating one repository at once use the same salt and
 * keys, and neither sees half a config.
 */
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RepositoryError } from './errors.js';
import { ensureDirectory, syncDirectory, TEMPORARY_PREFIX, temporaryPathFor, writeFully } from './files.js';
import { FORMAT_VERSION, newConfig, type RepositoryConfig } from './keys.js';
import { BACKUPS_DIRECTORY, CONFIG_FILE, INDEX_DIRECTORY, LOCKS_DIRECTORY, PACKS_DIRECTORY } from './layout.js';

const REPOSITORY_DIRECTORIES = [PACKS_DIRECTORY, INDEX_DIRECTORY, BACKUPS_DIRECTORY, LOCKS_DIRECTORY];

/** The repository's config, creating the repository first when `create` and it has none yet. */
export function openOrCreateConfig(root: string, password: string | null, create: boolean, chunkSize: number): RepositoryConfig {
  const configPath = join(root, CONFIG_FILE);
  if (existsSync(configPath)) return readConfig(configPath);
  if (!create) throw new RepositoryError('not_a_repository', `${root} is not a backup repository (it has no config file)`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 4096 || (chunkSize & (chunkSize - 1)) !== 0) {
    throw new RangeError('The chunk size must be a power of two of at least 4096 bytes');
  }
  // What another process creating this repository right now may have put there is not "foreign".
  const foreign = existsSync(root) ? readdirSync(root).filter((name) => !REPOSITORY_DIRECTORIES.includes(name) && !name.startsWith(TEMPORARY_PREFIX) && name !== CONFIG_FILE) : [];
  if (foreign.length > 0) {
    throw new RepositoryError('not_a_repository', `${root} is not empty and not a backup repository; choose an empty or new directory`);
  }
  ensureDirectory(root);
  for (const directory of REPOSITORY_DIRECTORIES) ensureDirectory(join(root, directory));
  syncDirectory(root);
  const { config } = newConfig(password, chunkSize, Math.floor(Date.now() / 1000));
  const temporary = temporaryPathFor(configPath);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeFully(fd, Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temporary, configPath); // exclusive: fails with EEXIST when another process won
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
  syncDirectory(root);
  // Whichever config won, everyone uses that one.
  return readConfig(configPath);
}

function readConfig(path: string): RepositoryConfig {
  let config: RepositoryConfig;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as RepositoryConfig;
  } catch (error) {
    throw new RepositoryError('not_a_repository', `${path} is not a repository config: ${(error as Error).message}`);
  }
  if (config === null || typeof config !== 'object' || config.format !== FORMAT_VERSION) {
    throw new RepositoryError('not_a_repository', `Unknown repository format ${String((config as RepositoryConfig | null)?.format)}`);
  }
  return config;
}
