import { defineEndpoint } from '../../../framework/endpoint.js';
import { fail } from '../../../framework/errors.js';
import { InvalidApiToken } from '../../../core/v1/errors.js';
import { StringScalar, UnixTimeScalar } from '../../../framework/scalars.js';
import { objectType } from '../../../framework/types.js';
import { resolveTimeZone } from '../../../../domain/schedule.js';

/** What a client (the web console) needs to know of the token it holds and of its organization. */
const CurrentTokenObject = objectType({
  id: 'ExtAPI/Objects/CurrentToken',
  name: 'CurrentToken',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    scopes: { type: StringScalar, array: true, description: 'What the token may do: its screens offer only these' },
    expires_at: { type: UnixTimeScalar, nullable: true },
  },
});

const TokenOrganizationObject = objectType({
  id: 'ExtAPI/Objects/TokenOrganization',
  name: 'TokenOrganization',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    time_zone: { type: StringScalar, description: "The IANA time zone its policies' schedules are read in (its country's; UTC when it has none)" },
  },
});

export default defineEndpoint({
  id: 'ExtAPI/Endpoints/ApiTokens/CurrentEndpoint',
  name: 'The token making the request',
  description: 'Returns the API token the request is made with (its scopes and expiry, never its secret) and its organization with the time zone schedules are read in. Needs no scope.',
  method: 'GET',
  route: 'api_token',
  tag: 'API tokens (extension)',
  scopes: [],
  cacheable: false,
  arguments: {},
  errors: [],
  fields: {
    api_token: { type: CurrentTokenObject },
    organization: { type: TokenOrganizationObject },
  },
  async action({ identity, services }) {
    const [token, organization, timeZone] = await Promise.all([
      services.tokens.find(identity.tokenId),
      services.inventory.findOrganization({ id: identity.organizationId }),
      services.inventory.timeZoneOf(identity.organizationId),
    ]);
    // Deleted since it authenticated this request: answered as any unknown token is.
    if (!token || !organization) return fail(InvalidApiToken);
    return { api_token: token, organization: { id: organization.id, name: organization.name, time_zone: resolveTimeZone(timeZone) } };
  },
});
