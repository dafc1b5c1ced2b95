/** What a webhook must be: the checks of its URL and secret, with the messages both the API and the CLI show. */

/** Shortest secret accepted: a guessable secret would let anyone forge notifications. */
export const MIN_WEBHOOK_SECRET_LENGTH = 16;
export const MAX_WEBHOOK_SECRET_LENGTH = 256;
export const MAX_WEBHOOK_URL_LENGTH = 2048;
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 255;

export interface WebhookInput {
  readonly url: string;
  readonly secret: string;
  readonly description?: string | null | undefined;
}

/** Every problem with the input, as sentences; empty when it is acceptable. */
export function webhookInputErrors(input: WebhookInput): string[] {
  const errors: string[] = [];
  errors.push(...webhookUrlErrors(input.url));
  const secret = input.secret;
  if (secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
    errors.push(`Secret must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters long`);
  } else if (secret.length > MAX_WEBHOOK_SECRET_LENGTH) {
    errors.push(`Secret must be at most ${MAX_WEBHOOK_SECRET_LENGTH} characters long`);
  }
  // NUL and other control characters cannot be typed into a receiver's configuration; PostgreSQL refuses NUL.
  if (/[\u0000-\u001f\u007f]/.test(secret)) errors.push('Secret must not contain control characters');
  if ((input.description?.length ?? 0) > MAX_WEBHOOK_DESCRIPTION_LENGTH) {
    errors.push(`Description must be at most ${MAX_WEBHOOK_DESCRIPTION_LENGTH} characters long`);
  }
  if (input.description?.includes('\u0000')) errors.push('Description must not contain NUL');
  return errors;
}

export function webhookUrlErrors(url: string): string[] {
  if (url.trim() === '') return ['URL must not be blank'];
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return [`URL must be at most ${MAX_WEBHOOK_URL_LENGTH} characters long`];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [`URL "${printable(url)}" is not a valid absolute URL (e.g. https://hooks.example.com/dbp)`];
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return [`URL must use http or https, not ${printable(parsed.protocol.replace(/:$/, ''))}`];
  }
  if (parsed.username !== '' || parsed.password !== '') return ['URL must not hold a user name or password (the signature authenticates the body)'];
  if (parsed.hash !== '') return ['URL must not have a #fragment'];
  return [];
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
