/**
 * `dbp token create|list|revoke`: API tokens from the command line. The CLI acts as the operator, so
 * it may grant any scope; what it grants is validated exactly as the API validates it.
 */
import { NotFound } from '../../services/errors.js';
import type { TokenRecord } from '../../services/tokens.js';
import { MAX_RATE_LIMIT } from '../../services/tokens.js';
import { integerOption, printObject, requireString, UsageError } from '../options.js';
import { commandGroup, findOrganization } from './inventory.js';

function scopesOption(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  const scopes = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (scopes.length === 0) throw new UsageError('--scopes names no scope; leave it out to grant every scope');
  return scopes;
}

/** What `list` and `create` print of a token (never its secret). */
function tokenFields(token: TokenRecord) {
  return {
    id: token.id,
    name: token.name,
    organization_id: token.organization_id,
    scopes: token.scopes,
    authorized_ip_addresses: token.authorized_ip_addresses,
    expires_at: token.expires_at,
    rate_limit: token.rate_limit,
  };
}

export const tokenCommand = commandGroup('token', {
  create: {
    options: {
      org: { type: 'string' },
      scopes: { type: 'string' },
      name: { type: 'string' },
      'rate-limit': { type: 'string' },
      allow: { type: 'string', multiple: true },
      'expires-at': { type: 'string' },
    },
    async run(services, values, _positionals, json) {
      const organization = await findOrganization(services, requireString(values.org, 'org'));
      const { token, secret } = await services.tokens.create({
        organizationId: organization.id,
        name: values.name as string | undefined,
        scopes: scopesOption(values.scopes),
        rateLimit: integerOption(values['rate-limit'], 'rate-limit', 1, MAX_RATE_LIMIT),
        authorizedIpAddresses: values.allow as string[] | undefined,
        expiresAt: integerOption(values['expires-at'], 'expires-at', 0, Number.MAX_SAFE_INTEGER),
      });
      printObject(json, 'API token created (the secret is shown only this once)', { ...tokenFields(token), secret });
    },
  },
  list: {
    options: { org: { type: 'string' } },
    async run(services, values, _positionals, json) {
      const organization = await findOrganization(services, requireString(values.org, 'org'));
      const tokens = (await services.tokens.allForOrganization(organization.id)).map(tokenFields);
      if (json) {
        process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
        return;
      }
      if (tokens.length === 0) process.stdout.write(`No API tokens in ${organization.sub_domain}\n`);
      for (const token of tokens) {
        const limits = [
          `${token.rate_limit}/min`,
          token.expires_at === null ? 'no expiry' : `expires ${new Date(token.expires_at * 1000).toISOString()}`,
          token.authorized_ip_addresses.length === 0 ? 'any network' : token.authorized_ip_addresses.join(' '),
        ];
        process.stdout.write(`${token.id}  ${token.name}  [${token.scopes.join(', ')}]  ${limits.join('  ')}\n`);
      }
    },
  },
  revoke: {
    options: {},
    positionals: ['ID'],
    async run(services, _values, [id], json) {
      const token = await services.tokens.find(id!);
      if (!token) throw new NotFound(`No API token with id "${id}"`);
      await services.tokens.delete(token.id);
      printObject(json, 'API token revoked (its secret no longer works)', { id: token.id, name: token.name, organization_id: token.organization_id });
    },
  },
});
