/** The Core API's own errors (those of authentication, lookups and endpoints). */
import { defineError } from '../../framework/errors.js';
import { IntegerScalar, StringScalar } from '../../framework/scalars.js';
import { TrashObjectObject } from '../../objects/trash.js';
import { ServiceUnavailable } from '../../framework/framework-errors.js';

export const MissingApiToken = defineError({
  id: 'CoreAPI/Authenticator/MissingAPIToken',
  code: 'missing_api_token',
  httpStatus: 400,
  description: 'No API token was provided in the Authorization header. Ensure a token is provided prefixed with Bearer',
});

export const InvalidApiToken = defineError({
  id: 'CoreAPI/Authenticator/InvalidAPIToken',
  code: 'invalid_api_token',
  httpStatus: 403,
  description: 'The API token provided was not valid (it may not exist or have expired)',
  detail: { details: { type: StringScalar, nullable: true } },
});

export const UnauthorizedNetworkForApiToken = defineError({
  id: 'CoreAPI/Authenticator/UnauthorizedNetworkForAPIToken',
  code: 'unauthorized_network_for_api_token',
  httpStatus: 403,
  description: 'Network is not allowed to access the API with this API token',
  detail: { ip_address: { type: StringScalar, description: 'The IP address the request was received from' } },
});

export const RateLimitReached = defineError({
  id: 'CoreAPI/Errors/RateLimitReached',
  code: 'rate_limit_reached',
  httpStatus: 429,
  description: 'You have reached the rate limit for this type of request',
  detail: { total_permitted: { type: IntegerScalar, description: 'The total number of requests per minute that are permitted' } },
});

export const PermissionDenied = defineError({
  id: 'CoreAPI/Errors/PermissionDenied',
  code: 'permission_denied',
  httpStatus: 403,
  description: 'The authenticated identity is not permitted to perform this action',
  detail: { details: { type: StringScalar, nullable: true, description: 'Additional information regarding the reason why permission was denied' } },
});

export const ObjectInTrash = defineError({
  id: 'CoreAPI/Errors/ObjectInTrash',
  code: 'object_in_trash',
  httpStatus: 406,
  description:
    'The object found is in the trash and therefore cannot be manipulated through the API. It should be restored in order to run this operation.',
  detail: { trash_object: { type: TrashObjectObject, nullable: true } },
});

export const ValidationError = defineError({
  id: 'CoreAPI/Errors/ValidationError',
  code: 'validation_error',
  httpStatus: 422,
  description: 'A validation error occurred with the object that was being created/updated/deleted',
  detail: { errors: { type: StringScalar, array: true } },
});

export const OrganizationNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/OrganizationLookup/OrganizationNotFound',
  code: 'organization_not_found',
  httpStatus: 404,
  description: 'No organization was found matching any of the criteria provided in the arguments',
});

export const OrganizationSuspended = defineError({
  id: 'CoreAPI/ArgumentSets/OrganizationLookup/OrganizationSuspended',
  code: 'organization_suspended',
  httpStatus: 403,
  description: 'An organization was found from the arguments provided but it was suspended',
});

export const DiskNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/DiskLookup/DiskNotFound',
  code: 'disk_not_found',
  httpStatus: 404,
  description: 'No disk was found matching any of the criteria provided in the arguments',
});

export const VirtualMachineNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/VirtualMachineLookup/VirtualMachineNotFound',
  code: 'virtual_machine_not_found',
  httpStatus: 404,
  description: 'No virtual machine was found matching any of the criteria provided in the arguments',
});

export const DiskBackupPolicyNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/DiskBackupPolicyLookup/DiskBackupPolicyNotFound',
  code: 'disk_backup_policy_not_found',
  httpStatus: 404,
  description: 'No disk backup policy was found matching any of the criteria provided in the arguments',
});

export const TrashObjectNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/TrashObjectLookup/TrashObjectNotFound',
  code: 'trash_object_not_found',
  httpStatus: 404,
  description: 'No trash object was found matching any of the criteria provided in the arguments',
});

export const ApiTokenNotFound = defineError({
  id: 'CoreAPI/ArgumentSets/APITokenLookup/APITokenNotFound',
  code: 'api_token_not_found',
  httpStatus: 404,
  description: 'No API token was found matching any of the criteria provided in the arguments',
});

export const InvalidTimestamp = defineError({
  id: 'CoreAPI/Endpoints/DiskBackupPolicies/ScheduleDeleteEndpoint/InvalidTimestamp',
  code: 'invalid_timestamp',
  httpStatus: 400,
  description:
    'Timestamp must be at least 5 minutes in the future. If you want to delete something immediately, you use can use the delete endpoint.',
});

/** Errors any authenticated endpoint may answer before its own work starts. */
export const AUTHENTICATION_ERRORS = [
  MissingApiToken,
  InvalidApiToken,
  UnauthorizedNetworkForApiToken,
  OrganizationSuspended,
  RateLimitReached,
  ServiceUnavailable,
];
