/**
 * Turns the merged raw arguments of a request into typed values, following Apia's rules:
 * arguments are read in definition order; a route placeholder fills an argument only when the request
 * did not name it at all (and, for a set, only its first field); required means "present and not null";
 * the first problem found is the one reported.
 */
import { ApiError } from './errors.js';
import { InvalidArgument, MissingRequiredArgument } from './framework-errors.js';
import {
  InvalidScalarError,
  ScalarParseError,
  type ArgumentDefinition,
  type LookupType,
} from './types.js';

export type Issue =
  | 'invalid_scalar'
  | 'parse_error'
  | 'validation_errors'
  | 'invalid_enum_value'
  | 'missing_lookup_value'
  | 'ambiguous_lookup_values'
  | 'object_expected'
  | 'array_expected';

const ISSUE_DESCRIPTIONS: Partial<Record<Issue, string>> = {
  invalid_scalar:
    'The value provided was not of an appropriate type for the scalar that was requested. For example, you may have passed a string where an integer was required etc...',
  parse_error:
    'The value provided could not be parsed into an appropriate value by the server. For example, if a date was expected and the value could not be interpretted as such.',
  invalid_enum_value: 'The value provided was not one of the options suitable for the enum.',
  missing_lookup_value: 'A value for a lookup argument set has not been provided but at least one value is required.',
  ambiguous_lookup_values:
    'More than one value has been provided for a lookup argument set. Only one option may be provided.',
};

/** One step of an argument's path from the root of the request. */
interface PathStep {
  readonly name: string;
  readonly id: string;
  readonly description: string | null;
}

/** A lookup that has been given valid values but not yet resolved to a stored object. */
export class PendingLookup {
  constructor(
    readonly lookup: LookupType<unknown>,
    readonly values: Record<string, string | null>,
  ) {}
}

type RawArguments = Record<string, unknown>;

const MISSING = Symbol('missing');

export function parseArguments(
  set: { id: string; arguments: Record<string, ArgumentDefinition<any>> },
  raw: RawArguments,
  routeValues: Record<string, string> = {},
): Record<string, unknown> {
  return parseSet(set, raw, [], routeValues);
}

function parseSet(
  set: { id: string; arguments: Record<string, ArgumentDefinition<any>> },
  raw: RawArguments,
  parentPath: readonly PathStep[],
  routeValues: Record<string, string>,
): Record<string, unknown> {
  const parsed: Record<string, unknown> = {};
  for (const [name, argument] of Object.entries(set.arguments)) {
    const path = [...parentPath, argumentStep(set.id, name, argument)];
    const given = givenValue(raw, name, argument, routeValues);
    if (argument.required && (given === null || given === MISSING)) throw missingArgument(path);
    if (given === MISSING) continue;
    const value = parseValue(argument, given, path, null, false);
    const failed = (argument.validations ?? []).filter((v) => value !== null && !v.check(value)).map((v) => v.name);
    if (failed.length > 0) throw invalidArgument(path, 'validation_errors', null, failed);
    parsed[name] = value;
  }
  return parsed;
}

function givenValue(
  raw: RawArguments,
  name: string,
  argument: ArgumentDefinition<any>,
  routeValues: Record<string, string>,
): unknown {
  if (Object.hasOwn(raw, name)) return raw[name];
  const fromRoute = routeValues[name];
  if (fromRoute !== undefined) {
    if (argument.type.kind === 'lookup' || argument.type.kind === 'argument_set') {
      const firstKey = Object.keys(argument.type.arguments)[0];
      return firstKey === undefined ? {} : { [firstKey]: fromRoute };
    }
    return fromRoute;
  }
  if (argument.default !== undefined) return argument.default;
  return MISSING;
}

function parseValue(
  argument: ArgumentDefinition<any>,
  value: unknown,
  path: readonly PathStep[],
  index: number | null,
  inArray: boolean,
): unknown {
  if (value === null || value === undefined) return null;
  if (argument.array && !inArray && Array.isArray(value)) {
    return value.map((item, i) => parseValue(argument, item, path, i, true));
  }
  if (argument.array && !inArray) throw invalidArgument(path, 'array_expected', index);

  const type = argument.type;
  switch (type.kind) {
    case 'scalar':
      try {
        return type.parse(value);
      } catch (error) {
        if (error instanceof ScalarParseError) throw invalidArgument(path, 'parse_error', index, [error.message]);
        if (error instanceof InvalidScalarError) throw invalidArgument(path, 'invalid_scalar', index);
        throw error;
      }
    case 'enum':
      if (typeof value !== 'string' || !type.values.includes(value)) {
        throw invalidArgument(path, 'invalid_enum_value', index);
      }
      return value;
    case 'argument_set':
      if (!isPlainObject(value)) throw invalidArgument(path, 'object_expected', index);
      return parseSet(type, value, path, {});
    case 'lookup': {
      if (!isPlainObject(value)) throw invalidArgument(path, 'object_expected', index);
      const values = parseSet(type, value, path, {}) as Record<string, string | null>;
      const keys = Object.keys(values);
      if (keys.length === 0) throw invalidArgument(path, 'missing_lookup_value', index);
      if (keys.filter((k) => values[k] !== null).length > 1) {
        throw invalidArgument(path, 'ambiguous_lookup_values', index);
      }
      return new PendingLookup(type as LookupType<unknown>, values);
    }
  }
}

function isPlainObject(value: unknown): value is RawArguments {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Path steps are the same for every request: made once per argument set and argument. */
const argumentSteps = new WeakMap<ArgumentDefinition<any>, Map<string, PathStep>>();

function argumentStep(setId: string, name: string, argument: ArgumentDefinition<any>): PathStep {
  let bySet = argumentSteps.get(argument);
  if (!bySet) argumentSteps.set(argument, (bySet = new Map()));
  let step = bySet.get(setId);
  if (!step) bySet.set(setId, (step = { name, id: `${setId}/${camelize(name)}Argument`, description: argument.description ?? null }));
  return step;
}

function camelize(name: string): string {
  return name
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

function pathString(path: readonly PathStep[]): string {
  return path.map((step) => step.name).join('.');
}

function missingArgument(path: readonly PathStep[]): ApiError {
  const argument = path[path.length - 1]!;
  return new ApiError(
    MissingRequiredArgument,
    {
      path: path.map((step) => step.name),
      argument: { name: argument.name, description: argument.description },
    },
    `The '${pathString(path)}' argument is required but has not been provided`,
  );
}

function invalidArgument(
  path: readonly PathStep[],
  issue: Issue,
  index: number | null,
  errors: string[] = [],
): ApiError {
  const argument = path[path.length - 1]!;
  return new ApiError(
    InvalidArgument,
    {
      path: path.map((step) => step.name),
      index,
      issue,
      issue_description: ISSUE_DESCRIPTIONS[issue] ?? null,
      errors,
      argument: { id: argument.id, name: argument.name, description: argument.description },
    },
    `The '${pathString(path)}' argument is invalid`,
  );
}
