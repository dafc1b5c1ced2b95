/** Public object ids: `<prefix>_<16 letters and digits>`, as the Core API writes them. */
import { randomFillSync } from 'node:crypto';

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
  backup: 'bkp',
  webhook: 'whk',
  webhookEvent: 'evt',
  webhookDelivery: 'whd',
  operation: 'op',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${randomToken(16)}`;
}

/**
 * An id of the same shape whose text sorts by creation time (to the millisecond): 9 base-36 digits
 * of the time, then 7 random letters and digits. For rows inserted by the thousand (run records):
 * their unique index on `id` then grows at one end instead of being written all over.
 */
export function newTimeOrderedId(kind: IdKind, nowMs = Date.now()): string {
  return `${ID_PREFIXES[kind]}_${nowMs.toString(36).padStart(9, '0')}${randomToken(7)}`;
}

/**
 * A random string of the given length from the id alphabet (used for secrets and WWNs): uniform
 * (bytes that would bias the choice are skipped) and from the system's CSPRNG, read through a pool
 * so that making many ids (the scheduler inserts hundreds per claim) costs no call per character.
 */
export function randomToken(length: number, alphabet = ALPHABET): string {
  if (alphabet.length < 2 || alphabet.length > 256) throw new RangeError('randomToken: the alphabet must have 2 to 256 characters');
  const unbiasedBelow = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    const byte = nextRandomByte();
    if (byte < unbiasedBelow) out += alphabet[byte % alphabet.length];
  }
  return out;
}

const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function nextRandomByte(): number {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}
