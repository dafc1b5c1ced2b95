/**
 * Derives the OpenAPI 3.0 document from the endpoint definitions alone, so that it cannot drift from
 * the code. It follows the official Core API document where that describes the wire (routes with the
 * placeholder rendered as the literal word, GET arguments as `disk[id]` query parameters, other
 * methods' arguments as a JSON body, errors grouped by status) and our own behaviour where the
 * official rendering does not: response bodies are described exactly as `serializer.ts` writes them
 * (same field-spec decisions, polymorphs as `{"type": …, "value": {…}}`) and errors are wrapped as
 * `{"error": {code, description, detail}}`, as the HTTP layer sends them.
 */
import type { EndpointDefinition } from './endpoint.js';
import type { ErrorDefinition } from './errors.js';
import { FieldSpec } from './field-spec.js';
import { InvalidArgument, InvalidJsonBody, MissingRequiredArgument, ScopeNotGranted } from './framework-errors.js';
import {
  resolveType,
  type ArgumentDefinition,
  type FieldDefinition,
  type ObjectType,
  type PolymorphOption,
  type ValueType,
} from './types.js';

type Schema = Record<string, unknown>;
type Arguments = Readonly<Record<string, ArgumentDefinition<any>>>;

export interface OpenApiOptions {
  readonly title: string;
  readonly version: string;
  readonly serverUrl: string;
  /** Errors every endpoint may answer before its arguments are read (token, network, rate limit…). */
  readonly authErrors: readonly ErrorDefinition[];
  /** How callers come by a bearer token, for the security scheme's description. */
  readonly tokenSource?: string;
}

/**
 * The one security scheme offered: a bearer token, under the name the official document gives its
 * bearer scheme. (The official document also offers OAuth2 on Katapult's identity server; tokens from
 * there are not accepted, so this document does not offer it.)
 */
export const BEARER_SCHEME = 'Authenticator';
const BEARER_DESCRIPTION =
  'An API token, sent as `Authorization: Bearer <secret>`. Each token carries scopes: an operation\'s ' +
  '`x-scopes` lists those that grant it (any one suffices), and `x-scopes` here describes each. OAuth2 is not accepted.';
/** A hard stop for object nesting, whatever the field spec says. */
const MAX_DEPTH = 16;
/** A field name no object can have: if the spec includes it, a `*` is in effect at that level. */
const WILDCARD_PROBE = '#any';
/** OpenAPI 3.0 has no `type: null`; this is its idiom for "the value null". */
const NULL_SCHEMA: Schema = { type: 'object', nullable: true, enum: [null] };
/** Validation names that translate into a lower bound on an integer argument. */
const MINIMUM_VALIDATIONS: readonly (readonly [RegExp, number])[] = [
  [/greater_than_or_equal_to_zero|non_negative/, 0],
  [/greater_than_zero|positive/, 1],
];

export function buildOpenApiDocument(
  endpoints: readonly EndpointDefinition[],
  options: OpenApiOptions,
): Record<string, unknown> {
  const components = new Components();
  const paths: Record<string, Record<string, Schema>> = {};
  const operationIds = new Set<string>();
  for (const endpoint of endpoints) {
    const path = `/${routeSegments(endpoint.route).map((segment) => segment.replace(/^:/, '')).join('/')}`;
    const method = endpoint.method.toLowerCase();
    const operations = (paths[path] ??= {});
    if (operations[method]) throw new Error(`OpenAPI: ${endpoint.id} repeats ${endpoint.method} ${path}`);
    operations[method] = buildOperation(endpoint, uniqueOperationId(endpoint, operationIds), options, components);
  }
  return {
    openapi: '3.0.3',
    info: { title: options.title, version: options.version },
    servers: [{ url: options.serverUrl }],
    security: [{ [BEARER_SCHEME]: [] }],
    tags: [...new Set(endpoints.map((endpoint) => endpoint.tag))].map((name) => ({ name })),
    paths,
    components: { securitySchemes: securitySchemes(endpoints, options), schemas: components.sorted() },
  };
}

// ---- Operations ---------------------------------------------------------------------------------

