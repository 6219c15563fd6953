/**
 * State as an ordered key-value map of canonical bytes. The Application reads through a
 * StateReader port and writes into overlays; storage adapters persist an overlay's changes at commit.
 */
import { compareBytes, utf8 } from '../crypto/bytes.js';

export interface StateReader {
  get(key: string): Uint8Array | undefined;
}

/** One state change; `value: null` deletes the key. */
export interface StateChange {
  readonly key: string;
  readonly value: Uint8Array | null;
}

/** Pending writes layered over a reader. Nested overlays give per-transaction rollback. */
export class StateOverlay implements StateReader {
  readonly #base: StateReader;
  readonly #writes = new Map<string, Uint8Array | null>();

  constructor(base: StateReader) {
    this.#base = base;
  }

  get(key: string): Uint8Array | undefined {
    const pending = this.#writes.get(key);
    if (pending !== undefined) return pending ?? undefined;
    return this.#base.get(key);
  }

  set(key: string, value: Uint8Array): void {
    this.#writes.set(key, value);
  }

  delete(key: string): void {
    this.#writes.set(key, null);
  }

  /** Moves this overlay's writes into the overlay beneath it. */
  mergeInto(parent: StateOverlay): void {
    for (const [key, value] of this.#writes) parent.#writes.set(key, value);
    this.#writes.clear();
  }

  /** Changes in byte order of their UTF-8 keys: the same on every node. */
  changes(): StateChange[] {
    const keyed = [...this.#writes].map(([key, value]) => ({ key, value, sortKey: utf8(key) }));
    keyed.sort((a, b) => compareBytes(a.sortKey, b.sortKey));
    return keyed.map(({ key, value }) => ({ key, value }));
  }
}
