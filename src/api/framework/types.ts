/**
 * The type system of endpoint definitions, modelled on Apia: scalars, enums, objects (with fields),
 * polymorphs, argument sets and lookup argument sets. Definitions are plain data plus a few functions,
 * so that routing, argument parsing, serialization and the OpenAPI document can all be derived from them.
 */
import type { ErrorDefinition } from './errors.js';

/** Raised by a scalar's parser: the value has the wrong form (becomes issue `parse_error`). */
export class ScalarParseError extends Error {}
/** Raised by a scalar's parser: the value is of the wrong type (becomes issue `invalid_scalar`). */
export class InvalidScalarError extends Error {}

export interface ScalarType<T = unknown> {
  readonly kind: 'scalar';
  readonly id: string;
  readonly name: string;
  /** Turns a raw request value into a typed value, or throws ScalarParseError / InvalidScalarError. */
  parse(raw: unknown): T;
  /** Writes a typed value as JSON text. */
  toJson(value: T): string;
  readonly openapi: Record<string, unknown>;
}

export interface EnumType<V extends string = string> {
  readonly kind: 'enum';
  readonly id: string;
  readonly name: string;
  readonly values: readonly V[];
}

export interface FieldDefinition {
  readonly type: ValueType | (() => ValueType);
  readonly nullable?: boolean;
  readonly array?: boolean;
  readonly description?: string;
  /** Reads the field's value from the source object; defaults to the property of the same name. */
  readonly value?: (source: any) => unknown;
}

export interface ObjectType {
  readonly kind: 'object';
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly fields: Readonly<Record<string, FieldDefinition>>;
}

export interface PolymorphOption {
  readonly name: string;
  readonly type: ObjectType;
  readonly matches: (value: any) => boolean;
}

export interface PolymorphType {
  readonly kind: 'polymorph';
  readonly id: string;
  readonly name: string;
  readonly options: readonly PolymorphOption[];
}

export type ValueType = ScalarType<any> | EnumType | ObjectType | PolymorphType;

export function resolveType(type: ValueType | (() => ValueType)): ValueType {
  return typeof type === 'function' ? type() : type;
}

// ---- Arguments ---------------------------------------------------------------------------------

export interface ArgumentDefinition<T = unknown> {
  readonly type: ScalarType<T> | EnumType | ArgumentSetType<any> | LookupType<any>;
  readonly required?: boolean;
  readonly array?: boolean;
  readonly default?: T;
  readonly description?: string;
  /** Named validations; a failing one is reported as issue `validation_errors` with its name. */
  readonly validations?: readonly { readonly name: string; readonly check: (value: T) => boolean }[];
}

export interface ArgumentSetType<A extends Record<string, ArgumentDefinition<any>>> {
  readonly kind: 'argument_set';
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly arguments: A;
}

/**
 * A lookup argument set: exactly one of its keys must be given; the pipeline then resolves it to a
 * stored object (or the lookup's not-found error) before the endpoint's action runs.
 */
export interface LookupType<R> {
  readonly kind: 'lookup';
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly arguments: Record<string, ArgumentDefinition<string>>;
  readonly errors: readonly ErrorDefinition[];
  /** Finds the object, or throws the lookup's not-found error. */
  readonly resolve: (values: Record<string, string | null>, context: LookupContext) => Promise<R>;
}

/** What a resolver may use: the services (which know nothing of HTTP) and who is asking. */
export interface LookupContext {
  readonly services: import('../../services/index.js').Services;
  readonly identity: import('./endpoint.js').Identity;
}

/** Typed values of a parsed argument set. */
export type ArgumentValues<A extends Record<string, ArgumentDefinition<any>>> = {
  [K in keyof A]: ArgumentValue<A[K]>;
};

type Base<D> = D extends { type: ScalarType<infer T> }
  ? T
  : D extends { type: EnumType<infer V> }
    ? V
    : D extends { type: LookupType<infer R> }
      ? R
      : D extends { type: ArgumentSetType<infer A> }
        ? Partial<ArgumentValues<A>>
        : never;

type ArgumentValue<D> = D extends { array: true }
  ? Base<D>[]
  : D extends { required: true }
    ? Base<D>
    : D extends { default: any }
      ? Base<D>
      : Base<D> | null | undefined;

export function argumentSet<const A extends Record<string, ArgumentDefinition<any>>>(definition: {
  id: string;
  name: string;
  description?: string;
  arguments: A;
}): ArgumentSetType<A> {
  return { kind: 'argument_set', ...definition };
}

export function lookup<R>(definition: Omit<LookupType<R>, 'kind'>): LookupType<R> {
  return { kind: 'lookup', ...definition };
}

export function enumType<const V extends string>(id: string, name: string, values: readonly V[]): EnumType<V> {
  return { kind: 'enum', id, name, values };
}

export function objectType(definition: Omit<ObjectType, 'kind'>): ObjectType {
  return { kind: 'object', ...definition };
}

export function polymorph(definition: Omit<PolymorphType, 'kind'>): PolymorphType {
  return { kind: 'polymorph', ...definition };
}