function buildOperation(
  endpoint: EndpointDefinition,
  operationId: string,
  options: OpenApiOptions,
  components: Components,
): Schema {
  const operation: Schema = {
    operationId,
    summary: endpoint.name,
    description: describeEndpoint(endpoint),
    tags: [endpoint.tag],
  };
  // Bearer schemes take no scopes in OpenAPI 3.0; which token scopes grant the operation is an extension.
  if (endpoint.scopes.length > 0) operation['x-scopes'] = [...endpoint.scopes];
  const args: Arguments = endpoint.arguments;
  if (Object.keys(args).length > 0) {
    if (endpoint.method === 'GET') {
      operation.parameters = Object.entries(args).flatMap(([name, argument]) => queryParameters(name, argument, true, false));
    } else {
      operation.requestBody = { content: jsonContent(argumentsSchema(args, components)) };
    }
  }
  operation.responses = {
    [String(endpoint.httpStatus ?? 200)]: successResponse(endpoint.description, endpoint.fields),
    ...(endpoint.accepted ? { '202': successResponse(endpoint.accepted.description, endpoint.accepted.fields) } : {}),
    ...errorResponses(endpointErrors(endpoint, options.authErrors), components),
  };
  return operation;
}

function routeSegments(route: string): string[] {
  return route.split('/').filter((segment) => segment !== '');
}

/** `get:disk_disk_backup_policies` as the official document has it: a collection before its placeholder is dropped. */
function uniqueOperationId(endpoint: EndpointDefinition, taken: Set<string>): string {
  const segments = routeSegments(endpoint.route);
  const words = segments
    .filter((segment, i) => segment.startsWith(':') || !segments[i + 1]?.startsWith(':'))
    .map((segment) => segment.replace(/^:/, ''));
  const base = `${endpoint.method.toLowerCase()}:${words.join('_')}`;
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}_${n}`;
  taken.add(id);
  return id;
}

function describeEndpoint(endpoint: EndpointDefinition): string {
  if (endpoint.scopes.length === 0) return endpoint.description;
  const scopes = endpoint.scopes.map((scope) => `- \`${scope}\``).join('\n');
  return `${endpoint.description}\n## Scopes\n${scopes}\n\nA token with any one of these scopes may call this endpoint.\n`;
}

function jsonContent(schema: Schema): Schema {
  return { 'application/json': { schema } };
}

// ---- Arguments ----------------------------------------------------------------------------------

/** GET arguments as query parameters: `page`, `intervals[]`, `disk[id]`, `annotations[][key]`. */
function queryParameters(name: string, argument: ArgumentDefinition<any>, parentRequired: boolean, inArray: boolean): Schema[] {
  const type = argument.type;
  const array = inArray || argument.array === true;
  if (type.kind === 'argument_set' || type.kind === 'lookup') {
    const prefix = argument.array ? `${name}[]` : name;
    const required = parentRequired && argument.required === true && !array;
    // A lookup's members rarely describe themselves; the argument's own description is the useful one.
    return Object.entries(type.arguments as Arguments).flatMap(([member, inner]) =>
      queryParameters(`${prefix}[${member}]`, { ...inner, description: inner.description ?? argument.description }, required, array),
    );
  }
  const item = leafArgumentSchema(argument);
  const schema = withDefault(array ? { type: 'array', items: item } : item, argument.default);
  const parameter: Schema = { name: argument.array ? `${name}[]` : name, in: 'query', schema };
  if (argument.description) parameter.description = argument.description;
  if (parentRequired && argument.required && !inArray) parameter.required = true;
  return [parameter];
}

/** A JSON body: one property per argument; argument sets and lookups become component schemas. */
function argumentsSchema(args: Arguments, components: Components): Schema {
  const entries = Object.entries(args);
  const properties = Object.fromEntries(entries.map(([name, argument]) => [name, argumentSchema(argument, components)]));
  const required = entries.filter(([, argument]) => argument.required).map(([name]) => name);
  return withRequired({ type: 'object', properties }, required);
}

function argumentSchema(argument: ArgumentDefinition<any>, components: Components): Schema {
  const type = argument.type;
  const one =
    type.kind === 'argument_set' || type.kind === 'lookup'
      ? components.ref(type.id, componentName(type.id), () =>
          annotate(argumentsSchema(type.arguments as Arguments, components), { description: type.description }),
        )
      : leafArgumentSchema(argument);
  const schema = argument.array ? { type: 'array', items: one } : one;
  return annotate(withDefault(schema, argument.default), { description: argument.description });
}

function leafArgumentSchema(argument: ArgumentDefinition<any>): Schema {
  const type = argument.type;
  if (type.kind === 'enum') return { type: 'string', enum: [...type.values] };
  if (type.kind !== 'scalar') throw new Error(`OpenAPI: ${type.id} is not a scalar`);
  const schema: Schema = { ...type.openapi };
  const names = (argument.validations ?? []).map((validation) => validation.name);
  const minimum = MINIMUM_VALIDATIONS.find(([pattern]) => names.some((name) => pattern.test(name)))?.[1];
  if (minimum !== undefined && schema.type === 'integer') schema.minimum = minimum;
  return schema;
}

