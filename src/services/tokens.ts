/**
 * API tokens. A token belongs to one organization and holds scopes; only a SHA-256 hash of its
 * secret is stored, so a leaked database holds no working token. The secret is shown once, when it
 * is made (creation or regeneration).
 *
 * A token may be restricted to networks (`authorized_ip_addresses`), may expire, and has a rate
 * limit. Tokens made through the API are made by another token (the *grantor*), which can give no
 * scope it lacks itself, no higher rate limit than its own, no network outside its own allow-list
 * (when it has one) and no expiry later than its own (when it has one); and it may update,
 * regenerate or delete only tokens within those same limits (see `withinGrantor`).
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { sql, type Kysely, type RawBuilder, type Updateable } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { newId, randomToken } from '../domain/ids.js';
import { networkListErrors, networksOutside, NetworkSet } from '../domain/networks.js';
import { ALL_SCOPES, isScope } from '../domain/scopes.js';
import { Coalescer } from '../store/coalescing.js';
import { prepareQuery } from '../store/prepared.js';
import type { ChangeCounters, Engine } from '../store/database.js';
import type { ApiToken, ApiTokensTable, Database } from '../store/schema.js';
import { NotFound, ValidationFailed } from './errors.js';
import { countUpTo } from './inventory.js';
import { offsetOf, paginationFor, type Page, type PageRequest } from './pagination.js';

export const DEFAULT_RATE_LIMIT = 1000;
/** The largest value the `rate_limit` column (a 32-bit integer on PostgreSQL) holds. */
export const MAX_RATE_LIMIT = 2_147_483_647;
const SECRET_LENGTH = 48;
const MAX_NAME_LENGTH = 255;
/**
 * Bounds of the per-process caches authentication keeps of pure computations on stored text
 * (never of stored state): compiled network lists, network decisions per (list, address), scope sets.
 */
const NETWORK_CACHE_SIZE = 1000;
const NETWORK_DECISION_CACHE_SIZE = 10_000;
const SCOPE_SET_CACHE_SIZE = 1000;

export interface Annotation {
  readonly key: string;
  readonly value: string;
}

/** One annotation a listed token must have: this key, and this value when one is given. */
export interface AnnotationFilter {
  readonly key: string;
  readonly value?: string | null | undefined;
}

/** What may be set on a token; left out (undefined) keeps the current value (or the default on creation). */
export interface TokenProperties {
  name?: string | null | undefined;
  /** Left out on creation: every scope the grantor holds. */
  scopes?: readonly string[] | null | undefined;
  authorizedIpAddresses?: readonly string[] | null | undefined;
  /** Unix seconds; null: never expires. */
  expiresAt?: number | null | undefined;
  rateLimit?: number | null | undefined;
  annotations?: readonly Annotation[] | null | undefined;
}

export interface NewToken extends TokenProperties {
  organizationId: string;
}

/** The token on whose authority a token is made or changed (absent for the CLI, which may grant anything). */
export interface Grantor {
  readonly scopes: ReadonlySet<string>;
  readonly rateLimit: number;
  /** Its allow-list; empty: it works from anywhere. */
  readonly authorizedIpAddresses: readonly string[];
  /** Unix seconds; null: it never expires. */
  readonly expiresAt: number | null;
}

export interface TokenRecord extends Omit<ApiToken, 'scopes' | 'authorized_ip_addresses' | 'secret_hash' | 'annotations'> {
  readonly scopes: string[];
  readonly authorized_ip_addresses: string[];
  readonly annotations: Annotation[];
}

/** What a grantor's authority over an existing token is judged by. */
export type TokenLimits = Pick<TokenRecord, 'id' | 'scopes' | 'authorized_ip_addresses' | 'expires_at'>;

/** What a request needs of the token that authenticated it. */
export interface AuthenticatedToken {
  readonly id: string;
  readonly organization_id: string;
  readonly rate_limit: number;
  readonly scopes: ReadonlySet<string>;
}

