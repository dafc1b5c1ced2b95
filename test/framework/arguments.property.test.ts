/**
 * Property tests of the argument parser (`parseArguments`), on small argument sets built here with the
 * framework: every scalar, an enum, a nested set, a lookup, arrays, a default, required arguments and
 * named validations. Whatever JSON-ish input arrives, parsing returns values of the declared types or
 * throws a framework ApiError naming a declared argument — never anything else.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PendingLookup, parseArguments } from '../../src/api/framework/arguments.js';
import { ApiError } from '../../src/api/framework/errors.js';
import {
  BooleanScalar,
  DecimalScalar,
  IntegerScalar,
  StringScalar,
  UnixTimeScalar,
} from '../../src/api/framework/scalars.js';
import {
  argumentSet,
  enumType,
  lookup,
  type ArgumentDefinition,
  type LookupType,
} from '../../src/api/framework/types.js';
import { ISSUE_DESCRIPTIONS } from '../support/issue-descriptions.js';

// ---- The argument sets under test ----------------------------------------------------------------

const IntervalEnum = enumType('Test/Objects/IntervalEnum', 'IntervalEnum', ['hourly', 'daily', 'weekly']);

const ScheduleSet = argumentSet({
  id: 'Test/ArgumentSets/ScheduleArguments',
  name: 'ScheduleArguments',
  arguments: {
    interval: { type: IntervalEnum, required: true, description: 'How often' },
    frequency: { type: IntegerScalar, validations: [{ name: 'at_least_one', check: (v: number) => v >= 1 }] },
    at: { type: UnixTimeScalar },
  },
});

const PropertiesSet = argumentSet({
  id: 'Test/ArgumentSets/Properties',
  name: 'Properties',
  arguments: {
    retention: { type: IntegerScalar, description: 'How many to keep' },
    schedule: { type: ScheduleSet },
    labels: { type: StringScalar, array: true },
  },
});

const ThingLookup: LookupType<never> = lookup({
  id: 'Test/ArgumentSets/ThingLookup',
  name: 'ThingLookup',
  description: 'Finds a thing',
  arguments: { id: { type: StringScalar }, permalink: { type: StringScalar } },
  errors: [],
  resolve: async () => {
    throw new Error('never resolved in these tests');
  },
});

const ROOT_ID = 'Test/Endpoints/ThingEndpoint/BaseArgumentSet';
const ROOT = {
  id: ROOT_ID,
  arguments: {
    thing: { type: ThingLookup, required: true, description: 'The thing' },
    name: { type: StringScalar },
    count: { type: IntegerScalar, validations: [{ name: 'greater_than_zero', check: (v: number) => v > 0 }] },
    per_page: {
      type: IntegerScalar,
      default: 30,
      validations: [
        { name: 'greater_than_zero', check: (v: number) => v > 0 },
        { name: 'at_most_two_hundred', check: (v: number) => v <= 200 },
      ],
    },
    flag: { type: BooleanScalar },
    at: { type: UnixTimeScalar },
    ratio: { type: DecimalScalar },
    interval: { type: IntervalEnum },
    properties: { type: PropertiesSet, required: true },
    numbers: { type: IntegerScalar, array: true },
    others: { type: ThingLookup, array: true },
  } as Record<string, ArgumentDefinition<any>>,
};

/** A set with nothing required, so that each argument's own rules can be exercised alone. */
const LOOSE = {
  id: 'Test/Endpoints/LooseEndpoint/BaseArgumentSet',
  arguments: Object.fromEntries(
    Object.entries(ROOT.arguments).map(([name, def]) => [name, { ...def, required: false }]),
  ) as Record<string, ArgumentDefinition<any>>,
};

/** The lookup alone. */
const THING_ONLY = { id: ROOT_ID, arguments: { thing: ROOT.arguments.thing! } };

// ---- Oracles -------------------------------------------------------------------------------------

type SetLike = { id: string; arguments: Record<string, ArgumentDefinition<any>> };

function setOf(definition: ArgumentDefinition<any>): SetLike | null {
  const type = definition.type;
  return type.kind === 'argument_set' || type.kind === 'lookup' ? type : null;
}

/** Whether `path` names a declared argument, from the root of `set`. */
function namesDeclaredArgument(set: SetLike, path: readonly unknown[]): boolean {
  let current: SetLike | null = set;
  for (const step of path) {
    if (current === null || typeof step !== 'string' || !Object.hasOwn(current.arguments, step)) return false;
    current = setOf(current.arguments[step]!);
  }
  return path.length > 0;
}