/** Every argument of a set, depth first, through nested argument sets and lookups. */
function* allArguments(args: Arguments, seen = new Set<string>()): Generator<ArgumentDefinition<any>> {
  for (const argument of Object.values(args)) {
    yield argument;
    const type = argument.type;
    if ((type.kind === 'argument_set' || type.kind === 'lookup') && !seen.has(type.id)) {
      seen.add(type.id);
      yield* allArguments(type.arguments as Arguments, seen);
    }
  }
}

// ---- Responses ----------------------------------------------------------------------------------

function successResponse(description: string, fields: EndpointDefinition['fields']): Schema {
  const entries = Object.entries(fields);
  const properties = Object.fromEntries(
    entries.map(([name, field]) => [name, fieldSchema(field, FieldSpec.parse(field.spec ?? '*'), [], new Set())]),
  );
  const schema = withRequired({ type: 'object', properties }, entries.map(([name]) => name));
  return { description, content: jsonContent(schema) };
}

/** A field as the serializer writes it: `path` and `spec` decide exactly as in `compileFieldWriter`. */
function fieldSchema(field: FieldDefinition, spec: FieldSpec, path: readonly string[], visiting: ReadonlySet<string>): Schema {
  const one = valueSchema(resolveType(field.type), spec, path, visiting);
  const schema = field.array ? { type: 'array', items: one } : one;
  return annotate(field.nullable ? nullable(schema) : schema, { description: field.description });
}

function valueSchema(type: ValueType, spec: FieldSpec, path: readonly string[], visiting: ReadonlySet<string>): Schema {
  switch (type.kind) {
    case 'scalar':
      return { ...type.openapi };
    case 'enum':
      return { type: 'string', enum: [...type.values] };
    case 'object':
      return objectSchema(type, spec, path, visiting);
    case 'polymorph':
      return { oneOf: type.options.map((option) => polymorphOptionSchema(option, spec, path, visiting)) };
  }
}

/**
 * The fields the spec includes at `path`. Lazy field types make object graphs cyclic; an explicit
 * spec bounds the depth by itself, but under a `*` a type already being described on this path is
 * left open (`{type: object}`), as is anything beyond MAX_DEPTH.
 */
function objectSchema(type: ObjectType, spec: FieldSpec, path: readonly string[], visiting: ReadonlySet<string>): Schema {
  const recursive = visiting.has(type.id) && spec.includes([...path, WILDCARD_PROBE]);
  if (recursive || path.length > MAX_DEPTH) return { type: 'object' };
  const inner = new Set(visiting).add(type.id);
  const included = Object.entries(type.fields).filter(([name]) => spec.includes([...path, name]));
  if (included.length === 0) return { type: 'object' };
  const properties = Object.fromEntries(
    included.map(([name, field]) => [name, fieldSchema(field, spec, [...path, name], inner)]),
  );
  return withRequired({ type: 'object', properties }, included.map(([name]) => name));
}

/** On the wire a polymorph is `{"type": "<option name>", "value": {…}}`; the option's fields share the path. */
function polymorphOptionSchema(option: PolymorphOption, spec: FieldSpec, path: readonly string[], visiting: ReadonlySet<string>): Schema {
  return {
    type: 'object',
    properties: {
      type: { type: 'string', enum: [option.name] },
      value: objectSchema(option.type, spec, path, visiting),
    },
    required: ['type', 'value'],
  };
}

// ---- Errors -------------------------------------------------------------------------------------

/** In the order they are checked: authentication, scope, arguments, lookups, the endpoint's own. */
function endpointErrors(endpoint: EndpointDefinition, authErrors: readonly ErrorDefinition[]): ErrorDefinition[] {
  const args = [...allArguments(endpoint.arguments)];
  const errors = [
    ...authErrors,
    ...(endpoint.scopes.length > 0 ? [ScopeNotGranted] : []),
    InvalidJsonBody,
    ...(args.some((argument) => argument.required) ? [MissingRequiredArgument] : []),
    ...(args.length > 0 ? [InvalidArgument] : []),
    ...args.flatMap((argument) => (argument.type.kind === 'lookup' ? argument.type.errors : [])),
    ...endpoint.errors,
  ];
  return [...new Map(errors.map((error) => [error.id, error])).values()];
}

function errorResponses(errors: readonly ErrorDefinition[], components: Components): Record<string, Schema> {
  const byStatus = new Map<number, ErrorDefinition[]>();
  for (const error of errors) byStatus.set(error.httpStatus, [...(byStatus.get(error.httpStatus) ?? []), error]);
  const statuses = [...byStatus.keys()].sort((a, b) => a - b);
  return Object.fromEntries(
    statuses.map((status) => {
      const group = byStatus.get(status)!;
      const refs = group.map((error) => errorSchemaRef(error, components));
      const description =
        group.length === 1 ? group[0]!.description : `One of: ${group.map((error) => error.code).join(', ')}`;
      const envelope = { type: 'object', properties: { error: refs.length === 1 ? refs[0] : { oneOf: refs } }, required: ['error'] };
      return [String(status), { description, content: jsonContent(envelope) }];
    }),
  );
}

