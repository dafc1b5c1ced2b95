/** Errors raised by the framework itself rather than by an endpoint, as the Core API names them. */
import { defineError } from './errors.js';
import { StringScalar, IntegerScalar } from './scalars.js';

export const RouteNotFound = defineError({
  id: 'Apia/RouteNotFound',
  code: 'route_not_found',
  httpStatus: 404,
  description: 'No route matches the given path and method',
});

export const MissingRequiredArgument = defineError({
  id: 'Apia/MissingRequiredArgument',
  code: 'missing_required_argument',
  httpStatus: 400,
  description: 'A required argument has not been provided',
  detail: { path: { type: StringScalar, array: true } },
});

export const InvalidArgument = defineError({
  id: 'Apia/InvalidArgument',
  code: 'invalid_argument',
  httpStatus: 400,
  description: 'An argument is invalid',
  detail: {
    path: { type: StringScalar, array: true },
    index: { type: IntegerScalar, nullable: true },
    issue: { type: StringScalar },
    issue_description: { type: StringScalar, nullable: true },
    errors: { type: StringScalar, array: true },
  },
});

export const InvalidJsonBody = defineError({
  id: 'Apia/InvalidJSONBody',
  code: 'invalid_json_body',
  httpStatus: 400,
  description: 'The JSON body provided with this request is invalid',
  detail: { details: { type: StringScalar } },
});

export const ScopeNotGranted = defineError({
  id: 'Apia/ScopeNotGrantedError',
  code: 'scope_not_granted',
  httpStatus: 403,
  description: 'The scope required for this endpoint has not been granted to the authenticating identity',
  detail: { scopes: { type: StringScalar, array: true } },
});

export const UnhandledException = defineError({
  id: 'Apia/UnhandledException',
  code: 'unhandled_exception',
  httpStatus: 500,
  description: 'An unexpected error occurred',
});

export const ServiceUnavailable = defineError({
  id: 'CoreAPI/Errors/ServiceUnavailable',
  code: 'service_unavailable',
  httpStatus: 503,
  description: 'The service is currently unavailable, please try again later',
});

/** A request HTTP itself cannot make sense of (a path with broken percent-encoding, say). */
export const BadRequest = defineError({
  id: 'DBP/Errors/BadRequest',
  code: 'bad_request',
  httpStatus: 400,
  description: 'The request could not be understood',
  detail: { details: { type: StringScalar } },
});

export const RequestTooLarge = defineError({
  id: 'DBP/Errors/RequestTooLarge',
  code: 'request_too_large',
  httpStatus: 413,
  description: 'The request body is larger than this service accepts',
});
