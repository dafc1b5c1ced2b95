import { IntegerScalar, StringScalar, UnixTimeScalar } from '../framework/scalars.js';
import { objectType } from '../framework/types.js';

/** An API token as OpenAPI 2.68 `APIToken` gives it; `secret` is null except where it was just made. */
export const ApiTokenObject = objectType({
  id: 'CoreAPI/Objects/APIToken',
  name: 'APIToken',
  fields: {
    id: { type: StringScalar },
    name: { type: StringScalar },
    organization_id: { type: StringScalar, nullable: true },
    authorized_ip_addresses: { type: StringScalar, array: true },
    expires_at: { type: UnixTimeScalar, nullable: true },
    rate_limit: { type: IntegerScalar },
    scopes: { type: StringScalar, array: true },
    secret: {
      type: StringScalar,
      nullable: true,
      description: 'The secret will only be returned on token creation or when a new secret is generated.',
      value: (token: { secret?: string }) => token.secret ?? null,
    },
  },
});