export type Authentication =
  | {
      readonly ok: true;
      readonly token: AuthenticatedToken;
      readonly organizationSuspended: boolean;
      /**
       * Moves whenever anything the organization's API answers are made from may have changed: the
       * organization's generation, or on SQLite the store's count of any change (see response-cache.ts).
       */
      readonly answersVersion: number;
      /**
       * Asked to count the request (`countInWindow`) on PostgreSQL: the token's count in that window
       * after this request, counted by the same statement that read the token. Undefined when it was not
       * counted there (then the rate limiter counts it).
       */
      readonly windowUsed?: number | undefined;
    }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' | 'unauthorized_network' };

/**
 * A token whose scopes, networks or expiry reach beyond its grantor's may not be changed, given a
 * new secret or deleted by it (it could take it over, or remove a wider token it could not make).
 */
export class TokenBeyondGrantor extends Error {}

/** Tokens remembered between requests while their rows are unchanged (SQLite); cleared when full. */
const RECENTLY_FOUND_LIMIT = 10_000;
/** The tables the token query reads (a generation bump by a trigger does not count: see ChangeCounters). */
const TOKEN_TABLES = ['api_tokens', 'organizations'] as const;

const UNKNOWN: Authentication = { ok: false, reason: 'unknown' };
const EXPIRED: Authentication = { ok: false, reason: 'expired' };
const UNAUTHORIZED_NETWORK: Authentication = { ok: false, reason: 'unauthorized_network' };

/**
 * A token as a request needs it, kept by its exact secret with the version it was read at:
 * - SQLite: the store's version of the tokens and organizations tables. A revocation, a new secret,
 *   new networks, a new expiry or a suspension — by this process or any other — moves it, and the
 *   next request reads the row again.
 * - PostgreSQL: the token row's own version (`xmin`, which every update of the row replaces). Each
 *   request is still counted by a statement that started after it arrived (shared with concurrent
 *   requests), which counts it only while that version is current and reads the suspension afresh
 *   (see prepareCountKnown); on a change the row is read again.
 * The expiry is checked against the clock on every request.
 */
interface RecentToken {
  readonly version: number | string;
  readonly row: TokenRow;
  readonly token: AuthenticatedToken;
  /** The last client address checked against the token's networks, and the answer. */
  address: string | undefined;
  allowed: boolean;
}

