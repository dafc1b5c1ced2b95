/**
 * How an RBD image is named: `POOL/IMAGE` on the command line, `rbd:POOL/IMAGE` in a disk's
 * `image_path` (a file path is absolute, so the two never meet). Names are kept to letters, digits,
 * `.`, `_` and `-` (what Ceph's tools and this service's snapshot names can carry without quoting).
 */
export interface RbdImageName {
  readonly pool: string;
  readonly image: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const PREFIX = 'rbd:';

export class RbdNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RbdNameError';
  }
}

/** Parses `POOL/IMAGE`; throws RbdNameError with what is wrong. */
export function parseRbdImageName(text: string): RbdImageName {
  const parts = text.split('/');
  if (parts.length !== 2) throw new RbdNameError(`"${text}" is not POOL/IMAGE (one slash between the pool and the image)`);
  const [pool, image] = parts as [string, string];
  for (const [what, name] of [['pool', pool], ['image', image]] as const) {
    if (!NAME.test(name)) {
      throw new RbdNameError(`"${text}": the ${what} name "${name}" must be 1 to 100 letters, digits, ".", "_" or "-", starting with a letter or digit`);
    }
  }
  return { pool, image };
}

export function formatRbdImageName(name: RbdImageName): string {
  return `${name.pool}/${name.image}`;
}

/** The `image_path` of a disk on this image. */
export function rbdImagePath(name: RbdImageName): string {
  return `${PREFIX}${formatRbdImageName(name)}`;
}

/** The image a disk's `image_path` names, or undefined for a file or block device. */
export function rbdImageOfPath(imagePath: string): RbdImageName | undefined {
  return imagePath.startsWith(PREFIX) ? parseRbdImageName(imagePath.slice(PREFIX.length)) : undefined;
}
