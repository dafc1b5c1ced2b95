/**
 * Opening the backup engine for a runtime: the repository (`--repository`, DBP_REPOSITORY, default
 * <data-dir>/repository) and its passphrase — DBP_REPOSITORY_PASSWORD, else the file
 * <data-dir>/repository.key when it exists (`dbp demo` writes one), else an unencrypted repository
 * only when asked for explicitly (`--unencrypted-repository`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Runtime } from '../runtime.js';
import { BackupEngine } from './backup-engine.js';
import { bindCatalogue, readBinding, rebindCatalogue, RepositoryMismatch, type CatalogueBinding } from './repository-binding.js';
import { openRepository, RepositoryError, type Repository, type RepositorySettings } from './repository/index.js';
import { formatRepositoryLocation, parseRepositoryLocation } from './storage/location.js';
import type { StoreLocation } from './storage/object-store.js';
import { DEFAULT_CACHE_BYTES, openStore } from './storage/open-store.js';

export { BackupEngine, BackupNotInCatalogue, type BackupRecord } from './backup-engine.js';
export { RepositoryError } from './repository/index.js';
export { RepositoryMismatch } from './repository-binding.js';

export interface EngineSettings {
  readonly dataDir: string;
  readonly repositoryPath?: string | undefined;
  readonly unencrypted?: boolean | undefined;
  /** The passphrase itself (tests); otherwise the environment or the key file. */
  readonly password?: string | undefined;
  readonly workers?: number | undefined;
  /** A second repository (`--copy-to`, DBP_COPY_TO) each succeeded run's backups are copied to. */
  readonly copyTo?: string | undefined;
  /** The cache directory of a remote (S3) repository: `--cache-dir`, else DBP_CACHE_DIR, else <data-dir>/cache/<hash of the location>. */
  readonly cacheDir?: string | undefined;
}

export const PASSPHRASE_FILE = 'repository.key';

export class EngineNotConfigured extends Error {
  constructor(
    message: string,
    /** The same for /healthz: what is missing and how to set it. */
    readonly detail: string,
  ) {
    super(message);
  }
}

/** Where the repository is: `--repository`, else DBP_REPOSITORY (a directory or an s3: URL), else <data-dir>/repository. */
export function repositoryLocationOf(settings: EngineSettings): StoreLocation {
  return parseRepositoryLocation(settings.repositoryPath ?? process.env.DBP_REPOSITORY ?? join(settings.dataDir, 'repository'));
}

/**
 * Where a remote repository's index and manifests are cached. One directory per repository location
 * (a hash of it), so that two repositories never share a cache; DBP_CACHE_MAX_MIB bounds its size.
 */
export function cacheDirectoryOf(settings: EngineSettings): string {
  const chosen = settings.cacheDir ?? process.env.DBP_CACHE_DIR;
  if (chosen) return resolve(chosen);
  const name = createHash('sha256').update(repositoryLocationTextOf(settings)).digest('hex').slice(0, 16);
  return join(resolve(settings.dataDir), 'cache', name);
}

/** The cache's bound in bytes: DBP_CACHE_MAX_MIB (MiB), default 1 GiB. */
export function cacheMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.DBP_CACHE_MAX_MIB?.trim();
  if (!text) return DEFAULT_CACHE_BYTES;
  const mib = Number(text);
  if (!Number.isSafeInteger(mib) || mib < 1) throw new EngineNotConfigured(`DBP_CACHE_MAX_MIB must be a whole number of MiB of at least 1, not "${text}"`, `invalid DBP_CACHE_MAX_MIB "${text}"`);
  return mib * 1024 * 1024;
}

/**
 * The repository of `settings`, its store opened the way every process opens it: an S3 store behind
 * the local cache of cacheDirectoryOf.
 */
export async function openRepositoryOf(settings: EngineSettings, options: RepositorySettings): Promise<Repository> {
  const location = repositoryLocationOf(settings);
  const store = await openStore(location, location.type === 's3' ? { cache: { directory: cacheDirectoryOf(settings), maxBytes: cacheMaxBytes() } } : {});
  try {
    return await openRepository({ ...options, store });
  } catch (error) {
    // A store handed to openRepository stays open when opening fails.
    await store.close();
    throw error;
  }
}

/** The repository's location as `--repository` takes it (what the catalogue's binding records and messages show). */
export function repositoryLocationTextOf(settings: EngineSettings): string {
  return formatRepositoryLocation(repositoryLocationOf(settings));
}

