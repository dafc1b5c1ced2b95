/**
 * Answers of read endpoints, kept per organization and *answers version*: a number read with the
 * token that moves whenever anything the organization's answers are made from may have changed.
 * - PostgreSQL: the organization's `generation`, which database triggers bump whenever a row its
 *   answers are made from changes (migration 0004), whoever writes it and in whatever process.
 * - SQLite: the store's count of any change (`Store.changes.any`): a write through this process or a
 *   commit by any other process. Coarser (any write empties every organization's entries) but free.
 * So a cached answer is served only while nothing it was made from has changed: the cache can never
 * change an answer, on one process or many. Bounded; least recently used goes first.
 */
import { hash } from 'node:crypto';

/** A response body ready to send: its bytes and its weak ETag (the MD5 of the bytes, as Rack makes it). */
export interface JsonBody {
  readonly bytes: Buffer;
  readonly etag: string;
}

export function jsonBody(text: string): JsonBody {
  const bytes = Buffer.from(text);
  return { bytes, etag: `W/"${hash('md5', bytes)}"` };
}

export class ResponseCache {
  private readonly entries = new Map<string, JsonBody>();

  constructor(private readonly maxEntries = 2000) {}

  static key(organizationId: string, answersVersion: number, method: string, url: string): string {
    return `${organizationId}\u0000${answersVersion}\u0000${method}\u0000${url}`;
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
