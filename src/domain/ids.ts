/** Public object ids: `<prefix>_<16 letters and digits>`, as the Core API writes them. */
import { randomInt } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export const ID_PREFIXES = {
  organization: 'org',
  virtualMachine: 'vm',
  disk: 'disk',
  dataCenter: 'loc',
  zone: 'zone',
  country: 'ctry',
  currency: 'cur',
  trashObject: 'trsh',
  task: 'task',
  diskBackupPolicy: 'dbp',
  apiToken: 'apitoken',
  backupRun: 'run',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind): string {
  let suffix = '';
  for (let i = 0; i < 16; i++) suffix += ALPHABET[randomInt(ALPHABET.length)];
  return `${ID_PREFIXES[kind]}_${suffix}`;
}

/** A random string of the given length from the id alphabet (used for secrets and WWNs). */
export function randomToken(length: number, alphabet = ALPHABET): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}
