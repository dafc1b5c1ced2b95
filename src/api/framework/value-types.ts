/**
 * The value types of endpoint definitions, modelled on Apia: scalars, enums, objects (with fields) and
 * polymorphs. They depend on nothing else of the framework, so errors, the serializer and the argument
 * types can all take them from here.
 */

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

export function enumType<const V extends string>(id: string, name: string, values: readonly V[]): EnumType<V> {
  return { kind: 'enum', id, name, values };
}

export function objectType(definition: Omit<ObjectType, 'kind'>): ObjectType {
  return { kind: 'object', ...definition };
}

export function polymorph(definition: Omit<PolymorphType, 'kind'>): PolymorphType {
  return { kind: 'polymorph', ...definition };
}
