/**
 * The signature of a webhook body: `X-DBP-Signature: sha256=<hex HMAC-SHA-256 of the exact body bytes
 * keyed with the webhook's secret>`. A receiver recomputes it over the bytes it received (before any
 * JSON parsing) and compares in constant time (docs/WEBHOOKS.md).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-DBP-Signature';
export const EVENT_ID_HEADER = 'X-DBP-Event-Id';
export const EVENT_TYPE_HEADER = 'X-DBP-Event-Type';

export function signatureOf(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Whether `header` is the signature of `body` with `secret` (constant-time). */
export function isValidSignature(body: string | Uint8Array, secret: string, header: string | null | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signatureOf(body, secret));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