/** The repository's passphrase (null: unencrypted), or EngineNotConfigured saying how to set one. */
export function passphrase(settings: EngineSettings): string | null {
  if (settings.password !== undefined) return settings.password;
  const fromEnvironment = process.env.DBP_REPOSITORY_PASSWORD;
  if (fromEnvironment) return fromEnvironment;
  const file = join(settings.dataDir, PASSPHRASE_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  if (settings.unencrypted) return null;
  const howTo = `set DBP_REPOSITORY_PASSWORD (or put one in ${file}), or choose an unencrypted repository with --unencrypted-repository`;
  throw new EngineNotConfigured(
    `The backup repository needs a passphrase: ${howTo}`,
    `no repository passphrase: ${howTo}; until then every scheduled run is recorded as skipped`,
  );
}

/**
 * Opens the engine; the runtime's status (and so /healthz) then says whether backups are enabled and, if not, why.
 * The repository must be the one the catalogue is bound to (the first process to open the engine binds
 * it): otherwise RepositoryMismatch, and backups stay disabled. A catalogue already bound never gets a
 * new repository created for it, so a wrong or lost location is refused instead of silently split.
 */
export async function openBackupEngine(runtime: Runtime, settings: EngineSettings, logger: Logger | false = false): Promise<BackupEngine> {
  let password: string | null;
  try {
    password = passphrase(settings);
  } catch (error) {
    if (error instanceof EngineNotConfigured) runtime.status.backups = { enabled: false, detail: error.detail };
    throw error;
  }
  const location = repositoryLocationTextOf(settings);
  const bound = await readBinding(runtime.store.db);
  let repository: Repository;
  try {
    repository = await openRepositoryOf(settings, {
      password,
      create: bound === undefined,
      ...(settings.workers ? { workers: settings.workers } : {}),
    });
  } catch (error) {
    throw refused(runtime, bound && error instanceof RepositoryError && error.code === 'not_a_repository' ? new RepositoryMismatch(bound, { id: null, location }, error.message) : error);
  }
  try {
    // Wall-clock time, not the runtime clock (which `run-due --now` fixes at a simulated instant).
    await bindCatalogue(runtime.store.db, { id: repository.id, location }, Math.floor(Date.now() / 1000), logger);
  } catch (error) {
    await repository.close();
    throw refused(runtime, error);
  }
  let copyTo: Repository | undefined;
  try {
    copyTo = await openCopyTarget(settings, password);
  } catch (error) {
    await repository.close();
    throw error;
  }
  runtime.status.backups = { enabled: true };
  runtime.metrics.watchRepository(() => repository.probe());
  return new BackupEngine({
    db: runtime.store.db,
    engine: runtime.store.engine,
    repository,
    clock: runtime.services.clock,
    dataDir: resolve(settings.dataDir),
    logger,
    metrics: runtime.metrics,
    ...(copyTo ? { copyTo } : {}),
  });
}

/**
 * The second repository of `--copy-to`, created if absent, or none. Its passphrase is
 * DBP_COPY_TO_PASSWORD, else the repository's own; it is opened at start so that a wrong location or
 * passphrase stops the process at once rather than failing every run's copy.
 */
async function openCopyTarget(settings: EngineSettings, password: string | null): Promise<Repository | undefined> {
  // DBP_COPY_TO reaches here through the flag of the commands that run policies, and only those.
  const text = settings.copyTo;
  if (!text) return undefined;
  const location = parseRepositoryLocation(text);
  try {
    return await openRepository({ location, password: process.env.DBP_COPY_TO_PASSWORD || password, create: true, ...(settings.workers ? { workers: settings.workers } : {}) });
  } catch (error) {
    throw new Error(`--copy-to ${formatRepositoryLocation(location)}: ${(error as Error).message}`);
  }
}

/** A mismatch leaves backups disabled in /healthz, with the reason. */
function refused(runtime: Runtime, error: unknown): unknown {
  if (error instanceof RepositoryMismatch) runtime.status.backups = { enabled: false, detail: error.message };
  return error;
}

/** What `dbp repository rebind` did. */
export interface RebindReport {
  readonly previous: CatalogueBinding | undefined;
  readonly repositoryId: string;
  readonly location: string;
  /** Catalogue backups the new repository does not hold: the next gc (its reconcile) deletes their rows. */
  readonly backupsMissing: number;
}

/**
 * Binds the catalogue to the repository of `settings` (created when its location is empty), whatever
 * it was bound to. The catalogue's rows are left to the next gc, whose reconcile deletes the rows of
 * backups this repository lacks and adopts the backups it holds (of policies that still exist).
 */
export async function rebindRepository(runtime: Runtime, settings: EngineSettings): Promise<RebindReport> {
  const location = repositoryLocationTextOf(settings);
  const repository = await openRepositoryOf(settings, { password: passphrase(settings), create: true, workers: 1 });
  try {
    const held = new Set((await repository.listBackups()).map((backup) => backup.id));
    const rows = await runtime.store.db.selectFrom('backups').select('repository_backup_id').execute();
    const previous = await rebindCatalogue(runtime.store.db, { id: repository.id, location }, Math.floor(Date.now() / 1000));
    return { previous, repositoryId: repository.id, location, backupsMissing: rows.filter((row) => !held.has(row.repository_backup_id)).length };
  } finally {
    await repository.close();
  }
}

/** For `dbp demo`: a random passphrase in <data-dir>/repository.key unless one is set. Answers the file, or null. */
export function ensureDemoPassphrase(dataDir: string): string | null {
  if (process.env.DBP_REPOSITORY_PASSWORD) return null;
  const file = join(dataDir, PASSPHRASE_FILE);
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  return file;
}
