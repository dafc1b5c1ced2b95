/**
 * One declaration per endpoint: route, scopes, arguments (with lookups), the errors it may return,
 * the fields it answers with and a small action. Routing, argument parsing, serialization, error
 * rendering and the OpenAPI document are all derived from these declarations.
 */
import type { Services } from '../../services/index.js';
import type { ErrorDefinition } from './errors.js';
import { FieldSpec } from './field-spec.js';
import type { Identity } from './identity.js';
import { compileFieldWriter, type JsonWriter } from './serializer.js';
import type { ArgumentDefinition, ArgumentValues, FieldDefinition } from './types.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export type { Identity };

/**
 * What an action is given: its parsed arguments, the caller and the services, plus whatever else the
 * application hands its endpoints (`X`, supplied by its HTTP layer; nothing by default).
 */
export type ActionContext<A extends Record<string, ArgumentDefinition<any>>, X extends object = {}> = {
  readonly args: ArgumentValues<A>;
  readonly identity: Identity;
  readonly services: Services;
} & X;

export interface EndpointField extends FieldDefinition {
  /** Which fields of the value to return; `*` (everything) when left out. */
  readonly spec?: string;
}

export interface EndpointDefinition<A extends Record<string, ArgumentDefinition<any>> = any, X extends object = any> {
  /** Apia-style identifier, e.g. `CoreAPI/Endpoints/DiskBackupPolicies/UpdateEndpoint`. */
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly method: HttpMethod;
  /** Below the API's namespace, with `:placeholder` segments, e.g. `disks/:disk/disk_backup_policies`. */
  readonly route: string;
  readonly tag: string;
  /** Any one of these grants access; empty means no scope is needed. */
  readonly scopes: readonly string[];
  readonly arguments: A;
  /** Errors of the endpoint itself; those of its lookups and of authentication are added automatically. */
  readonly errors: readonly ErrorDefinition[];
  readonly fields: Readonly<Record<string, EndpointField>>;
  readonly httpStatus?: number;
  /** A bodiless GET's answer may be cached per organization generation (default); false when it is made from rows the generation does not follow. */
  readonly cacheable?: boolean;
  /**
   * The answer when the action only starts the work (it returns `Accepted`): status 202 with these
   * fields. Endpoints that never do so leave it out.
   */
  readonly accepted?: { readonly description: string; readonly fields: Readonly<Record<string, EndpointField>> };
  readonly action: (context: ActionContext<A, X>) => Promise<Record<string, unknown> | Accepted>;
}

/** An action's answer when the work goes on after the response: written with the endpoint's `accepted` fields, status 202. */
export class Accepted {
  constructor(readonly result: Record<string, unknown>) {}
}

export interface CompiledEndpoint extends EndpointDefinition {
  /** Writes the action's (finished) result as the response body. */
  readonly writeBody: (result: Record<string, unknown>) => string;
  /** Writes the action's result as the response body, with its status. */
  readonly writeResponse: (result: Record<string, unknown> | Accepted) => { httpStatus: number; body: string };
}

export function defineEndpoint<const A extends Record<string, ArgumentDefinition<any>>, X extends object = {}>(
  definition: EndpointDefinition<A, X>,
): EndpointDefinition<A, X> {
  return definition;
}

export function compileEndpoint(definition: EndpointDefinition): CompiledEndpoint {
  const writeBody = compileBodyWriter(definition.fields);
  const writeAccepted = definition.accepted ? compileBodyWriter(definition.accepted.fields) : undefined;
  const httpStatus = definition.httpStatus ?? 200;
  const writeResponse = (result: Record<string, unknown> | Accepted) => {
    if (!(result instanceof Accepted)) return { httpStatus, body: writeBody(result) };
    if (!writeAccepted) throw new Error(`${definition.id} answered Accepted but declares no accepted fields`);
    return { httpStatus: 202, body: writeAccepted(result.result) };
  };
  return { ...definition, writeBody, writeResponse };
}

function compileBodyWriter(fields: Readonly<Record<string, EndpointField>>): (result: Record<string, unknown>) => string {
  const writers: { name: string; key: string; write: JsonWriter }[] = Object.entries(fields).map(([name, field]) => ({
    name,
    key: `${JSON.stringify(name)}:`,
    write: compileFieldWriter(field, FieldSpec.parse(field.spec ?? '*'), []),
  }));
  return (result) => `{${writers.map(({ name, key, write }) => key + write(result[name])).join(',')}}`;
}
