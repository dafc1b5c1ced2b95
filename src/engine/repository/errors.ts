import type { RepositoryErrorCode } from './contract.js';

/** A failure a caller can tell apart by `code`; the message says what happened in words. */
export class RepositoryError extends Error {
  constructor(
    readonly code: RepositoryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RepositoryError';
  }
}
