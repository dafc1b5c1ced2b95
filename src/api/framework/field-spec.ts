/**
 * Field specs choose which fields of an object an endpoint returns, in the notation of the native
 * schema: `id,retention,target[id,name],schedule[interval,next_invocation_at]`, `*` for every field,
 * `-name` to leave one out. `schedule` without brackets keeps the field but none of its sub-fields
 * (the real update endpoint answers `"schedule":{}` for exactly that reason).
 */
export class FieldSpec {
  private constructor(
    private readonly paths: ReadonlySet<string>,
    private readonly excludes: ReadonlySet<string>,
  ) {}

  static readonly ALL = FieldSpec.parse('*');

  static parse(text: string): FieldSpec {
    const paths = new Set<string>();
    const excludes = new Set<string>();
    const sections: string[] = [];
    let word = '';
    let excluding = false;

    const addWord = () => {
      if (word === '') return;
      (excluding ? excludes : paths).add([...sections, word].join('.'));
      word = '';
      excluding = false;
    };

    for (const character of text) {
      if (character === ',') {
        addWord();
      } else if (character === '[') {
        if (word === '') throw new Error(`field spec "${text}": [ requires a word before it`);
        sections.push(word);
        paths.add(sections.join('.'));
        word = '';
      } else if (character === ']') {
        if (sections.length === 0) throw new Error(`field spec "${text}": unopened bracket closure`);
        addWord();
        sections.pop();
      } else if (character === '-') {
        if (word === '') excluding = true;
        else addWord();
      } else if (/\s/.test(character)) {
        continue;
      } else if (/[a-z0-9_*]/.test(character)) {
        word += character;
      } else {
        throw new Error(`field spec "${text}": invalid character ${character}`);
      }
    }
    if (sections.length > 0) throw new Error(`field spec "${text}": unbalanced brackets`);
    addWord();
    return new FieldSpec(paths, excludes);
  }

  /** Whether the field at `path` (names from the spec's root) is returned. */
  includes(path: readonly string[]): boolean {
    const joined = path.join('.');
    if (this.paths.has(joined)) return true;
    if (this.excludes.has(joined)) return false;
    // A `*` at some ancestor level includes the field, unless that ancestor's child on the path was
    // itself named (then the child's own brackets decide).
    for (let depth = path.length - 1; depth >= 0; depth--) {
      const ancestor = path.slice(0, depth);
      if (!this.paths.has([...ancestor, '*'].join('.'))) continue;
      if (!this.paths.has(path.slice(0, depth + 1).join('.'))) return true;
    }
    return false;
  }
}
