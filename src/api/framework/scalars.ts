/**
 * Scalars as the Core API parses and writes them. Parsing follows Apia: a value of the wrong form is a
 * `parse_error` (with a sentence), a value of the wrong type an `invalid_scalar`.
 */
import { InvalidScalarError, ScalarParseError, type ScalarType } from './value-types.js';

const DIGITS = /^-?\d+$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

export const StringScalar: ScalarType<string> = {
  kind: 'scalar',
  id: 'Apia/Scalars/String',
  name: 'String',
  parse(raw) {
    if (typeof raw !== 'string') throw new InvalidScalarError();
    return raw;
  },
  toJson: (value) => JSON.stringify(String(value)),
  openapi: { type: 'string' },
};

export const IntegerScalar: ScalarType<number> = {
  kind: 'scalar',
  id: 'Apia/Scalars/Integer',
  name: 'Integer',
  parse(raw) {
    const value = typeof raw === 'string' && DIGITS.test(raw) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new ScalarParseError('Integer must be provided as an integer or a string only containing numbers');
    }
    // Beyond 2^53 an integer cannot be represented exactly; treat it as malformed rather than guess.
    if (!Number.isSafeInteger(value)) throw new ScalarParseError('Integer is too large');
    return value;
  },
  toJson: integerToJson,
  openapi: { type: 'integer' },
};

const TRUE_VALUES: readonly unknown[] = [true, 'true', 'yes', 1, '1'];
const FALSE_VALUES: readonly unknown[] = [false, 'false', 'no', 0, '0'];

export const BooleanScalar: ScalarType<boolean> = {
  kind: 'scalar',
  id: 'Apia/Scalars/Boolean',
  name: 'Boolean',
  parse(raw) {
    if (TRUE_VALUES.includes(raw)) return true;
    if (FALSE_VALUES.includes(raw)) return false;
    throw new ScalarParseError(
      'Boolean must be provided as a boolean, as a string containing true or false or as 0 or 1 as an integer.',
    );
  },
  toJson: (value) => (value ? 'true' : 'false'),
  openapi: { type: 'boolean' },
};

/** Unix seconds. As in the real API, only a JSON integer is accepted (not a string of digits). */
export const UnixTimeScalar: ScalarType<number> = {
  kind: 'scalar',
  id: 'Apia/Scalars/UnixTime',
  name: 'Unix Timestamp',
  parse(raw) {
    if (typeof raw !== 'number' || !Number.isInteger(raw)) throw new ScalarParseError('Time must be provided as an integer');
    if (raw < 0) throw new ScalarParseError('Integer must be positive or zero');
    if (!Number.isSafeInteger(raw)) throw new ScalarParseError('Time is too large');
    return raw;
  },
  toJson: integerToJson,
  openapi: { type: 'integer' },
};

export const DecimalScalar: ScalarType<number> = {
  kind: 'scalar',
  id: 'Apia/Scalars/Decimal',
  name: 'Decimal',
  parse(raw) {
    const value = typeof raw === 'string' && DECIMAL.test(raw) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new ScalarParseError('Decimal must be provided as a decimal, integer or a string only containing numbers');
    }
    return value;
  },
  toJson: decimalToJson,
  openapi: { type: 'number', format: 'float' },
};

/** Writes a whole number; a value that is not a finite number (never expected) is written as null, not invalid JSON. */
export function integerToJson(value: number): string {
  return Number.isFinite(value) ? String(Math.trunc(value)) : 'null';
}

/** Writes a float as Ruby does (`0.0`, `1.5`), so that whole numbers keep their decimal point. */
export function decimalToJson(value: number): string {
  if (!Number.isFinite(value)) return 'null';
  if (Number.isInteger(value) && Math.abs(value) < 1e16) return value.toFixed(1);
  return JSON.stringify(value);
}