export class TokenService {
  private readonly findBySecretHash: ReturnType<typeof prepareFindBySecretHash>;
  /** PostgreSQL: the statements that read a token and count the request at once. */
  private readonly counting: { readonly findAndCount: FindAndCount; readonly knownCounts: KnownCounts } | undefined;
  private readonly recentlyFound = new Map<string, RecentToken>();
  private readonly networkSets = new Map<string, NetworkSet>();
  private readonly networkDecisions = new Map<string, boolean>();
  private readonly scopeSets = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    /** SQLite: a token read is reused while nothing it was read from changed (see `Store.changes`). */
    private readonly changes?: ChangeCounters,
    /** PostgreSQL: the token query can count the request in its rate-limit window (one round trip). */
    private readonly engine: Engine = 'sqlite',
  ) {
    this.findBySecretHash = prepareFindBySecretHash(db);
    this.counting = engine === 'postgres' ? { findAndCount: prepareFindAndCount(db), knownCounts: prepareCountKnown(db) } : undefined;
  }

  async create(input: NewToken, grantor?: Grantor): Promise<{ token: TokenRecord; secret: string }> {
    const scopes = input.scopes ?? ALL_SCOPES.filter((scope) => !grantor || grantor.scopes.has(scope));
    const rateLimit = input.rateLimit ?? (grantor ? Math.min(grantor.rateLimit, DEFAULT_RATE_LIMIT) : DEFAULT_RATE_LIMIT);
    // Left out, networks and expiry are the grantor's own (none for the CLI): never wider than it.
    const authorizedIpAddresses = input.authorizedIpAddresses ?? grantor?.authorizedIpAddresses ?? [];
    const expiresAt = input.expiresAt === undefined ? (grantor?.expiresAt ?? null) : input.expiresAt;
    const properties = { ...input, scopes, rateLimit, authorizedIpAddresses, expiresAt };
    this.validate(properties, grantor, 'create');
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
        authorized_ip_addresses: JSON.stringify(authorizedIpAddresses),
        expires_at: expiresAt,
        rate_limit: rateLimit,
        annotations: JSON.stringify(input.annotations ?? []),
        created_at: this.clock.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { token: tokenRecord(row), secret };
  }

  /** Changes the given properties of a token (one statement); the secret stays as it is. */
  async update(token: TokenRecord, properties: TokenProperties, grantor?: Grantor): Promise<TokenRecord> {
    this.ensureWithinGrantor(token, grantor);
    this.validate(properties, grantor, 'update');
    const changes: Updateable<ApiTokensTable> = {};
    if (properties.name !== undefined && properties.name !== null) changes.name = properties.name.trim();
    if (properties.scopes) changes.scopes = JSON.stringify([...new Set(properties.scopes)]);
    if (properties.authorizedIpAddresses) changes.authorized_ip_addresses = JSON.stringify(properties.authorizedIpAddresses);
    if (properties.expiresAt !== undefined) changes.expires_at = properties.expiresAt;
    if (properties.rateLimit !== undefined && properties.rateLimit !== null) changes.rate_limit = properties.rateLimit;
    if (properties.annotations) changes.annotations = JSON.stringify(properties.annotations);
    if (Object.keys(changes).length === 0) return token;
    const row = await this.db.updateTable('api_tokens').set(changes).where('id', '=', token.id).returningAll().executeTakeFirst();
    if (!row) throw new NotFound(`No API token ${token.id}`);
    return tokenRecord(row);
  }

  /** Deletes a token: its secret stops working at once. A grantor may delete only a token within its limits. */
  async delete(token: string | TokenLimits, grantor?: Grantor): Promise<TokenRecord> {
    if (typeof token !== 'string') this.ensureWithinGrantor(token, grantor);
    else if (grantor) throw new TypeError('A grantor deletes a token it has read (its limits are checked)');
    const tokenId = typeof token === 'string' ? token : token.id;
    const row = await this.db.deleteFrom('api_tokens').where('id', '=', tokenId).returningAll().executeTakeFirst();
    if (!row) throw new NotFound(`No API token ${tokenId}`);
    // Its rate-limit windows (PostgreSQL) go with the minutely clean-up of past windows.
    return tokenRecord(row);
  }

  async find(tokenId: string): Promise<TokenRecord | null> {
    const row = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst();
    return row ? tokenRecord(row) : null;
  }

  /** A page of an organization's tokens; with annotation filters, only the tokens having every one of them. */
  async listForOrganization(organizationId: string, page: PageRequest, annotations: readonly AnnotationFilter[] = []): Promise<Page<TokenRecord>> {
    let base = this.db.selectFrom('api_tokens').where('organization_id', '=', organizationId);
    for (const filter of annotations) base = base.where(this.hasAnnotation(filter));
    const [rows, total] = await Promise.all([
      base.selectAll().orderBy('pk').limit(page.perPage).offset(offsetOf(page)).execute(),
      countUpTo(this.db, base),
    ]);
    return { items: rows.map(tokenRecord), pagination: paginationFor(page, total) };
  }

  /** True for a token (of the query's `api_tokens`) with an annotation of the filter's key, and value if given. */
  private hasAnnotation({ key, value }: AnnotationFilter): RawBuilder<boolean> {
    if (this.engine === 'postgres') {
      const valueMatches = value === null || value === undefined ? sql`` : sql` and a.item ->> 'value' = ${value}`;
      return sql<boolean>`exists (select 1 from jsonb_array_elements(api_tokens.annotations::jsonb) as a(item) where a.item ->> 'key' = ${key}${valueMatches})`;
    }
    const valueMatches = value === null || value === undefined ? sql`` : sql` and json_extract(a.value, '$.value') = ${value}`;
    return sql<boolean>`exists (select 1 from json_each(api_tokens.annotations) as a where json_extract(a.value, '$.key') = ${key}${valueMatches})`;
  }

  /** Every token of an organization, oldest first (for the CLI). */
  async allForOrganization(organizationId: string): Promise<TokenRecord[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().where('organization_id', '=', organizationId).orderBy('pk').execute();
    return rows.map(tokenRecord);
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
  async regenerateSecret(token: TokenLimits, grantor?: Grantor): Promise<{ token: TokenRecord; secret: string }> {
    this.ensureWithinGrantor(token, grantor);
    const secret = randomToken(SECRET_LENGTH);
    const row = await this.db
      .updateTable('api_tokens')
      .set({ secret_hash: hashSecret(secret) })
      .where('id', '=', token.id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new NotFound(`No API token ${token.id}`);
    return { token: tokenRecord(row), secret };
  }

  /**
   * The token whose secret hashes to the given one, with its organization's suspension, checked
   * against its expiry and (given `clientAddress`) its networks. One indexed query; none on SQLite
   * when neither tokens nor organizations changed since the same secret was last seen (`Store.changes`),
   * and then the answer is given at once, without a promise.
   *
   * `countInWindow` (a rate-limit window, PostgreSQL): the same statement also counts the request in
   * the token's shared window when the token is valid, unexpired, of an organization not suspended and
   * used from a network it allows (`windowUsed` in the answer). A token this process has read is
   * kept (see RecentToken) and only counted, if unchanged. The network check is JavaScript's, so
   * the statement is told which stored list this process already knows to allow the address; a token
   * seen for the first time, or whose list changed, is read without counting (and the rate limiter
   * then counts it: two round trips, once).
   */
  authenticate(secret: string, clientAddress?: string, countInWindow?: number): Authentication | Promise<Authentication> {
    const changes = this.changes;
    if (changes === undefined) {
      const counting = this.counting;
      if (countInWindow === undefined || clientAddress === undefined || counting === undefined) return this.authenticateByQuery(secret, clientAddress);
      const recent = this.recentlyFound.get(secret);
      // A refusal is never answered from memory: the row may have changed since (a new expiry, new networks).
      if (recent !== undefined && this.refusal(recent, clientAddress) === undefined) {
        return this.countKnownToken(secret, recent, clientAddress, countInWindow, counting);
      }
      return this.authenticateAndCount(secret, clientAddress, countInWindow, counting.findAndCount);
    }
    // Read before the token, so that a change made meanwhile makes the next request read again.
    const { any: answersVersion, tables: tokenVersion } = changes.read(TOKEN_TABLES);
    const recent = this.recentlyFound.get(secret);
    if (recent !== undefined && recent.version === tokenVersion) return this.check(recent, clientAddress, answersVersion);
    const hash = hashSecret(secret);
    return this.findBySecretHash({ hash }).then(([row]) => {
      if (!row || !secretMatches(row, hash)) return UNKNOWN;
      return this.check(this.remember(secret, row, tokenVersion), clientAddress, answersVersion);
    });
  }

  /** Keeps a token read from its row by its secret, with the version it was read at (see RecentToken). */
  private remember(secret: string, row: TokenRow, version: number | string): RecentToken {
    if (this.recentlyFound.size >= RECENTLY_FOUND_LIMIT) this.recentlyFound.clear();
    const recent: RecentToken = { version, row, token: this.requestToken(row), address: undefined, allowed: false };
    this.recentlyFound.set(secret, recent);
    return recent;
  }

  /**
   * PostgreSQL, a token this process knows and whose expiry and networks admit the request: one
   * statement counts the request if the row is unchanged and the organization not suspended; it is
   * shared with the other requests that arrive while an earlier one runs (see prepareCountKnown),
   * and each request takes its own place in the count. A changed or deleted row is read again
   * (`authenticateAndCount`: a second round trip, once).
   * Every request of a known token runs this, so it has no async frame and builds its answer in one
   * literal: in alternating bench runs that took the PostgreSQL auth share from about 15 % to about
   * 10 % (README, benchmarks).
   */
  private countKnownToken(
    secret: string,
    recent: RecentToken,
    clientAddress: string,
    minute: number,
    { knownCounts, findAndCount }: NonNullable<TokenService['counting']>,
  ): Promise<Authentication> {
    const { token } = recent;
    const version = String(recent.version);
    const asked = knownCounts.ask(`${token.id}\u0000${minute}\u0000${version}`, { tokenId: token.id, version, minute });
    return asked.then(({ answer: row, position, count }): Authentication | Promise<Authentication> => {
      if (row === undefined || row.version !== recent.version) return this.authenticateAndCount(secret, clientAddress, minute, findAndCount);
      return {
        ok: true,
        token,
        organizationSuspended: row.suspended === 1,
        answersVersion: Number(row.generation),
        windowUsed: row.used === null ? undefined : Number(row.used) - count + position,
      };
    });
  }

  private check(recent: RecentToken, clientAddress: string | undefined, answersVersion: number): Authentication {
    return this.refusal(recent, clientAddress) ?? { ok: true, token: recent.token, organizationSuspended: recent.row.suspended === 1, answersVersion };
  }

  /** Why a known token must be refused now (expired, or not from this network), or undefined. */
  private refusal(recent: RecentToken, clientAddress: string | undefined): Authentication | undefined {
    const { row } = recent;
    if (row.expires_at !== null && row.expires_at <= this.clock.now()) return EXPIRED;
    if (clientAddress === undefined) return undefined;
    if (recent.address !== clientAddress) {
      recent.allowed = this.networkAllows(row.authorized_ip_addresses, clientAddress);
      recent.address = clientAddress;
    }
    return recent.allowed ? undefined : UNAUTHORIZED_NETWORK;
  }

  private async authenticateByQuery(secret: string, clientAddress: string | undefined): Promise<Authentication> {
    const hash = hashSecret(secret);
    const [row] = await this.findBySecretHash({ hash });
    if (!row || !secretMatches(row, hash)) return UNKNOWN;
    return this.checkRow(row, clientAddress, this.clock.now());
  }

  /** PostgreSQL: reads the token and counts the request in one statement (see `authenticate`). */
  private async authenticateAndCount(
    secret: string,
    clientAddress: string,
    minute: number,
    findAndCount: FindAndCount,
  ): Promise<Authentication> {
    const hash = hashSecret(secret);
    // The network list last read for this secret, if this process knows it to allow the address.
    const knownList = this.recentlyFound.get(secret)?.row.authorized_ip_addresses;
    const allowingList = knownList !== undefined && this.networkAllows(knownList, clientAddress) ? knownList : null;
    const [row] = await findAndCount({ hash, minute, now: this.clock.now(), allowingList });
    if (!row || !secretMatches(row, hash)) {
      this.recentlyFound.delete(secret);
      return UNKNOWN;
    }
    const answer = this.check(this.remember(secret, row, row.version), clientAddress, Number(row.generation));
    return answer.ok && row.used !== null ? { ...answer, windowUsed: Number(row.used) } : answer;
  }

  private checkRow(row: TokenRow, clientAddress: string | undefined, now: number): Authentication {
    if (row.expires_at !== null && row.expires_at <= now) return EXPIRED;
    if (clientAddress !== undefined && !this.networkAllows(row.authorized_ip_addresses, clientAddress)) return UNAUTHORIZED_NETWORK;
    return { ok: true, token: this.requestToken(row), organizationSuspended: row.suspended === 1, answersVersion: Number(row.generation) };
  }

  private requestToken(row: TokenRow): AuthenticatedToken {
    return { id: row.id, organization_id: row.organization_id, rate_limit: row.rate_limit, scopes: this.scopeSet(row.scopes) };
  }

  private scopeSet(storedScopes: string): ReadonlySet<string> {
    let scopes = this.scopeSets.get(storedScopes);
    if (scopes === undefined) {
      if (this.scopeSets.size >= SCOPE_SET_CACHE_SIZE) this.scopeSets.clear();
      scopes = new Set(JSON.parse(storedScopes) as string[]);
      this.scopeSets.set(storedScopes, scopes);
    }
    return scopes;
  }

  /** An empty list allows every network. Decisions and compiled lists are kept (bounded), keyed by the stored text. */
  private networkAllows(storedList: string, address: string): boolean {
    if (storedList === '[]') return true;
    const key = `${storedList}\u0000${address}`;
    let allowed = this.networkDecisions.get(key);
    if (allowed === undefined) {
      if (this.networkDecisions.size >= NETWORK_DECISION_CACHE_SIZE) this.networkDecisions.clear();
      allowed = this.compiledNetworks(storedList).includes(address);
      this.networkDecisions.set(key, allowed);
    }
    return allowed;
  }

  private compiledNetworks(storedList: string): NetworkSet {
    let networks = this.networkSets.get(storedList);
    if (networks === undefined) {
      if (this.networkSets.size >= NETWORK_CACHE_SIZE) this.networkSets.clear();
      const entries = JSON.parse(storedList) as string[];
      // A list stored before validation existed may hold a bad entry: it matches nothing.
      networks = new NetworkSet(entries.filter((entry) => networkListErrors([entry], '').length === 0));
      this.networkSets.set(storedList, networks);
    }
    return networks;
  }

  /**
   * The authority of an API token over the tokens it manages: its own scopes, rate limit, networks
   * and expiry, read afresh (the token may have changed since it authenticated the request).
   */
  async grantor(tokenId: string): Promise<Grantor> {
    const token = await this.find(tokenId);
    if (!token) throw new TokenBeyondGrantor('The API token making this request no longer exists');
    return {
      scopes: new Set(token.scopes),
      rateLimit: token.rate_limit,
      authorizedIpAddresses: token.authorized_ip_addresses,
      expiresAt: token.expires_at,
    };
  }

  private ensureWithinGrantor(token: TokenLimits, grantor: Grantor | undefined): void {
    if (!grantor) return;
    const reasons: string[] = [];
    const beyond = token.scopes.filter((scope) => !grantor.scopes.has(scope));
    if (beyond.length > 0) reasons.push(`holds scopes this API token does not hold (${beyond.join(', ')})`);
    if (grantor.authorizedIpAddresses.length > 0) {
      if (token.authorized_ip_addresses.length === 0) reasons.push('may be used from any network');
      else {
        const outside = networksOutside(token.authorized_ip_addresses, grantor.authorizedIpAddresses);
        if (outside.length > 0) reasons.push(`may be used from networks outside this API token's (${outside.join(', ')})`);
      }
    }
    if (grantor.expiresAt !== null) {
      if (token.expires_at === null) reasons.push('never expires');
      else if (token.expires_at > grantor.expiresAt) reasons.push('expires after this API token');
    }
    if (reasons.length > 0) throw new TokenBeyondGrantor(`The API token ${reasons.join(', ')}`);
  }

  /** Every problem with the properties, in one ValidationFailed; nothing is written when there is one. */
  private validate(properties: TokenProperties, grantor: Grantor | undefined, action: 'create' | 'update'): void {
    const errors: string[] = [];
    const { name, scopes, authorizedIpAddresses, expiresAt, rateLimit, annotations } = properties;
    if (typeof name === 'string' && name.trim() === '' && action === 'update') errors.push('Name cannot be blank');
    if (typeof name === 'string' && name.trim().length > MAX_NAME_LENGTH) errors.push(`Name is too long (at most ${MAX_NAME_LENGTH} characters)`);
    for (const scope of scopes ?? []) {
      if (!isScope(scope)) errors.push(`Scope ${scope} is not known (known scopes: ${ALL_SCOPES.join(', ')})`);
      else if (grantor && !grantor.scopes.has(scope)) errors.push(`Scope ${scope} cannot be granted by an API token that does not hold it`);
    }
    const networkErrors = networkListErrors(authorizedIpAddresses ?? [], 'Authorized IP addresses');
    errors.push(...networkErrors);
    if (grantor && grantor.authorizedIpAddresses.length > 0 && authorizedIpAddresses && networkErrors.length === 0) {
      if (authorizedIpAddresses.length === 0) {
        errors.push('Authorized IP addresses cannot be empty (any network) when the API token granting it has a list');
      } else {
        for (const entry of networksOutside(authorizedIpAddresses, grantor.authorizedIpAddresses)) {
          errors.push(`Authorized IP addresses: ${entry} is outside the networks of the API token granting it`);
        }
      }
    }
    if (typeof expiresAt === 'number' && expiresAt <= this.clock.now()) errors.push('Expires at must be in the future');
    if (grantor && grantor.expiresAt !== null && expiresAt !== undefined) {
      if (expiresAt === null) errors.push('Expires at cannot be empty (never) when the API token granting it expires');
      else if (expiresAt > grantor.expiresAt) errors.push(`Expires at cannot be later than that of the API token granting it (${grantor.expiresAt})`);
    }
    if (rateLimit !== undefined && rateLimit !== null) {
      if (!Number.isInteger(rateLimit) || rateLimit < 1 || rateLimit > MAX_RATE_LIMIT) {
        errors.push(`Rate limit must be a whole number from 1 to ${MAX_RATE_LIMIT}`);
      } else if (grantor && rateLimit > grantor.rateLimit) {
        errors.push(`Rate limit cannot be higher than that of the API token granting it (${grantor.rateLimit})`);
      }
    }
    const keys = (annotations ?? []).map((annotation) => annotation.key);
    if (keys.some((key) => key.trim() === '')) errors.push('Annotation keys cannot be blank');
    if (new Set(keys).size !== keys.length) errors.push('Annotation keys must be unique');
    if (errors.length > 0) throw new ValidationFailed(errors);
  }
}

/** Every request runs this: one indexed query, prepared once. */
function prepareFindBySecretHash(db: Kysely<Database>) {
  return prepareQuery(db, ['hash'], ({ hash }: { hash: string }) =>
    db
      .selectFrom('api_tokens as t')
      .innerJoin('organizations as o', 'o.id', 't.organization_id')
      // Only what a request needs: fewer columns to read and convert on every request.
      .select(['t.id', 't.organization_id', 't.secret_hash', 't.scopes', 't.authorized_ip_addresses', 't.expires_at', 't.rate_limit'])
      .select(['o.suspended', 'o.generation'])
      .where('t.secret_hash', '=', hash),
  );
}

/**
 * PostgreSQL, every request: the token (as `prepareFindBySecretHash`) and, in the same statement,
 * the request counted in the token's rate-limit window — only when the token is unexpired at `now`,
 * its organization is not suspended and its stored network list is `allowingList` (one this process
 * has checked allows the client). `used` is the window's count after this request, or null when the
 * request was not counted. Both parts see one snapshot and run in one round trip.
 */
function prepareFindAndCount(db: Kysely<Database>) {
  return prepareQuery(
    db,
    ['hash', 'minute', 'now', 'allowingList'],
    ({ hash, minute, now, allowingList }: { hash: string; minute: number; now: number; allowingList: string | null }) => {
      const query = sql<TokenRow & { version: string; used: number | null }>`
        with found as (
          select t.id, t.organization_id, t.secret_hash, t.scopes, t.authorized_ip_addresses, t.expires_at, t.rate_limit,
                 o.suspended, o.generation, cast(t.xmin as text) as version
          from api_tokens t inner join organizations o on o.id = t.organization_id
          where t.secret_hash = ${hash}
        ), counted as (
          insert into rate_limit_windows (token_id, minute, used)
          select id, cast(${minute} as bigint), 1 from found
          where found.authorized_ip_addresses = cast(${allowingList} as text)
            and (found.expires_at is null or found.expires_at > cast(${now} as bigint))
            and found.suspended = 0
          on conflict (token_id, minute) do update set used = rate_limit_windows.used + 1
          returning used
        )
        select found.*, (select used from counted) as used from found`;
      return { compile: () => query.compile(db) };
    },
  );
}

/** What the counting statement answers for one known token (see prepareCountKnown). */
interface KnownTokenCount {
  readonly version: string;
  readonly suspended: number;
  readonly generation: number;
  /** The window's count after this statement's requests of the token; null: they were not counted. */
  readonly used: number | null;
}

interface KnownTokenAsked {
  readonly tokenId: string;
  readonly version: string;
  readonly minute: number;
}

/**
 * PostgreSQL, the requests with tokens this process knows (see RecentToken), coalesced (see
 * coalescing.ts): one statement reads each asked token row's current version and its organization's
 * suspension and generation, and counts its `count` requests in the token's rate-limit window — only
 * when the row is still at the asked version (so nothing this process knows of it has changed) and
 * the organization is not suspended. No answer for a token: it is gone. Several tokens are upserted
 * in key order, so two processes' statements never wait on each other's rows in a cycle. The asked
 * tokens come as arrays (`unnest`), or for one token — the usual case: the requests that overlap are
 * mostly one client's — as plain values, which PostgreSQL runs about a sixth faster.
 */
function prepareCountKnown(db: Kysely<Database>) {
  const counting = (asked: RawBuilder<unknown>) =>
    sql<KnownTokenCount & { asked: string }>`
      with asked as (${asked}), found as (
        select a.position, a.token_id, a.minute, a.count, a.version as asked_version,
               cast(t.xmin as text) as version, o.suspended, o.generation
        from asked a
        inner join api_tokens t on t.id = a.token_id
        inner join organizations o on o.id = t.organization_id
      ), counted as (
        insert into rate_limit_windows (token_id, minute, used)
        select token_id, minute, count from found
        where version = asked_version and suspended = 0
        order by token_id, minute
        on conflict (token_id, minute) do update set used = rate_limit_windows.used + excluded.used
        returning token_id, minute, used
      )
      select cast(f.position as text) as asked, f.version, f.suspended, f.generation, c.used
      from found f
      left join counted c on c.token_id = f.token_id and c.minute = f.minute and f.version = f.asked_version`;
  const countOne = prepareQuery(
    db,
    ['tokenId', 'version', 'minute', 'count'],
    ({ tokenId, version, minute, count }: { tokenId: string; version: string; minute: number; count: number }) => {
      const query = counting(
        sql`select cast(${tokenId} as text) as token_id, cast(${version} as text) as version, cast(${minute} as bigint) as minute,
                   cast(${count} as integer) as count, cast(1 as bigint) as position`,
      );
      return { compile: () => query.compile(db) };
    },
  );
  const countMany = prepareQuery(
    db,
    ['tokenIds', 'versions', 'minutes', 'counts'],
    ({ tokenIds, versions, minutes, counts }: { tokenIds: string[]; versions: string[]; minutes: number[]; counts: number[] }) => {
      const query = counting(
        sql`select * from unnest(cast(${tokenIds} as text[]), cast(${versions} as text[]), cast(${minutes} as bigint[]), cast(${counts} as integer[]))
              with ordinality as a(token_id, version, minute, count, position)`,
      );
      return { compile: () => query.compile(db) };
    },
  );
  return new Coalescer<KnownTokenAsked, KnownTokenCount>(async (asked, counts) => {
    const rows =
      asked.length === 1
        ? await countOne({ ...asked[0]!, count: counts[0]! })
        : await countMany({
            tokenIds: asked.map((a) => a.tokenId),
            versions: asked.map((a) => a.version),
            minutes: asked.map((a) => a.minute),
            counts: [...counts],
          });
    const answers: (KnownTokenCount | undefined)[] = new Array(asked.length);
    for (const row of rows) answers[Number(row.asked) - 1] = row;
    return answers;
  });
}

export function hashSecret(secret: string): string {
  return hash('sha256', secret);
}

type FindAndCount = ReturnType<typeof prepareFindAndCount>;
type KnownCounts = ReturnType<typeof prepareCountKnown>;

/** What the authentication query reads. */
type TokenRow = Pick<ApiToken, 'id' | 'organization_id' | 'secret_hash' | 'scopes' | 'authorized_ip_addresses' | 'expires_at' | 'rate_limit'> & {
  suspended: number;
  generation: number;
};

function secretMatches(row: TokenRow, hash: string): boolean {
  return timingSafeEqual(Buffer.from(row.secret_hash), Buffer.from(hash));
}

function tokenRecord(row: ApiToken): TokenRecord {
  const { secret_hash: _hash, scopes, authorized_ip_addresses, annotations, ...rest } = row;
  return {
    ...rest,
    scopes: JSON.parse(scopes) as string[],
    authorized_ip_addresses: JSON.parse(authorized_ip_addresses) as string[],
    annotations: JSON.parse(annotations) as Annotation[],
  };
}