function errorSchemaRef(error: ErrorDefinition, components: Components): Schema {
  const name = pascalCase(error.code);
  return components.ref(error.id, name.endsWith('Error') ? name : `${name}Error`, () => ({
    type: 'object',
    description: error.description,
    properties: {
      code: { type: 'string', enum: [error.code] },
      description: { type: 'string' },
      detail: detailSchema(error),
    },
    required: ['code', 'description', 'detail'],
  }));
}

function detailSchema(error: ErrorDefinition): Schema {
  const entries = Object.entries(error.detailFields);
  if (entries.length === 0) return { type: 'object' };
  const properties = Object.fromEntries(entries.map(([name, field]) => [name, fieldSchema(field, FieldSpec.ALL, [], new Set())]));
  return { type: 'object', properties };
}

// ---- Security -----------------------------------------------------------------------------------

function securitySchemes(endpoints: readonly EndpointDefinition[], options: OpenApiOptions): Schema {
  const scopes = [...new Set(endpoints.flatMap((endpoint) => endpoint.scopes))].sort();
  return {
    [BEARER_SCHEME]: {
      type: 'http',
      scheme: 'bearer',
      description: options.tokenSource ? `${BEARER_DESCRIPTION} ${options.tokenSource}` : BEARER_DESCRIPTION,
      'x-scopes': Object.fromEntries(scopes.map((scope) => [scope, scopeDescription(scope)])),
    },
  };
}

/** `disks` → "Manage disks", `disks:read` → "Read-only access to disks", `trash_objects:purge` → "Purge trash objects". */
function scopeDescription(scope: string): string {
  const [resource = '', action] = scope.split(':');
  const words = resource.replace(/_/g, ' ');
  if (action === undefined) return `Manage ${words}`;
  if (action === 'read') return `Read-only access to ${words}`;
  return `${action.charAt(0).toUpperCase()}${action.slice(1)} ${words}`;
}

// ---- Schema helpers -----------------------------------------------------------------------------

/** Component schemas, each registered once per definition id under a readable, unique name. */
class Components {
  private readonly schemas = new Map<string, Schema>();
  private readonly nameById = new Map<string, string>();

  ref(id: string, preferredName: string, build: () => Schema): Schema {
    let name = this.nameById.get(id);
    if (name === undefined) {
      name = this.uniqueName(preferredName, id);
      this.nameById.set(id, name); // before building, so that a recursive reference finds it
      this.schemas.set(name, {});
      this.schemas.set(name, build());
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  sorted(): Record<string, Schema> {
    return Object.fromEntries([...this.schemas].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  private uniqueName(preferred: string, id: string): string {
    const fallback = pascalCase(id);
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? preferred : n === 2 ? fallback : `${fallback}${n - 1}`;
      if (!this.schemas.has(candidate)) return candidate;
    }
  }
}

/** `CoreAPI/ArgumentSets/DiskLookup` → `DiskLookup`. */
function componentName(id: string): string {
  return pascalCase(id.split('/').pop() ?? id);
}

function pascalCase(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

function withRequired(schema: Schema, required: readonly string[]): Schema {
  return required.length > 0 ? { ...schema, required: [...required] } : schema;
}

function withDefault(schema: Schema, value: unknown): Schema {
  return value === undefined ? schema : annotate(schema, { default: value });
}

/** Adds keywords beside a schema; beside a `$ref` they would be ignored, so the reference is wrapped. */
function annotate(schema: Schema, annotations: Record<string, unknown>): Schema {
  const present = Object.fromEntries(Object.entries(annotations).filter(([, value]) => value !== undefined));
  if (Object.keys(present).length === 0) return schema;
  return '$ref' in schema ? { allOf: [schema], ...present } : { ...schema, ...present };
}

/** OpenAPI 3.0's `nullable` needs a `type` beside it, and an `enum` must then list null itself. */
function nullable(schema: Schema): Schema {
  if (Array.isArray(schema.oneOf)) return { ...schema, oneOf: [...schema.oneOf, NULL_SCHEMA] };
  if (schema.type === undefined) return { anyOf: [schema, NULL_SCHEMA] };
  if (Array.isArray(schema.enum)) return { ...schema, nullable: true, enum: [...schema.enum, null] };
  return { ...schema, nullable: true };
}
