/**
 * Answers of read endpoints, kept per organization *generation*. Database triggers bump an
 * organization's generation whenever any row its answers are made from changes (migration 0004),
 * whoever writes it and in whatever process, and authentication reads the generation in the same
 * query as the token. So a cached answer is served only while nothing it was made from has changed:
 * the cache can never change an answer, on one process or many. Bounded; least recently used goes first.
 */
import { createHash } from 'node:crypto';

/** A response body ready to send: its bytes and its weak ETag (the MD5 of the bytes, as Rack makes it). */
export interface JsonBody {
  readonly bytes: Buffer;
  readonly etag: string;
}

export function jsonBody(text: string): JsonBody {
  const bytes = Buffer.from(text);
  return { bytes, etag: `W/"${createHash('md5').update(bytes).digest('hex')}"` };
}

export class ResponseCache {
  private readonly entries = new Map<string, JsonBody>();

  constructor(private readonly maxEntries = 2000) {}

  static key(organizationId: string, generation: number, method: string, url: string): string {
    return `${organizationId}\u0000${generation}\u0000${method}\u0000${url}`;
  }

  get(key: string): JsonBody | undefined {
    const body = this.entries.get(key);
    if (body !== undefined) {
      this.entries.delete(key); // re-insert: Map order is our recency order
      this.entries.set(key, body);
    }
    return body;
  }

  set(key: string, body: JsonBody): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, body);
  }
}
