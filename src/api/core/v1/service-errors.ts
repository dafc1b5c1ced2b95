/** How the failures of use cases read on the wire. */
import { ApiError } from '../../framework/errors.js';
import { InvalidTimestamp as InvalidTimestampFailure, ValidationFailed } from '../../../services/errors.js';
import { TokenBeyondGrantor } from '../../../services/tokens.js';
import { InvalidTimestamp, PermissionDenied, ValidationError } from './errors.js';

export function translateServiceError(error: unknown): ApiError | null {
  if (error instanceof ValidationFailed) return new ApiError(ValidationError, { errors: [...error.errors] });
  if (error instanceof InvalidTimestampFailure) return new ApiError(InvalidTimestamp);
  if (error instanceof TokenBeyondGrantor) return new ApiError(PermissionDenied, { details: error.message });
  return null;
}
