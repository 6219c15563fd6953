/**
 * WAL checkpoints of a SQLite database (the vault's, the ledger's) off the event loop.
 *
 * A checkpoint copies committed WAL frames back into the database file and fsyncs the WAL before
 * and the database after; run by SQLite's auto-checkpoint it happens inside whichever commit
 * crosses the threshold, on the event loop, where under a busy disk it stalled every request for
 * hundreds of milliseconds. Here a worker thread holds its own connection to the same (possibly
 * encrypted) database and runs a PASSIVE checkpoint about once per second: it never blocks the
 * writer, SQLite's own locking keeps it safe against commits, readers and crashes, and a page
 * rewritten many times in that second is copied once. The writer's connection keeps a large
 * auto-checkpoint threshold as a safety net should this thread fall behind.
 *
 * The main side is {@link Checkpointer}; the same file is the worker's entry point.
 */
import Database from 'better-sqlite3-multiple-ciphers';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { toHex } from '../../crypto/bytes.js';
import { keyPragmas, type PageCipher } from './cipher.js';

interface CheckpointerData {
  readonly path: string;
  /** The pragmas keying a connection to an encrypted database; none for a plain one. */
  readonly keyPragmas: readonly string[];
  /** Int32Array over a SharedArrayBuffer: [0] stop requested, [1] worker finished, [2] connection open. */
  readonly control: SharedArrayBuffer;
  /** Pause between two checkpoints. */
  readonly idleMs: number;
}

/** Frames the writer's own auto-checkpoint waits for (~80 MB of 4 KiB pages) when this thread lags. */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 20_000;

export class Checkpointer {
  readonly #worker: Worker;
  readonly #control: Int32Array;
  #stopped = false;

  /** Starts checkpointing the database at `path` (encrypted under `encryption.key`, if given). */
  constructor(
    path: string,
    encryption: { readonly cipher: PageCipher; readonly key: Uint8Array } | null,
    options: { idleMs?: number } = {},
  ) {
    const control = new SharedArrayBuffer(12);
    this.#control = new Int32Array(control);
    const data: CheckpointerData = {
      path,
      keyPragmas: encryption ? keyPragmas(encryption.cipher, toHex(encryption.key)) : [],
      control,
      idleMs: options.idleMs ?? 1000,
    };
    this.#worker = new Worker(new URL(import.meta.url), { workerData: data });
    // A failing checkpointer only means the writer's fallback auto-checkpoint takes over.
    this.#worker.on('error', () => undefined);
    this.#worker.unref();
  }

  /**
   * Stops the worker: once its connection is open, waits (briefly, synchronously) until it has
   * closed it; a worker still starting sees the request and exits on its own.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    Atomics.store(this.#control, 0, 1);
    Atomics.notify(this.#control, 0);
    if (Atomics.load(this.#control, 2) === 1) {
      Atomics.wait(this.#control, 1, 0, 5_000);
      void this.#worker.terminate();
    }
  }
}

function runWorker(data: CheckpointerData): void {
  const control = new Int32Array(data.control);
  let db: Database.Database | undefined;
  try {
    if (Atomics.load(control, 0) !== 0) return;
    db = new Database(data.path, { fileMustExist: true });
    Atomics.store(control, 2, 1);
    for (const pragma of data.keyPragmas) db.pragma(pragma);
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 0');
    while (Atomics.load(control, 0) === 0) {
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // Busy or locked: try again after the pause.
      }
      // Not continuously: once a checkpoint has caught up, the writer's next commit restarts the
      // WAL, and a restart syncs the WAL header on the writer's thread. About once per period.
      Atomics.wait(control, 0, 0, data.idleMs);
    }
  } finally {
    db?.close();
    Atomics.store(control, 1, 1);
    Atomics.notify(control, 1);
    parentPort?.close();
  }
}

if (!isMainThread && (workerData as { control?: unknown } | null)?.control instanceof SharedArrayBuffer) {
  runWorker(workerData as CheckpointerData);
}
