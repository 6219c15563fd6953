/**
 * Durability of a WAL-mode SQLite database without blocking the event loop.
 *
 * A synchronous=FULL commit ends with an fdatasync of the `-wal` file, on the calling thread: for
 * the node's one JavaScript thread that is 0.5–3 ms per commit during which no request is parsed,
 * sealed or answered. Here the transaction commits with synchronous=NORMAL (its frames are in the
 * OS, so a killed process loses nothing) and {@link WalSync.sync} runs the fdatasync on the libuv
 * thread pool; whoever must not acknowledge before the disk has it awaits that. Callers that arrive
 * while a sync runs share the next one (group fsync).
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { closeSync, fdatasync, openSync } from 'node:fs';

/** Runs `commit` (which commits transactions of `db`) without an fsync per commit (see above). */
export function unsynced<T>(db: Database.Database, commit: () => T): T {
  db.pragma('synchronous = NORMAL');
  try {
    return commit();
  } finally {
    db.pragma('synchronous = FULL');
  }
}

export class WalSync {
  readonly #walPath: string;
  #fd: number | undefined;
  /** The sync running now, and the one queued behind it for commits made meanwhile. */
  #syncing: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  /** `databasePath`: a database in WAL mode that has been written at least once (so its WAL exists). */
  constructor(databasePath: string) {
    this.#walPath = `${databasePath}-wal`;
  }

  /** Resolves once every transaction committed before the call is on disk. */
  sync(): Promise<void> {
    if (!this.#syncing) {
      this.#syncing = this.#fdatasync().finally(() => {
        this.#syncing = undefined;
      });
      return this.#syncing;
    }
    // The running sync may have started before the caller's commit: wait for a fresh one.
    this.#next ??= this.#syncing
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined;
        return this.sync();
      });
    return this.#next;
  }

  #fdatasync(): Promise<void> {
    // Checkpoints reset the WAL in place, so one descriptor serves for the database's lifetime.
    this.#fd ??= openSync(this.#walPath, 'r+');
    const fd = this.#fd;
    return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
