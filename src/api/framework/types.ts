/**
 * Argument sets and lookup argument sets of endpoint definitions, modelled on Apia. The value types
 * (scalars, enums, objects, polymorphs) live in `value-types.ts` and are offered here too, so that an
 * endpoint or object definition takes everything it needs from one module.
 */
import type { Services } from '../../services/index.js';
import type { ErrorDefinition } from './errors.js';
import type { Identity } from './identity.js';
import type { EnumType, ScalarType } from './value-types.js';

export {
  enumType,
  InvalidScalarError,
  objectType,
  polymorph,
  resolveType,
  ScalarParseError,
  type EnumType,
  type FieldDefinition,
  type ObjectType,
  type PolymorphOption,
  type PolymorphType,
  type ScalarType,
  type ValueType,
} from './value-types.js';

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
  readonly services: Services;
  readonly identity: Identity;
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
