/** Pieces the API token endpoints share: scopes, the properties argument set, annotations, the grantor. */
import type { Identity } from '../../../framework/endpoint.js';
import type { Services } from '../../../../services/index.js';
import { IntegerScalar, StringScalar, UnixTimeScalar } from '../../../framework/scalars.js';
import { argumentSet, type ArgumentValues } from '../../../framework/types.js';
import type { AnnotationFilter, Grantor, TokenProperties } from '../../../../services/tokens.js';

export const API_TOKEN_SCOPES = ['api_tokens', 'api_tokens:read'] as const;
export const API_TOKEN_MANAGE_SCOPES = ['api_tokens'] as const;
export const API_TOKEN_TAG = 'API tokens';

/** Where API tokens come from, for the served documents' description of the bearer scheme. */
export const API_TOKEN_SOURCE =
  'Tokens are made with `dbp token create` or through the API token endpoints ' +
  '(`POST /core/v1/organizations/organization/api_tokens`); the secret is shown once, when the token is made or its secret regenerated.';

const apiTokenArguments = {
  name: { type: StringScalar },
  authorized_ip_addresses: { type: StringScalar, array: true, description: 'IPv4/IPv6 addresses and CIDR ranges the token may be used from; empty: anywhere' },
  expires_at: { type: UnixTimeScalar },
  scopes: { type: StringScalar, array: true },
  // Not in OpenAPI 2.68's APITokenArguments: an addition of this service (see the README).
  rate_limit: { type: IntegerScalar, description: 'Requests permitted per minute (not in the official API: an addition of this service)' },
} as const;

export const ApiTokenArguments = argumentSet({
  id: 'CoreAPI/ArgumentSets/APITokenArguments',
  name: 'APITokenArguments',
  arguments: apiTokenArguments,
});

export const KeyValueArguments = argumentSet({
  id: 'CoreAPI/ArgumentSets/KeyValue',
  name: 'KeyValue',
  arguments: {
    key: { type: StringScalar, required: true },
    value: { type: StringScalar },
  },
});

export const annotationsArgument = { annotations: { type: KeyValueArguments, array: true } } as const;

type Annotations = ArgumentValues<typeof annotationsArgument>['annotations'];

/** The service's view of the `properties` and `annotations` arguments. */
export function tokenProperties(
  properties: Partial<ArgumentValues<typeof apiTokenArguments>>,
  annotations: Annotations | null | undefined,
): TokenProperties {
  return {
    name: properties.name,
    scopes: properties.scopes,
    authorizedIpAddresses: properties.authorized_ip_addresses,
    expiresAt: properties.expires_at,
    rateLimit: properties.rate_limit,
    // The official KeyValue answers `value` as a string: an annotation given without one holds ''.
    annotations: annotations?.map((annotation) => ({ key: annotation.key ?? '', value: annotation.value ?? '' })),
  };
}

/** The service's view of the token list's `annotations` filter: a value left out (or null) matches any value. */
export function annotationFilters(annotations: Annotations | null | undefined): AnnotationFilter[] {
  return (annotations ?? []).map((annotation) => ({ key: annotation.key ?? '', value: annotation.value ?? null }));
}

/** The calling token, as the authority for what it makes, changes or deletes: its scopes, rate limit, networks and expiry. */
export function grantorOf(identity: Identity, services: Services): Promise<Grantor> {
  return services.tokens.grantor(identity.tokenId);
}
