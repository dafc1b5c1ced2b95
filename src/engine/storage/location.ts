/**
 * The `--repository` argument: a directory path, or `s3:http(s)://host[:port]/bucket[/prefix]` (the
 * bucket in the URL's path, addressed path-style). Anything that starts with `s3:` but is not such a URL
 * is refused with a message that shows the expected form, rather than taken for a directory named `s3:…`.
 */
import { resolve } from 'node:path';
import type { StoreLocation } from './object-store.js';

export class RepositoryLocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepositoryLocationError';
  }
}

const S3_FORM = 's3:http(s)://host[:port]/bucket[/prefix]';
/** S3 bucket names: 3–63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseRepositoryLocation(text: string): StoreLocation {
  if (text.trim() === '') throw new RepositoryLocationError('The repository location is empty: give a directory or ' + S3_FORM);
  if (!/^s3:/i.test(text)) return { type: 'local', path: resolve(text) };
  const rest = text.slice(3);
  let url: URL;
  try {
    url = new URL(rest);
  } catch {
    throw new RepositoryLocationError(`"${text}" is not an S3 repository location: expected ${S3_FORM}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RepositoryLocationError(`"${text}": the endpoint must be an http or https URL (${S3_FORM})`);
  }
  if (url.username || url.password) {
    throw new RepositoryLocationError(`"${text}": credentials do not belong in the location; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)`);
  }
  if (url.search || url.hash) throw new RepositoryLocationError(`"${text}": a query or fragment is not allowed (${S3_FORM})`);
  const segments = url.pathname.split('/').filter((segment) => segment !== '');
  const bucket = segments.shift();
  if (bucket === undefined) throw new RepositoryLocationError(`"${text}" names no bucket: expected ${S3_FORM}`);
  if (!BUCKET.test(bucket)) throw new RepositoryLocationError(`"${bucket}" is not a valid S3 bucket name (3–63 lowercase letters, digits, dots and hyphens)`);
  const decoded = segments.map((segment) => decodeURIComponent(segment));
  if (decoded.some((segment) => segment === '.' || segment === '..')) throw new RepositoryLocationError(`"${text}": the prefix may not contain . or .. segments`);
  return { type: 's3', endpoint: `${url.protocol}//${url.host}`, bucket, prefix: decoded.join('/') };
}

/** The location written back as `--repository` takes it (the same repository always prints the same way). */
export function formatRepositoryLocation(location: StoreLocation): string {
  if (location.type === 'local') return location.path;
  return `s3:${location.endpoint}/${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
}
