/**
 * Compiles a (type, field spec) pair into a function that writes a value straight to JSON text.
 * Which fields to write is decided once per path, when a path is first written, not per request;
 * nested writers are built lazily because object graphs (disk → attachment → disk) may be cyclic
 * in their types though never in their data.
 */
import { FieldSpec } from './field-spec.js';
import { resolveType, type FieldDefinition, type ObjectType, type ValueType } from './value-types.js';

export type JsonWriter = (value: unknown) => string;

export function compileWriter(type: ValueType, spec: FieldSpec, path: readonly string[] = []): JsonWriter {
  switch (type.kind) {
    case 'scalar':
      return (value) => type.toJson(value);
    case 'enum':
      return (value) => JSON.stringify(value);
    case 'object':
      return compileObjectWriter(type, spec, path);
    case 'polymorph': {
      const options = type.options.map((option) => ({
        option,
        write: compileObjectWriter(option.type, spec, path),
        prefix: `{"type":${JSON.stringify(option.name)},"value":`,
      }));
      return (value) => {
        const match = options.find(({ option }) => option.matches(value));
        if (!match) throw new Error(`${type.id}: no option matches the value`);
        return `${match.prefix}${match.write(value)}}`;
      };
    }
  }
}

export function compileFieldWriter(field: FieldDefinition, spec: FieldSpec, path: readonly string[]): JsonWriter {
  let writeOne: JsonWriter | undefined;
  const one = (value: unknown) =>
    value === null || value === undefined ? 'null' : (writeOne ??= compileWriter(resolveType(field.type), spec, path))(value);
  const writeValue: JsonWriter = field.array
    ? (value) => (Array.isArray(value) ? `[${value.map(one).join(',')}]` : '[]')
    : one;
  return (value) => (value === null || value === undefined ? 'null' : writeValue(value));
}

function compileObjectWriter(type: ObjectType, spec: FieldSpec, path: readonly string[]): JsonWriter {
  const included = Object.entries(type.fields)
    .filter(([name]) => spec.includes([...path, name]))
    .map(([name, field]) => {
      const read = field.value ?? ((source: any) => source[name]);
      return { key: `${JSON.stringify(name)}:`, read, write: compileFieldWriter(field, spec, [...path, name]) };
    });
  return (source: any) => {
    let json = '{';
    for (let i = 0; i < included.length; i++) {
      const field = included[i]!;
      if (i > 0) json += ',';
      json += field.key + field.write(field.read(source));
    }
    return json + '}';
  };
}
