/**
 * Database errors that say nothing about the run: the connection was cut (a restart, a proxy, a
 * network blip), the server is shutting down or cannot take connections yet, or the transaction lost
 * a deadlock or serialization race. A run that meets one is given back and tried again, never
 * recorded as failed because of it.
 */

/** PostgreSQL SQLSTATEs: connection exceptions (08…), operator intervention (57P01–57P03), 40001/40P01. */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '53300']);
/** Socket errors of a connection that went away. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/** node-postgres (and its pool) report a lost connection in these words, with no code. */
const TRANSIENT_MESSAGES = [/^Connection terminated/, /^Client has encountered a connection error/, /timeout exceeded when trying to connect/i, /^Connection closed/];

export function isTransientDatabaseError(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && cause !== null && depth < 5; depth++) {
    const { name, code, message } = cause as { name?: unknown; code?: unknown; message?: unknown };
    // An object store's failure (its refused connection has the same socket codes) is no database's:
    // see store-outage.ts.
    if (name === 'StoreError') return false;
    if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_SOCKET_CODES.has(code))) return true;
    if (code === 'SQLITE_BUSY') return true;
    if (typeof message === 'string' && TRANSIENT_MESSAGES.some((pattern) => pattern.test(message))) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}