/** The argument (and the id of the set declaring it) at `path`. */
function argumentAt(set: SetLike, path: readonly string[]): { definition: ArgumentDefinition<any>; setId: string } {
  let current: SetLike = set;
  let found: { definition: ArgumentDefinition<any>; setId: string } | undefined;
  for (const step of path) {
    found = { definition: current.arguments[step]!, setId: current.id };
    current = setOf(found.definition) ?? current;
  }
  return found!;
}

const camel = (name: string) => name.split('_').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

/** Checks a parsed value against its definition; returns a complaint, or null when it conforms. */
function nonConformance(definition: ArgumentDefinition<any>, value: unknown, where: string): string | null {
  if (value === null) return definition.required ? `${where}: required but null` : null;
  if (definition.array) {
    if (!Array.isArray(value)) return `${where}: an array argument parsed to a non-array`;
    for (const [i, item] of value.entries()) {
      const problem = nonConformance({ ...definition, array: false, required: false, validations: [] }, item, `${where}[${i}]`);
      if (problem) return problem;
    }
    return failedValidation(definition, value, where);
  }
  const type = definition.type;
  switch (type.kind) {
    case 'scalar': {
      const ok =
        type === StringScalar ? typeof value === 'string'
        : type === IntegerScalar ? Number.isSafeInteger(value)
        : type === BooleanScalar ? typeof value === 'boolean'
        : type === UnixTimeScalar ? Number.isSafeInteger(value) && (value as number) >= 0
        : type === DecimalScalar ? typeof value === 'number' && Number.isFinite(value)
        : false;
      if (!ok) return `${where}: ${JSON.stringify(value)} is not a ${type.name}`;
      return failedValidation(definition, value, where);
    }
    case 'enum':
      return typeof value === 'string' && type.values.includes(value) ? null : `${where}: ${String(value)} not in enum`;
    case 'argument_set':
      if (typeof value !== 'object' || Array.isArray(value)) return `${where}: set parsed to a non-object`;
      return nonConformingSet(type, value as Record<string, unknown>, where);
    case 'lookup': {
      if (!(value instanceof PendingLookup)) return `${where}: lookup parsed to something else than a PendingLookup`;
      const problem = nonConformingSet(type, value.values, where);
      if (problem) return problem;
      const keys = Object.keys(value.values);
      if (keys.length === 0) return `${where}: lookup with no key`;
      if (keys.filter((k) => value.values[k] !== null).length > 1) return `${where}: ambiguous lookup accepted`;
      return null;
    }
  }
}

function failedValidation(definition: ArgumentDefinition<any>, value: unknown, where: string): string | null {
  const failed = (definition.validations ?? []).filter((v) => !v.check(value as never));
  return failed.length > 0 ? `${where}: accepted although ${failed.map((v) => v.name).join(',')} fails` : null;
}

function nonConformingSet(set: SetLike, values: Record<string, unknown>, where: string): string | null {
  for (const key of Object.keys(values)) {
    if (!Object.hasOwn(set.arguments, key)) return `${where}: undeclared key ${key} in the parsed values`;
  }
  for (const [name, definition] of Object.entries(set.arguments)) {
    const at = where ? `${where}.${name}` : name;
    if (!Object.hasOwn(values, name)) {
      if (definition.required) return `${at}: required but missing from the parsed values`;
      continue;
    }
    const problem = nonConformance(definition, values[name], at);
    if (problem) return problem;
  }
  return null;
}

/** The exact detail shapes of the two framework errors the parser raises. */
function checkErrorShape(set: SetLike, error: ApiError): void {
  const detail = error.detail as Record<string, any>;
  assert.ok(Array.isArray(detail.path), 'detail.path is an array');
  assert.ok(namesDeclaredArgument(set, detail.path), `detail.path ${JSON.stringify(detail.path)} names a declared argument`);
  const { definition, setId } = argumentAt(set, detail.path);
  const name = detail.path[detail.path.length - 1];
  if (error.definition.code === 'missing_required_argument') {
    assert.equal(error.httpStatus, 400);
    assert.deepEqual(Object.keys(detail).sort(), ['argument', 'path']);
    assert.deepEqual(detail.argument, { name, description: definition.description ?? null });
    assert.equal(error.description, `The '${detail.path.join('.')}' argument is required but has not been provided`);
    assert.ok(definition.required, 'only a required argument can be missing');
  } else {
    assert.equal(error.definition.code, 'invalid_argument');
    assert.equal(error.httpStatus, 400);
    assert.deepEqual(Object.keys(detail).sort(), ['argument', 'errors', 'index', 'issue', 'issue_description', 'path']);
    assert.deepEqual(detail.argument, {
      id: `${setId}/${camel(name)}Argument`,
      name,
      description: definition.description ?? null,
    });
    assert.ok(detail.index === null || (Number.isInteger(detail.index) && detail.index >= 0), 'index is null or a position');
    assert.ok(detail.index === null || definition.array, 'an index only for array arguments');
    assert.ok(Array.isArray(detail.errors) && detail.errors.every((e: unknown) => typeof e === 'string'));
    assert.ok(
      ['invalid_scalar', 'parse_error', 'validation_errors', 'invalid_enum_value', 'missing_lookup_value',
        'ambiguous_lookup_values', 'object_expected', 'array_expected'].includes(detail.issue),
      `known issue ${detail.issue}`,
    );
    assert.ok(detail.issue_description === null || typeof detail.issue_description === 'string');
    assert.equal(error.description, `The '${detail.path.join('.')}' argument is invalid`);
  }
}

