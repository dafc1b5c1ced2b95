/**
 * Typed API errors. An error *definition* is declared once (code, status, description, the fields of its
 * detail) and listed by the endpoints that may return it; an `ApiError` is a thrown instance of one,
 * rendered in one place (the HTTP layer) as `{"error":{code,description,detail}}`.
 */
import type { ValueType } from './value-types.js';

export interface ErrorDefinition {
  /** Apia-style identifier, e.g. `CoreAPI/Errors/PermissionDenied`. */
  readonly id: string;
  readonly code: string;
  readonly httpStatus: number;
  readonly description: string;
  /** The fields of `detail`, for the OpenAPI document. */
  readonly detailFields: Readonly<Record<string, DetailField>>;
}

export interface DetailField {
  readonly type: ValueType;
  readonly nullable?: boolean;
  readonly array?: boolean;
  readonly description?: string;
}

export function defineError(definition: {
  id: string;
  code: string;
  httpStatus: number;
  description: string;
  detail?: Record<string, DetailField>;
}): ErrorDefinition {
  return { ...definition, detailFields: definition.detail ?? {} };
}

export class ApiError extends Error {
  constructor(
    readonly definition: ErrorDefinition,
    readonly detail: Record<string, unknown> = {},
    /** Overrides the definition's description for this occurrence (framework errors name the argument). */
    readonly descriptionOverride?: string,
  ) {
    super(definition.code);
  }

  /** Extra response headers this occurrence carries (the rate-limit headers on a 429, say). */
  headers: Record<string, string> = {};

  withHeaders(headers: Record<string, string>): this {
    this.headers = { ...this.headers, ...headers };
    return this;
  }

  get httpStatus(): number {
    return this.definition.httpStatus;
  }

  get description(): string {
    return this.descriptionOverride ?? this.definition.description;
  }
}

/** Throws the given error; for use in expressions. */
export function fail(definition: ErrorDefinition, detail: Record<string, unknown> = {}): never {
  throw new ApiError(definition, detail);
}
