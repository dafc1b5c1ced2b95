/**
 * The catalogue knows which repository it was written with. Backups are rows in the catalogue and
 * manifests in the repository; a process whose repository is not the catalogue's would take backups
 * that other processes cannot restore and find the others' backups missing. So the first process to
 * open the backup engine binds the catalogue to its repository (by the repository's id, which every
 * location of the same repository shares), and every later one must open that same repository or
 * refuse to start.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../store/schema.js';

/** A repository as one process reaches it. */
export interface RepositoryIdentity {
  readonly id: string;
  /** As `--repository` takes it. */
  readonly location: string;
}

export interface CatalogueBinding extends RepositoryIdentity {
  /** Unix seconds. */
  readonly boundAt: number;
}

const FIX =
  "Point --repository (or DBP_REPOSITORY) of this process at the catalogue's repository; every process sharing this database must use that one repository. " +
  'To move the catalogue to this repository on purpose (forgetting the backups it does not hold), stop every process and run `dbp repository rebind --repository LOCATION --yes`.';

/** This process's repository is not the catalogue's: the engine is not opened. */
export class RepositoryMismatch extends Error {
  constructor(
    readonly catalogue: CatalogueBinding,
    /** This process's repository; `id` null when its location holds no repository at all. */
    readonly here: { readonly id: string | null; readonly location: string },
    reason?: string,
  ) {
    const found = here.id === null ? `no repository (${reason ?? 'none found there'})` : `repository ${here.id}`;
    super(
      `This database's backup catalogue was written with repository ${catalogue.id} at ${catalogue.location} ` +
        `(bound ${new Date(catalogue.boundAt * 1000).toISOString()}), but this process was given ${here.location}, which holds ${found}; ` +
        `backups taken here could not be restored by the other processes, so this process does not use it. ${FIX}`,
    );
    this.name = 'RepositoryMismatch';
  }
}

export async function readBinding(db: Kysely<Database>): Promise<CatalogueBinding | undefined> {
  const row = await db.selectFrom('repository_binding').select(['repository_id', 'location', 'bound_at']).executeTakeFirst();
  return row ? { id: row.repository_id, location: row.location, boundAt: Number(row.bound_at) } : undefined;
}

/**
 * Binds an unbound catalogue to `here`, or checks that it is bound to the same repository. Safe when
 * several processes start at once: the row is inserted only if absent, then read back, so that all of
 * them compare against whichever insert won. Throws RepositoryMismatch for another repository.
 */
export async function bindCatalogue(db: Kysely<Database>, here: RepositoryIdentity, now: number, logger: Logger | false): Promise<CatalogueBinding> {
  let binding = await readBinding(db);
  if (!binding) {
    const inserted = await db
      .insertInto('repository_binding')
      .values({ singleton: 1, repository_id: here.id, location: here.location, bound_at: now })
      .onConflict((conflict) => conflict.column('singleton').doNothing())
      .executeTakeFirst();
    binding = await readBinding(db);
    if (!binding) throw new Error('The repository binding was inserted but cannot be read back');
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0 && logger) {
      logger.info({ repository: here.id, location: here.location }, 'catalogue bound to this repository (every process on this database must use it)');
    }
  }
  if (binding.id !== here.id) throw new RepositoryMismatch(binding, here);
  if (binding.location !== here.location && logger) {
    // The same repository reached another way (another mount point or S3 endpoint): allowed.
    logger.info({ repository: here.id, location: here.location, catalogueLocation: binding.location }, 'the catalogue\'s repository is reached here through another location');
  }
  return binding;
}

/**
 * Binds the catalogue to `here` whatever it was bound to (a deliberate move to another repository):
 * one statement, so that a crash leaves the old binding or the new one. Answers the old binding.
 */
export async function rebindCatalogue(db: Kysely<Database>, here: RepositoryIdentity, now: number): Promise<CatalogueBinding | undefined> {
  const previous = await readBinding(db);
  await db
    .insertInto('repository_binding')
    .values({ singleton: 1, repository_id: here.id, location: here.location, bound_at: now })
    .onConflict((conflict) => conflict.column('singleton').doUpdateSet({ repository_id: here.id, location: here.location, bound_at: now }))
    .execute();
  return previous;
}
