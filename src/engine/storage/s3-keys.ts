/**
 * Where each object of a repository lives in a bucket: the same relative paths as the local directory
 * store (docs/REPOSITORY.md), under the location's prefix, so that a repository directory copied with
 * `aws s3 sync` is a valid S3 repository and the other way round.
 *
 *   <prefix>/config                (objects of kind config sit at the top, under their own name)
 *   <prefix>/packs/<xx>/<id>       (<xx>: the first two characters of the pack's id)
 *   <prefix>/index/<id>
 *   <prefix>/backups/<id>
 *   <prefix>/locks/<name>
 */
import type { ObjectKind } from './object-store.js';

const DIRECTORY: Record<Exclude<ObjectKind, 'config'>, string> = {
  pack: 'packs',
  index: 'index',
  manifest: 'backups',
  lock: 'locks',
};

/** Names are single path segments of visible characters; anything else is a bug of the caller. */
export function checkObjectName(kind: ObjectKind, name: string): void {
  const problem =
    typeof name !== 'string' || name === ''
      ? 'is empty'
      : name === '.' || name === '..'
        ? 'is a relative path'
        : /[/\\]/.test(name)
          ? 'contains a slash'
          : /[\u0000-\u001f\u007f]/.test(name)
            ? 'contains a control character'
            : name.length > 200
              ? 'is longer than 200 characters'
              : kind === 'pack' && name.length < 2
                ? 'is shorter than the two characters of its pack directory'
                : undefined;
  if (problem) throw new RangeError(`object name ${JSON.stringify(name)} (${kind}) ${problem}`);
}

export class S3KeyLayout {
  /** '' or the prefix followed by a slash. */
  private readonly root: string;

  constructor(prefix: string) {
    this.root = prefix === '' ? '' : `${prefix.replace(/^\/+|\/+$/g, '')}/`;
  }

  key(kind: ObjectKind, name: string): string {
    checkObjectName(kind, name);
    if (kind === 'config') return `${this.root}${name}`;
    if (kind === 'pack') return `${this.root}packs/${name.slice(0, 2)}/${name}`;
    return `${this.root}${DIRECTORY[kind]}/${name}`;
  }

  /** What ListObjectsV2 is asked for to list a kind; config lists the top level only (a delimiter). */
  listing(kind: ObjectKind): { prefix: string; delimiter?: string } {
    if (kind === 'config') return { prefix: this.root, delimiter: '/' };
    return { prefix: `${this.root}${DIRECTORY[kind]}/` };
  }

  /**
   * The object name a listed key stands for, or undefined for a key that is no object of this kind
   * (a pack outside its two-character directory, a nested key, a `.tmp-` file synced from a directory).
   */
  nameOf(kind: ObjectKind, key: string): string | undefined {
    const { prefix } = this.listing(kind);
    if (!key.startsWith(prefix)) return undefined;
    const segments = key.slice(prefix.length).split('/');
    let name: string | undefined;
    if (kind === 'pack') {
      if (segments.length !== 2) return undefined;
      const [directory, packName] = segments as [string, string];
      if (packName.slice(0, 2) !== directory) return undefined;
      name = packName;
    } else {
      if (segments.length !== 1) return undefined;
      name = segments[0];
    }
    if (name === undefined || name === '' || name.startsWith('.tmp-')) return undefined;
    return name;
  }
}
