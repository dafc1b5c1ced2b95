/**
 * API tokens. A token belongs to one organization and holds scopes; only a SHA-256 hash of its
 * secret is stored, so a leaked database holds no working token. The secret is shown once, at creation.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { newId, randomToken } from '../domain/ids.js';
import { ALL_SCOPES, isScope } from '../domain/scopes.js';
import { prepareQuery } from '../store/prepared.js';
import type { ChangeCounters } from '../store/database.js';
import type { ApiToken, Database } from '../store/schema.js';
import { NotFound, ValidationFailed } from './errors.js';

export const DEFAULT_RATE_LIMIT = 1000;
const SECRET_LENGTH = 48;

export interface NewToken {
  organizationId: string;
  name?: string | undefined;
  /** Left out: every scope. */
  scopes?: readonly string[] | undefined;
  rateLimit?: number | undefined;
}

export interface TokenRecord extends Omit<ApiToken, 'scopes' | 'authorized_ip_addresses' | 'secret_hash'> {
  readonly scopes: string[];
  readonly authorized_ip_addresses: string[];
}

export type Authentication =
  | {
      readonly ok: true;
      readonly token: TokenRecord;
      readonly organizationSuspended: boolean;
      /**
       * Moves whenever anything the organization's API answers are made from may have changed: the
       * organization's generation, or on SQLite the store's count of any change (see response-cache.ts).
       */
      readonly answersVersion: number;
    }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' };

type FoundToken = Extract<Authentication, { ok: true }>;

/** Tokens remembered between requests while their rows are unchanged (SQLite); cleared when full. */
const RECENTLY_FOUND_LIMIT = 10_000;
/** The tables the token query reads (a generation bump by a trigger does not count: see ChangeCounters). */
const TOKEN_TABLES = ['api_tokens', 'organizations'] as const;

export class TokenService {
  private readonly findBySecretHash: ReturnType<typeof prepareFindBySecretHash>;
  private readonly recentlyFound = new Map<string, { tokenVersion: number; found: FoundToken }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    /** SQLite: a token read is reused while nothing it was read from changed (see `Store.changes`). */
    private readonly changes?: ChangeCounters,
  ) {
    this.findBySecretHash = prepareFindBySecretHash(db);
  }

  async create(input: NewToken): Promise<{ token: TokenRecord; secret: string }> {
    const scopes = input.scopes ?? [...ALL_SCOPES];
    const unknown = scopes.filter((s) => !isScope(s));
    const errors = unknown.map((s) => `Scope ${s} is not known (known scopes: ${ALL_SCOPES.join(', ')})`);
    const rateLimit = input.rateLimit ?? DEFAULT_RATE_LIMIT;
    if (!Number.isInteger(rateLimit) || rateLimit < 1) errors.push('Rate limit must be a whole number of at least 1');
    if (errors.length > 0) throw new ValidationFailed(errors);
    const organization = await this.db
      .selectFrom('organizations')
      .select('id')
      .where('id', '=', input.organizationId)
      .executeTakeFirst();
    if (!organization) throw new NotFound(`No organization ${input.organizationId}`);

    const secret = randomToken(SECRET_LENGTH);
    const row = await this.db
      .insertInto('api_tokens')
      .values({
        id: newId('apiToken'),
        organization_id: organization.id,
        name: input.name?.trim() || 'API token',
        secret_hash: hashSecret(secret),
        scopes: JSON.stringify([...new Set(scopes)]),
        authorized_ip_addresses: '[]',
        expires_at: null,
        rate_limit: rateLimit,
        created_at: this.clock.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { token: tokenRecord(row), secret };
  }

  async findByName(organizationId: string, name: string): Promise<TokenRecord | null> {
    const row = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .where('name', '=', name)
      .orderBy('pk')
      .executeTakeFirst();
    return row ? tokenRecord(row) : null;
  }

  /** Replaces a token's secret; the old one stops working at once. */
  async regenerateSecret(tokenId: string): Promise<{ token: TokenRecord; secret: string }> {
    const secret = randomToken(SECRET_LENGTH);
    const row = await this.db
      .updateTable('api_tokens')
      .set({ secret_hash: hashSecret(secret) })
      .where('id', '=', tokenId)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new NotFound(`No API token ${tokenId}`);
    return { token: tokenRecord(row), secret };
  }

  /**
   * The token whose secret hashes to the given one: one indexed query, or none when neither tokens
   * nor organizations changed since the same token was last read (SQLite; see `Store.changes`).
   */
  async authenticate(secret: string): Promise<Authentication> {
    const hash = hashSecret(secret);
    const found = await this.findToken(hash);
    if (!found) return { ok: false, reason: 'unknown' };
    const expiresAt = found.token.expires_at;
    if (expiresAt !== null && expiresAt <= this.clock.now()) return { ok: false, reason: 'expired' };
    return found;
  }

  private async findToken(hash: string): Promise<FoundToken | undefined> {
    const changes = this.changes;
    if (changes === undefined) {
      const [row] = await this.findBySecretHash({ hash });
      return row && foundToken(row, hash, Number(row.generation));
    }
    // Read before the token, so that a change made meanwhile makes the next request read again.
    const { any: answersVersion, tables: tokenVersion } = changes.read(TOKEN_TABLES);
    const recent = this.recentlyFound.get(hash);
    if (recent !== undefined && recent.tokenVersion === tokenVersion) return { ...recent.found, answersVersion };
    const [row] = await this.findBySecretHash({ hash });
    const found = row && foundToken(row, hash, answersVersion);
    if (found) {
      if (this.recentlyFound.size >= RECENTLY_FOUND_LIMIT) this.recentlyFound.clear();
      this.recentlyFound.set(hash, { tokenVersion, found });
    }
    return found;
  }

}

/** Every request runs this: one indexed query, prepared once. */
function prepareFindBySecretHash(db: Kysely<Database>) {
  return prepareQuery(db, ['hash'], ({ hash }: { hash: string }) =>
    db
      .selectFrom('api_tokens as t')
      .innerJoin('organizations as o', 'o.id', 't.organization_id')
      .selectAll('t')
      .select(['o.suspended', 'o.generation'])
      .where('t.secret_hash', '=', hash),
  );
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

type TokenRow = ApiToken & { suspended: number; generation: number };

function foundToken(row: TokenRow, hash: string, answersVersion: number): FoundToken | undefined {
  if (!timingSafeEqual(Buffer.from(row.secret_hash), Buffer.from(hash))) return undefined;
  const { suspended, generation: _generation, ...token } = row;
  return { ok: true, token: tokenRecord(token), organizationSuspended: suspended === 1, answersVersion };
}

function tokenRecord(row: ApiToken): TokenRecord {
  const { secret_hash: _hash, scopes, authorized_ip_addresses, ...rest } = row;
  return { ...rest, scopes: JSON.parse(scopes) as string[], authorized_ip_addresses: JSON.parse(authorized_ip_addresses) as string[] };
}