type Outcome = { ok: true; value: Record<string, unknown> } | { ok: false; error: ApiError };

/** Parses and classifies: anything thrown other than the two framework errors fails the property. */
function attempt(set: SetLike, raw: Record<string, unknown>, route: Record<string, string> = {}): Outcome {
  try {
    return { ok: true, value: parseArguments(set, raw, route) };
  } catch (error) {
    if (!(error instanceof ApiError)) throw new Error(`parseArguments threw a non-ApiError: ${String(error)}`);
    if (!['invalid_argument', 'missing_required_argument'].includes(error.definition.code)) {
      throw new Error(`parseArguments threw ${error.definition.code}`);
    }
    return { ok: false, error };
  }
}

function parseError(set: SetLike, raw: Record<string, unknown>, route: Record<string, string> = {}): Record<string, any> {
  const outcome = attempt(set, raw, route);
  assert.equal(outcome.ok, false, `expected an error for ${JSON.stringify(raw)}`);
  const error = (outcome as { error: ApiError }).error;
  checkErrorShape(set, error);
  return { code: error.definition.code, ...(error.detail as Record<string, any>) };
}

// ---- Arbitraries ---------------------------------------------------------------------------------

const oddStrings = fc.oneof(
  fc.constantFrom(
    '', ' ', '\u0000', '\ud800', '\udfff', 'a\udc00b', '\u{1F600}', '\u202e', '\ufeff', 'e\u0301', '٣', '１２',
    '-0', '0', '1', '007', '1e309', '-1e309', '1e3', '1.0', '1.5', '0x10', 'NaN', 'Infinity', ' 1', '1 ', '+1', '--1',
    '99999999999999999999', '9007199254740993', '-9007199254740993', 'true', 'false', 'yes', 'no', 'TRUE', 'null',
    'hourly', 'daily', 'Hourly', '__proto__', 'constructor', 'toString',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.integer().map(String),
  fc.string({ unit: fc.constantFrom('\ud800', '\udbff', '\udc00', 'x'), maxLength: 5 }),
);

const oddNumbers = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 1.5, 0.1, 1e308, -1e308, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1,
    Number.MIN_SAFE_INTEGER, -(2 ** 53) - 2, 2 ** 64, 1e21, 5e-324, Number.MAX_VALUE),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Scalar-ish leaves the JSON body or query string of a request can carry. */
const leaf = fc.oneof(oddStrings, oddNumbers, fc.boolean(), fc.constant(null));

/** JSON values with odd leaves, nested a little. */
const tricky: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(oddStrings, fc.constantFrom('id', 'permalink', 'interval', 'frequency')), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const anyJson = fc.oneof(tricky, fc.jsonValue({ maxDepth: 4 }));

/** A value aimed at one argument: often well-formed, often not. */
function valueFor(definition: ArgumentDefinition<any>, depth = 0): fc.Arbitrary<unknown> {
  const type = definition.type;
  let shaped: fc.Arbitrary<unknown>;
  if (type.kind === 'scalar') {
    shaped = type === StringScalar ? oddStrings
      : type === BooleanScalar ? fc.constantFrom(true, false, 'true', 'false', 'yes', 'no', 1, 0, '1', '0', 'TRUE', 2, 'y')
      : oddNumbers.chain((n) => fc.constantFrom<unknown>(n, String(n)));
  } else if (type.kind === 'enum') {
    shaped = fc.oneof(fc.constantFrom(...type.values), oddStrings);
  } else if (depth > 2) {
    shaped = anyJson;
  } else {
    shaped = fc.record(
      Object.fromEntries(Object.entries(type.arguments).map(([name, def]) => [name, valueFor(def as ArgumentDefinition<any>, depth + 1)])),
      { requiredKeys: [] },
    );
  }
  const one = fc.oneof({ weight: 4, arbitrary: shaped }, { weight: 1, arbitrary: anyJson });
  return definition.array ? fc.oneof(fc.array(one, { maxLength: 3 }), one) : one;
}

