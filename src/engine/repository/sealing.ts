/**
 * How a repository object (a chunk or a manifest) is stored: optionally compressed, optionally
 * encrypted, always bound to its name. The layout, byte by byte, is in docs/REPOSITORY.md:
 *
 *   byte 0        flags: bit 0 = compressed (raw DEFLATE), bit 1 = encrypted (AES-256-GCM)
 *   encrypted:    12-byte nonce ‖ ciphertext ‖ 16-byte tag, with the object's name as additional data
 *   not encrypted: the (possibly compressed) bytes
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

const COMPRESSED = 1;
const ENCRYPTED = 2;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Compression is kept only when it saves at least this share of the bytes. */
const WORTHWHILE_SAVING = 1 / 16;
/** Before compressing a whole chunk, a sample of this many bytes must compress well. */
const SAMPLE_BYTES = 16 * 1024;

export class UnsealError extends Error {}

/** `key` null: not encrypted. `name` is authenticated with the content (a file cannot be swapped for another). */
export function seal(plain: Uint8Array, name: string, key: Buffer | null): Buffer[] {
  let body: Uint8Array = plain;
  let flags = 0;
  const compressed = compressIfWorthwhile(plain);
  if (compressed) {
    body = compressed;
    flags |= COMPRESSED;
  }
  if (key === null) return [Buffer.from([flags]), Buffer.from(body.buffer, body.byteOffset, body.byteLength)];
  flags |= ENCRYPTED;
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(name));
  const ciphertext = [cipher.update(body), cipher.final()];
  return [Buffer.from([flags]), nonce, ...ciphertext, cipher.getAuthTag()];
}

export function unseal(stored: Buffer, name: string, key: Buffer | null): Buffer {
  if (stored.length < 1) throw new UnsealError('empty object');
  const flags = stored[0]!;
  if (flags & ~(COMPRESSED | ENCRYPTED)) throw new UnsealError(`unknown flags ${flags}`);
  let body = stored.subarray(1);
  if (flags & ENCRYPTED) {
    if (key === null) throw new UnsealError('the object is encrypted but the repository is not');
    if (body.length < NONCE_BYTES + TAG_BYTES) throw new UnsealError('truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      body = Buffer.concat([decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new UnsealError('authentication failed (wrong key, or the bytes were changed)');
    }
  } else if (key !== null) {
    throw new UnsealError('the object is not encrypted but the repository is');
  }
  if (flags & COMPRESSED) {
    try {
      return inflateRawSync(body);
    } catch (error) {
      throw new UnsealError(`cannot decompress: ${(error as Error).message}`);
    }
  }
  return body;
}

function compressIfWorthwhile(plain: Uint8Array): Buffer | undefined {
  if (plain.length > SAMPLE_BYTES * 4) {
    const sample = deflateRawSync(plain.subarray(0, SAMPLE_BYTES), { level: 1 });
    if (sample.length > SAMPLE_BYTES * (1 - WORTHWHILE_SAVING)) return undefined;
  }
  const compressed = deflateRawSync(plain, { level: 1 });
  return compressed.length <= plain.length * (1 - WORTHWHILE_SAVING) ? compressed : undefined;
}
