/**
 * `dbp token create|list|revoke`: API tokens from the command line. The CLI acts as the operator, so
 * it may grant any scope; what it grants is validated exactly as the API validates it.
 */
import { Option, type Command } from 'commander';
import { NotFound } from '../../services/errors.js';
import type { TokenRecord } from '../../services/tokens.js';
import { MAX_RATE_LIMIT } from '../../services/tokens.js';
import { collect, groupCommand, leafCommand, printJson, printObject, UsageError, wholeNumber } from '../options.js';
import { withServices } from '../with-services.js';
import { findOrganization } from './inventory.js';

function scopesOption(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
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

export function registerTokenCommands(program: Command): void {
  const token = groupCommand(program, 'token', 'API tokens: create, list, revoke', ['dbp token create --org acme', 'dbp token list --org acme']);

  leafCommand(token, 'create', 'create an API token; prints its secret once', [
    'dbp token create --org acme --name ci --scopes disk_backup_policies:read',
    'dbp token create --org acme --rate-limit 100 --allow 10.0.0.0/8 --allow 192.0.2.7 --expires-at 1893456000',
  ])
    .requiredOption('--org <org>', 'an organization id or sub-domain (required)')
    .option('--scopes <a,b,…>', 'the scopes it grants, comma-separated (default: every scope)')
    .option('--name <name>', "the token's name")
    .addOption(new Option('--rate-limit <n>', `requests a minute, 1 to ${MAX_RATE_LIMIT} (default: 1000)`).argParser(wholeNumber('rate-limit', 1, MAX_RATE_LIMIT)))
    .option('--allow <cidr>', 'an address or CIDR range it may be used from (repeatable; default: any network)', collect)
    .addOption(new Option('--expires-at <unix>', 'when it stops working (Unix time; default: never)').argParser(wholeNumber('expires-at', 0, Number.MAX_SAFE_INTEGER)))
    .action(async (flags: { org: string; scopes?: string; name?: string; rateLimit?: number; allow?: string[]; expiresAt?: number }, command: Command) => {
      const scopes = scopesOption(flags.scopes);
      await withServices(command, async (services, json) => {
        const organization = await findOrganization(services, flags.org);
        const { token: created, secret } = await services.tokens.create({
          organizationId: organization.id,
          name: flags.name,
          scopes,
          rateLimit: flags.rateLimit,
          authorizedIpAddresses: flags.allow,
          expiresAt: flags.expiresAt,
        });
        printObject(json, 'API token created (the secret is shown only this once)', { ...tokenFields(created), secret });
      });
    });

  leafCommand(token, 'list', "the organization's tokens (never their secrets)", ['dbp token list --org acme --json'])
    .requiredOption('--org <org>', 'an organization id or sub-domain (required)')
    .action(async (flags: { org: string }, command: Command) =>
      withServices(command, async (services, json) => {
        const organization = await findOrganization(services, flags.org);
        const tokens = (await services.tokens.allForOrganization(organization.id)).map(tokenFields);
        if (json) return printJson(tokens);
        if (tokens.length === 0) process.stdout.write(`No API tokens in ${organization.sub_domain}\n`);
        for (const listed of tokens) {
          const limits = [
            `${listed.rate_limit}/min`,
            listed.expires_at === null ? 'no expiry' : `expires ${new Date(listed.expires_at * 1000).toISOString()}`,
            listed.authorized_ip_addresses.length === 0 ? 'any network' : listed.authorized_ip_addresses.join(' '),
          ];
          process.stdout.write(`${listed.id}  ${listed.name}  [${listed.scopes.join(', ')}]  ${limits.join('  ')}\n`);
        }
      }),
    );

  leafCommand(token, 'revoke', 'delete a token: its secret stops working at once', ['dbp token revoke apitoken_AbCdEfGh12345678'])
    .argument('<ID>', 'the token id')
    .action(async (id: string, _flags: object, command: Command) =>
      withServices(command, async (services, json) => {
        const found = await services.tokens.find(id);
        if (!found) throw new NotFound(`No API token with id "${id}"`);
        await services.tokens.delete(found.id);
        printObject(json, 'API token revoked (its secret no longer works)', { id: found.id, name: found.name, organization_id: found.organization_id });
      }),
    );
}