function rawFor(set: SetLike): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.record(
        Object.fromEntries(Object.entries(set.arguments).map(([name, def]) => [name, valueFor(def)])),
        { requiredKeys: [] },
      ),
      fc.dictionary(oddStrings, anyJson, { maxKeys: 2 }),
    )
    // Through JSON, as a request body would arrive (own `__proto__` keys and all).
    .map(([declared, extra]) => JSON.parse(JSON.stringify({ ...extra, ...declared })) as Record<string, unknown>);
}

const routeValue = fc.option(oddStrings, { nil: undefined });

const RUNS = { numRuns: 400 };

// ---- Properties ----------------------------------------------------------------------------------

describe('parseArguments: properties', () => {
  test('any input: values of the declared types, or a framework error naming a declared argument', () => {
    fc.assert(
      fc.property(fc.constantFrom(ROOT, LOOSE), rawFor(ROOT), routeValue, (set, raw, thing) => {
        const outcome = attempt(set, raw, thing === undefined ? {} : { thing });
        if (outcome.ok) {
          const problem = nonConformingSet(set, outcome.value, '');
          assert.equal(problem, null, problem ?? '');
        } else {
          checkErrorShape(set, outcome.error);
        }
      }),
      RUNS,
    );
  });

  test('entirely arbitrary JSON objects: the same guarantee', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...Object.keys(ROOT.arguments), 'other'), anyJson), (raw) => {
        const parsedRaw = JSON.parse(JSON.stringify(raw)) as Record<string, unknown>;
        for (const set of [ROOT, LOOSE]) {
          const outcome = attempt(set, parsedRaw);
          if (outcome.ok) assert.equal(nonConformingSet(set, outcome.value, ''), null);
          else checkErrorShape(set, outcome.error);
        }
      }),
      RUNS,
    );
  });

  test('deep nesting is no problem', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{'), fc.constantFrom(...Object.keys(LOOSE.arguments)), (depth, open, key) => {
        const text = open === '[' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
        const raw = { [key]: JSON.parse(text) };
        const outcome = attempt(LOOSE, raw);
        if (outcome.ok) assert.equal(nonConformingSet(LOOSE, outcome.value, ''), null);
        else checkErrorShape(LOOSE, outcome.error);
      }),
      { numRuns: 100 },
    );
  });

  test('parsing is deterministic: the same input gives the same values or the same error', () => {
    fc.assert(
      fc.property(rawFor(ROOT), routeValue, (raw, thing) => {
        const route: Record<string, string> = thing === undefined ? {} : { thing };
        const first = attempt(ROOT, structuredClone(raw), route);
        const second = attempt(ROOT, structuredClone(raw), route);
        if (first.ok && second.ok) assert.deepEqual(first.value, second.value);
        else if (!first.ok && !second.ok) {
          assert.equal(first.error.definition, second.error.definition);
          assert.deepEqual(first.error.detail, second.error.detail);
          assert.equal(first.error.description, second.error.description);
        } else assert.fail('one parse succeeded and the other failed');
      }),
      RUNS,
    );
  });

  test('integers: n and String(n) parse to n for safe integers', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), fc.boolean(), (n, asString) => {
        const outcome = attempt(LOOSE, { count: asString ? String(n) : n, per_page: asString ? String(n) : n });
        if (n > 0 && n <= 200) {
          assert.ok(outcome.ok);
          assert.equal(outcome.value.count, n);
          assert.equal(outcome.value.per_page, n);
        } else if (!outcome.ok) {
          // Only the named validations may object to a well-formed integer.
          assert.equal(outcome.error.definition.code, 'invalid_argument');
          assert.equal((outcome.error.detail as any).issue, 'validation_errors');
        }
        // With no validations in the way: always n.
        const plain = attempt(LOOSE, { retention: 0, properties: { retention: asString ? String(n) : n } });
        assert.ok(plain.ok);
        assert.ok(Object.is((plain.value.properties as any).retention, n) || (n === 0 && (plain.value.properties as any).retention === 0));
      }),
      RUNS,
    );
  });

  test('integers: non-integers, unsafe integers and non-digit strings never parse', () => {
    const nonInteger = fc.oneof(
      fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d) || !Number.isSafeInteger(d)),
      fc.double().map(String).filter((s) => !/^-?\d+$/.test(s) || !Number.isSafeInteger(Number(s))),
      fc.constantFrom('1e309', '1e3', '99999999999999999999', '9007199254740993', '1.0', ' 1', '', '+1', '0x1', '١', '１', '-', 'NaN'),
      oddStrings.filter((s) => !/^-?\d+$/.test(s) || !Number.isSafeInteger(Number(s))),
      fc.constantFrom<unknown>(true, false, [], {}, [1], { a: 1 }),
    );
    fc.assert(
      fc.property(nonInteger, (value) => {
        const raw = JSON.parse(JSON.stringify({ properties: { retention: value } }) ?? '{}');
        const expected = Array.isArray(value) || (typeof value === 'object' && value !== null) || typeof value === 'boolean' || typeof value === 'string' || Number.isFinite(value);
        if (!expected) return; // ±Infinity does not survive JSON
        const error = parseError(LOOSE, raw);
        assert.equal(error.code, 'invalid_argument');
        assert.deepEqual(error.path, ['properties', 'retention']);
        assert.equal(error.issue, 'parse_error');
        assert.equal(error.errors.length, 1);
      }),
      RUNS,
    );
  });

  test('booleans: only true/false/"true"/"false"/"yes"/"no"/1/0/"1"/"0" parse, to the right value', () => {
    const TRUE = [true, 'true', 'yes', 1, '1'];
    const FALSE = [false, 'false', 'no', 0, '0'];
    const nearMisses = fc.constantFrom<unknown>(
      'TRUE', 'True', 'FALSE', 'YES', 'No', 'y', 'n', 't', 'f', 'on', 'off', ' true', 'true ', '01', '1.0', '-0', '00', 2, -1, 0.5, '', [true], { true: 1 },
    );
    fc.assert(
      fc.property(fc.oneof(anyJson, fc.constantFrom(...TRUE, ...FALSE), nearMisses), (value) => {
        if (value === null) return;
        const raw = JSON.parse(JSON.stringify({ flag: value }));
        const outcome = attempt(LOOSE, raw);
        if (TRUE.some((t) => t === raw.flag)) assert.deepEqual(outcome.ok && outcome.value.flag, true);
        else if (FALSE.some((f) => f === raw.flag)) assert.deepEqual(outcome.ok && outcome.value.flag, false);
        else {
          const error = parseError(LOOSE, raw);
          assert.deepEqual([error.path, error.issue], [['flag'], 'parse_error']);
        }
      }),
      RUNS,
    );
  });

  test('unix times: only JSON integers from 0 up parse', () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeInteger(), anyJson, fc.constantFrom<unknown>(-1, -0, 0, 0.5, 1e300, '0', '1795608000', 1795608000.5, true)), (value) => {
        if (value === null) return;
        const raw = JSON.parse(JSON.stringify({ at: value }));
        const outcome = attempt(LOOSE, raw);
        if (Number.isSafeInteger(raw.at) && raw.at >= 0) assert.ok(outcome.ok && outcome.value.at === raw.at);
        else assert.deepEqual(pick(parseError(LOOSE, raw), 'path', 'issue'), { path: ['at'], issue: 'parse_error' });
      }),
      RUNS,
    );
  });

  test('strings must be strings; enums must be exactly one of their values', () => {
    fc.assert(
      fc.property(anyJson, (value) => {
        if (value === null) return;
        const raw = JSON.parse(JSON.stringify({ name: value, interval: value }));
        const nameOutcome = attempt(LOOSE, { name: raw.name });
        if (typeof raw.name === 'string') assert.ok(nameOutcome.ok && nameOutcome.value.name === raw.name);
        else assert.deepEqual(pick(parseError(LOOSE, { name: raw.name }), 'path', 'issue', 'errors'), { path: ['name'], issue: 'invalid_scalar', errors: [] });
        const enumOutcome = attempt(LOOSE, { interval: raw.interval });
        if (['hourly', 'daily', 'weekly'].includes(raw.interval)) assert.ok(enumOutcome.ok);
        else assert.deepEqual(pick(parseError(LOOSE, { interval: raw.interval }), 'path', 'issue'), { path: ['interval'], issue: 'invalid_enum_value' });
      }),
      RUNS,
    );
  });

  test('argument sets and lookups need objects', () => {
    fc.assert(
      fc.property(anyJson.filter((v) => v !== null && (typeof v !== 'object' || Array.isArray(v))), (value) => {
        const raw = JSON.parse(JSON.stringify({ thing: value, properties: value }));
        assert.deepEqual(pick(parseError(ROOT, raw), 'path', 'issue', 'index'), { path: ['thing'], issue: 'object_expected', index: null });
        assert.deepEqual(pick(parseError(ROOT, { thing: { id: 'x' }, properties: raw.properties }), 'path', 'issue'), {
          path: ['properties'],
          issue: 'object_expected',
        });
      }),
      RUNS,
    );
  });

  test('a lookup with two non-null keys is always ambiguous, whatever else is given', () => {
    fc.assert(
      fc.property(oddStrings, oddStrings, rawFor(ROOT), routeValue, (id, permalink, rest, route) => {
        const raw = { ...rest, thing: { id, permalink } };
        const error = parseError(ROOT, raw, route === undefined ? {} : { thing: route });
        assert.deepEqual(pick(error, 'code', 'path', 'issue', 'index'), {
          code: 'invalid_argument',
          path: ['thing'],
          issue: 'ambiguous_lookup_values',
          index: null,
        });
      }),
      RUNS,
    );
  });

  test('a lookup with exactly one non-null string key is accepted with that key', () => {
    fc.assert(
      fc.property(oddStrings, fc.constantFrom('id', 'permalink'), fc.boolean(), (value, key, withNull) => {
        const other = key === 'id' ? 'permalink' : 'id';
        const thing = withNull ? { [key]: value, [other]: null } : { [key]: value };
        const outcome = attempt(LOOSE, { thing });
        assert.ok(outcome.ok);
        const pending = outcome.value.thing as PendingLookup;
        assert.ok(pending instanceof PendingLookup);
        assert.equal(pending.lookup, ThingLookup);
        assert.deepEqual(pending.values, thing);
      }),
      RUNS,
    );
  });

  test('the placeholder never overrides a given argument (even null), and fills the first key when absent', () => {
    fc.assert(
      fc.property(rawFor(ROOT), oddStrings, (raw, placeholder) => {
        // On the whole set, and on a set of the lookup alone (which parses far more often).
        for (const set of [ROOT, THING_ONLY]) {
          const withRoute = attempt(set, raw, { thing: placeholder });
          // Given (whatever its value): the placeholder changes nothing. Absent: exactly as if
          // `thing: {id: placeholder}` had been sent.
          const expected = Object.hasOwn(raw, 'thing') ? attempt(set, raw) : attempt(set, { ...raw, thing: { id: placeholder } });
          assert.equal(withRoute.ok, expected.ok);
          if (withRoute.ok && expected.ok) assert.deepEqual(withRoute.value, expected.value);
          if (!withRoute.ok && !expected.ok) assert.deepEqual(withRoute.error.detail, expected.error.detail);
        }
      }),
      RUNS,
    );
  });

  test('defaults fill absent arguments only; required means present and not null', () => {
    fc.assert(
      fc.property(rawFor(LOOSE), (raw) => {
        const outcome = attempt(LOOSE, raw);
        if (outcome.ok && !Object.hasOwn(raw, 'per_page')) assert.equal(outcome.value.per_page, 30);
        if (outcome.ok && Object.hasOwn(raw, 'per_page') && raw.per_page === null) assert.equal(outcome.value.per_page, null);
        if (outcome.ok) {
          for (const name of Object.keys(LOOSE.arguments)) {
            if (name !== 'per_page') assert.equal(Object.hasOwn(outcome.value, name), Object.hasOwn(raw, name), name);
          }
        }
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.option(fc.option(fc.integer({ min: 1, max: 200 }), { nil: null }), { nil: undefined }), oddStrings, (perPage, name) => {
        const raw: Record<string, unknown> = { name };
        if (perPage !== undefined) raw.per_page = perPage;
        assert.deepEqual(parseArguments(LOOSE, raw), { name, per_page: perPage === undefined ? 30 : perPage });
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.constantFrom('thing', 'properties'), fc.boolean(), (name, asNull) => {
        const raw: Record<string, unknown> = { thing: { id: 'x' }, properties: {} };
        if (asNull) raw[name] = null;
        else delete raw[name];
        const error = parseError(ROOT, raw);
        assert.deepEqual(pick(error, 'code', 'path'), { code: 'missing_required_argument', path: [name] });
      }),
    );
  });

  test('arrays: items are checked one by one and a bad item is reported with its index', () => {
    fc.assert(
      fc.property(fc.array(fc.maxSafeInteger(), { maxLength: 5 }), fc.nat(5), anyJson, (good, at, bad) => {
        const position = Math.min(at, good.length);
        const items: unknown[] = [...good.map(String)];
        items.splice(position, 0, bad);
        const raw = JSON.parse(JSON.stringify({ numbers: items }));
        const outcome = attempt(LOOSE, raw);
        const badItem = raw.numbers[position];
        const badIsFine = badItem === null || Number.isSafeInteger(badItem) || (typeof badItem === 'string' && /^-?\d+$/.test(badItem) && Number.isSafeInteger(Number(badItem)));
        if (badIsFine) {
          if (!outcome.ok) checkErrorShape(LOOSE, outcome.error);
          else assert.deepEqual((outcome.value.numbers as unknown[]).filter((_, i) => i !== position), good);
        } else {
          assert.deepEqual(pick(parseError(LOOSE, raw), 'path', 'issue', 'index'), { path: ['numbers'], issue: 'parse_error', index: position });
        }
      }),
      RUNS,
    );
  });
});

