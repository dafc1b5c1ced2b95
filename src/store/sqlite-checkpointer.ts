/**
 * WAL checkpoints off the event loop. SQLite copies the write-ahead log back into the database file
 * (and syncs it) every 1000 pages by default, inside whichever write happens to cross that mark: a
 * stall of several milliseconds for that request and every request queued behind it. A long-running
 * process instead turns that off and checkpoints from a worker thread with its own connection, a
 * few times a second; a PASSIVE checkpoint never blocks the writers or the readers.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const CHECKPOINT_INTERVAL_MS = 200;

// Plain CommonJS, evaluated in the worker: no file to find under tsx or in dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (error) { parentPort.postMessage(String(error && error.message)); }
}, workerData.intervalMs);
parentPort.once('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** `onError` hears of checkpoints that failed (they are retried at the next interval). */
export function startCheckpointer(path: string, onError: (message: string) => void = () => {}): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, driver, intervalMs: CHECKPOINT_INTERVAL_MS },
  });
  worker.on('message', (message: string) => onError(message));
  worker.on('error', (error) => onError(error.message));
  worker.unref();
  return {
    async stop() {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref(); // until it has closed its connection
      worker.postMessage('stop');
      await exited;
    },
  };
}
