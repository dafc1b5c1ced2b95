/**
 * The repository's configuration (`config`, plain JSON) and the keys derived from its passphrase.
 * Encrypted: scrypt(passphrase, salt) gives 64 bytes — the AES-256-GCM key, then the key of the
 * chunk ids' HMAC-SHA-256 — and `check` (a sealed known text) tells a wrong passphrase at once.
 * Unencrypted (only by explicit choice): the id key is random and stored in the config in clear.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { RepositoryError } from './errors.js';
import { seal, unseal, UnsealError } from './sealing.js';

export const FORMAT_VERSION = 2;
const CHECK_TEXT = 'dbp repository key check';
const CHECK_NAME = 'config';
const SCRYPT = { N: 32768, r: 8, p: 1 } as const;

export interface RepositoryConfig {
  readonly format: number;
  readonly id: string;
  readonly createdAt: number;
  readonly chunkSize: number;
  readonly encryption: {
    readonly cipher: 'aes-256-gcm';
    readonly kdf: 'scrypt';
    readonly N: number;
    readonly r: number;
    readonly p: number;
    /** base64 */
    readonly salt: string;
    /** base64 of the sealed CHECK_TEXT */
    readonly check: string;
  } | null;
  /** Unencrypted repositories only: base64 of the HMAC key of chunk ids. */
  readonly idKey?: string;
  /**
   * Immutable repositories only (`dbp repository init --immutable-days N`): every object but locks is
   * written retained (S3 Object Lock, compliance mode) for this many days. Absent: not immutable.
   */
  readonly immutableDays?: number;
}

export interface RepositoryKeys {
  /** AES-256-GCM key; null when the repository is not encrypted. */
  readonly encryption: Buffer | null;
  /** HMAC-SHA-256 key that makes chunk ids. */
  readonly id: Buffer;
}

export function newConfig(
  password: string | null,
  chunkSize: number,
  now: number,
  immutableDays?: number,
): { config: RepositoryConfig; keys: RepositoryKeys } {
  const id = randomBytes(16).toString('hex');
  const immutable = immutableDays === undefined ? {} : { immutableDays };
  if (password === null) {
    const idKey = randomBytes(32);
    return {
      config: { format: FORMAT_VERSION, id, createdAt: now, chunkSize, encryption: null, idKey: idKey.toString('base64'), ...immutable },
      keys: { encryption: null, id: idKey },
    };
  }
  const salt = randomBytes(32);
  const keys = derive(password, salt, SCRYPT);
  const check = Buffer.concat(seal(Buffer.from(CHECK_TEXT), CHECK_NAME, keys.encryption));
  const encryption = { cipher: 'aes-256-gcm', kdf: 'scrypt', ...SCRYPT, salt: salt.toString('base64'), check: check.toString('base64') } as const;
  return { config: { format: FORMAT_VERSION, id, createdAt: now, chunkSize, encryption, ...immutable }, keys };
}

export function unlock(config: RepositoryConfig, password: string | null): RepositoryKeys {
  if (config.encryption === null) {
    if (!config.idKey) throw new RepositoryError('not_a_repository', 'The repository config has neither encryption nor an id key');
    return { encryption: null, id: Buffer.from(config.idKey, 'base64') };
  }
  if (password === null) {
    throw new RepositoryError('password_required', 'The repository is encrypted: give its passphrase (DBP_REPOSITORY_PASSWORD)');
  }
  const { salt, check, N, r, p } = config.encryption;
  const keys = derive(password, Buffer.from(salt, 'base64'), { N, r, p });
  try {
    if (unseal(Buffer.from(check, 'base64'), CHECK_NAME, keys.encryption).toString() !== CHECK_TEXT) throw new UnsealError('check text differs');
  } catch (error) {
    if (error instanceof UnsealError) throw new RepositoryError('wrong_password', 'Wrong passphrase for this repository');
    throw error;
  }
  return keys;
}

function derive(password: string, salt: Buffer, parameters: { N: number; r: number; p: number }): { encryption: Buffer; id: Buffer } {
  const bytes = scryptSync(password, salt, 64, { ...parameters, maxmem: 256 * parameters.N * parameters.r });
  return { encryption: bytes.subarray(0, 32), id: bytes.subarray(32, 64) };
}
