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
      /** Changes whenever anything the organization's API answers are made from changes. */
      readonly organizationGeneration: number;
    }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' };

export class TokenService {
  private readonly findBySecretHash: ReturnType<typeof prepareFindBySecretHash>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
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

  /** One indexed query: the token whose secret hashes to the given one. */
  async authenticate(secret: string): Promise<Authentication> {
    const hash = hashSecret(secret);
    const [row] = await this.findBySecretHash({ hash });
    if (!row || !timingSafeEqual(Buffer.from(row.secret_hash), Buffer.from(hash))) return { ok: false, reason: 'unknown' };
    if (row.expires_at !== null && row.expires_at <= this.clock.now()) return { ok: false, reason: 'expired' };
    const { suspended, generation, ...token } = row;
    return {
      ok: true,
      token: tokenRecord(token),
      organizationSuspended: suspended === 1,
      organizationGeneration: Number(generation),
    };
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

function tokenRecord(row: ApiToken): TokenRecord {
  const { secret_hash: _hash, scopes, authorized_ip_addresses, ...rest } = row;
  return { ...rest, scopes: JSON.parse(scopes) as string[], authorized_ip_addresses: JSON.parse(authorized_ip_addresses) as string[] };
}
