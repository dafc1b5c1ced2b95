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
/** Bytes of a chunk whose histogram decides whether to try compressing it. */
const SAMPLE_BYTES = 4096;
/**
 * Above this (of 8 bits per byte) a sample looks random: not compressed. A 4096-byte sample of random
 * bytes measures about 7.95; text, code and sparse data measure far less.
 */
const INCOMPRESSIBLE_BITS_PER_BYTE = 7.5;

/** The most sealing adds to an object: the flags byte, a nonce and a tag (compression never grows it). */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

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
  const nonce = freshNonce();
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
      const plain = decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES));
      const rest = decipher.final(); // empty: GCM is a stream mode
      body = rest.length === 0 ? plain : Buffer.concat([plain, rest]);
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
  // Random (incompressible) data is told by its bytes' entropy, far cheaper than a trial deflate.
  if (plain.length >= 1024 && sampleEntropy(plain) > INCOMPRESSIBLE_BITS_PER_BYTE) return undefined;
  const compressed = deflateRawSync(plain, { level: 1 });
  return compressed.length <= plain.length * (1 - WORTHWHILE_SAVING) ? compressed : undefined;
}

/** Bits per byte (0–8) of the byte histogram of up to SAMPLE_BYTES taken evenly across the data. */
function sampleEntropy(data: Uint8Array): number {
  const counts = new Uint32Array(256);
  const stride = Math.max(1, Math.floor(data.length / SAMPLE_BYTES));
  let total = 0;
  for (let i = 0; i < data.length; i += stride) {
    counts[data[i]!]! += 1;
    total += 1;
  }
  let bits = 0;
  for (const count of counts) {
    if (count > 0) bits -= (count / total) * Math.log2(count / total);
  }
  return bits;
}

/** Nonces are drawn from the system's random generator many at a time (one call per chunk costs more than the chunk's encryption). */
let nonces = Buffer.alloc(0);
let nonceOffset = 0;
function freshNonce(): Buffer {
  if (nonceOffset + NONCE_BYTES > nonces.length) {
    nonces = randomBytes(NONCE_BYTES * 1024);
    nonceOffset = 0;
  }
  const nonce = nonces.subarray(nonceOffset, nonceOffset + NONCE_BYTES);
  nonceOffset += NONCE_BYTES;
  return nonce;
}