function pick(object: Record<string, any>, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, object[k]]));
}

// ---- Examples: each issue with its exact detail --------------------------------------------------

const THING_ARGUMENT = { id: `${ROOT_ID}/ThingArgument`, name: 'thing', description: 'The thing' };

function exactError(raw: Record<string, unknown>, set: SetLike = ROOT, route: Record<string, string> = {}) {
  try {
    parseArguments(set, raw, route);
  } catch (error) {
    assert.ok(error instanceof ApiError);
    return { code: error.definition.code, status: error.httpStatus, description: error.description, detail: error.detail };
  }
  return assert.fail('no error');
}

describe('parseArguments: each issue, exactly', () => {
  const base = { thing: { id: 'thing_1' }, properties: {} };

  test('missing_required_argument', () => {
    assert.deepEqual(exactError({ properties: {} }), {
      code: 'missing_required_argument',
      status: 400,
      description: "The 'thing' argument is required but has not been provided",
      detail: { path: ['thing'], argument: { name: 'thing', description: 'The thing' } },
    });
    assert.deepEqual(exactError({ ...base, properties: { schedule: { frequency: 2 } } }), {
      code: 'missing_required_argument',
      status: 400,
      description: "The 'properties.schedule.interval' argument is required but has not been provided",
      detail: { path: ['properties', 'schedule', 'interval'], argument: { name: 'interval', description: 'How often' } },
    });
  });

  test('invalid_scalar (a string argument given a number)', () => {
    assert.deepEqual(exactError({ ...base, thing: { id: 5 } }), {
      code: 'invalid_argument',
      status: 400,
      description: "The 'thing.id' argument is invalid",
      detail: {
        path: ['thing', 'id'],
        index: null,
        issue: 'invalid_scalar',
        issue_description: ISSUE_DESCRIPTIONS.invalid_scalar,
        errors: [],
        argument: { id: 'Test/ArgumentSets/ThingLookup/IdArgument', name: 'id', description: null },
      },
    });
  });

  test('parse_error (an integer given "1e309")', () => {
    assert.deepEqual(exactError({ ...base, per_page: '1e309' }).detail, {
      path: ['per_page'],
      index: null,
      issue: 'parse_error',
      issue_description: ISSUE_DESCRIPTIONS.parse_error,
      errors: ['Integer must be provided as an integer or a string only containing numbers'],
      argument: { id: `${ROOT_ID}/PerPageArgument`, name: 'per_page', description: null },
    });
    assert.deepEqual(exactError({ ...base, per_page: '99999999999999999999' }).detail.errors, ['Integer is too large']);
    assert.deepEqual(exactError({ ...base, at: '1795608000' }).detail.errors, ['Time must be provided as an integer']);
    assert.deepEqual(exactError({ ...base, at: -1 }).detail.errors, ['Integer must be positive or zero']);
  });

  test('validation_errors (the names of the failed validations)', () => {
    assert.deepEqual(exactError({ ...base, per_page: '0' }).detail, {
      path: ['per_page'],
      index: null,
      issue: 'validation_errors',
      issue_description: null,
      errors: ['greater_than_zero'],
      argument: { id: `${ROOT_ID}/PerPageArgument`, name: 'per_page', description: null },
    });
    assert.deepEqual(exactError({ ...base, per_page: 201 }).detail.errors, ['at_most_two_hundred']);
    assert.deepEqual(exactError({ ...base, properties: { schedule: { interval: 'daily', frequency: -0 } } }).detail, {
      path: ['properties', 'schedule', 'frequency'],
      index: null,
      issue: 'validation_errors',
      issue_description: null,
      errors: ['at_least_one'],
      argument: { id: 'Test/ArgumentSets/ScheduleArguments/FrequencyArgument', name: 'frequency', description: null },
    });
  });

  test('invalid_enum_value', () => {
    assert.deepEqual(exactError({ ...base, properties: { schedule: { interval: 'Daily' } } }).detail, {
      path: ['properties', 'schedule', 'interval'],
      index: null,
      issue: 'invalid_enum_value',
      issue_description: ISSUE_DESCRIPTIONS.invalid_enum_value,
      errors: [],
      argument: { id: 'Test/ArgumentSets/ScheduleArguments/IntervalArgument', name: 'interval', description: 'How often' },
    });
  });

  test('missing_lookup_value (no key at all) — a null key counts as given, as in Apia', () => {
    assert.deepEqual(exactError({ ...base, thing: {} }).detail, {
      path: ['thing'],
      index: null,
      issue: 'missing_lookup_value',
      issue_description: ISSUE_DESCRIPTIONS.missing_lookup_value,
      errors: [],
      argument: THING_ARGUMENT,
    });
    // Unknown keys are not keys of the lookup.
    assert.equal(exactError({ ...base, thing: { name: 'x' } }).detail.issue, 'missing_lookup_value');
    // Apia's LookupArgumentSet#validate checks `@source.empty?`: `{id: null}` passes parsing (and the
    // resolver then finds nothing). Pinned here because the brief states "exactly one non-null key".
    const parsed = parseArguments(ROOT, { ...base, thing: { id: null } });
    assert.deepEqual((parsed.thing as PendingLookup).values, { id: null });
  });

  test('ambiguous_lookup_values', () => {
    assert.deepEqual(exactError({ ...base, thing: { id: 'a', permalink: 'b' } }).detail, {
      path: ['thing'],
      index: null,
      issue: 'ambiguous_lookup_values',
      issue_description: ISSUE_DESCRIPTIONS.ambiguous_lookup_values,
      errors: [],
      argument: THING_ARGUMENT,
    });
  });

  test('object_expected, with the index of an array item', () => {
    assert.deepEqual(exactError({ ...base, others: [{ id: 'a' }, 'b'] }).detail, {
      path: ['others'],
      index: 1,
      issue: 'object_expected',
      issue_description: null,
      errors: [],
      argument: { id: `${ROOT_ID}/OthersArgument`, name: 'others', description: null },
    });
    assert.deepEqual(exactError({ ...base, properties: [] }).detail.issue, 'object_expected');
  });

  test('array_expected', () => {
    assert.deepEqual(exactError({ ...base, numbers: '1' }).detail, {
      path: ['numbers'],
      index: null,
      issue: 'array_expected',
      issue_description: null,
      errors: [],
      argument: { id: `${ROOT_ID}/NumbersArgument`, name: 'numbers', description: null },
    });
  });

  test('the first problem in definition order is the one reported', () => {
    const error = exactError({ thing: { id: 1 }, per_page: 'x', properties: 5 });
    assert.deepEqual(error.detail.path, ['thing', 'id']);
    assert.deepEqual(exactError({ thing: { id: 'a' }, per_page: 'x', properties: 5 }).detail.path, ['per_page']);
  });

  test('route placeholders: fill the first key when absent; never when given, even as null', () => {
    assert.deepEqual((parseArguments(ROOT, { properties: {} }, { thing: 'p' }).thing as PendingLookup).values, { id: 'p' });
    assert.deepEqual((parseArguments(ROOT, { thing: { permalink: 'q' }, properties: {} }, { thing: 'p' }).thing as PendingLookup).values, { permalink: 'q' });
    assert.equal(exactError({ thing: null, properties: {} }, ROOT, { thing: 'p' }).code, 'missing_required_argument');
    assert.equal(exactError({ thing: {}, properties: {} }, ROOT, { thing: 'p' }).detail.issue, 'missing_lookup_value');
  });

  test('an array item that is itself an array is an invalid item (not a nested array, and no stack overflow)', () => {
    assert.deepEqual(exactError({ ...base, numbers: ['1', ['2']] }).detail, {
      path: ['numbers'],
      index: 1,
      issue: 'parse_error',
      issue_description: ISSUE_DESCRIPTIONS.parse_error,
      errors: ['Integer must be provided as an integer or a string only containing numbers'],
      argument: { id: `${ROOT_ID}/NumbersArgument`, name: 'numbers', description: null },
    });
    assert.equal(exactError({ ...base, others: [[{ id: 'a' }]] }).detail.issue, 'object_expected');
    const deep = JSON.parse(`${'['.repeat(100_000)}1${']'.repeat(100_000)}`);
    assert.deepEqual(pick(exactError({ ...base, numbers: deep }).detail, 'issue', 'index'), { issue: 'parse_error', index: 0 });
  });
});
