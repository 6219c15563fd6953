/**
 * Key-encryption keys (KEKs) of a node's vault, kept in the node keystore as `kek-1`, `kek-2`, …
 * (the keystore allows no `/` in names). The highest-numbered KEK is current: new data keys are
 * wrapped under it. Rotation creates the next KEK, re-wraps every data key under it in batches (one
 * DB transaction per batch) and then deletes every older KEK from the keystore, so an old KEK never
 * lingers. A rotation cut short by a crash is finished when the vault opens next (`finishRotation`).
 */
import { DATA_KEY_SIZE, generateDataKey, unwrapKey, wrapKey } from '../crypto/aead.js';
import type { KeyStore } from '../storage/ports.js';

const PREFIX = 'kek-';
const NAME = /^kek-([1-9][0-9]{0,8})$/;

export const kekName = (id: number): string => `${PREFIX}${id}`;

export class KekError extends Error {}

/** The KEKs in the keystore, cached in memory once read. */
export class KekRing {
  readonly #keystore: KeyStore;
  readonly #cache = new Map<number, Uint8Array>();
  #current: number;

  private constructor(keystore: KeyStore, current: number) {
    this.#keystore = keystore;
    this.#current = current;
  }

  /** Opens the ring, creating `kek-1` when the keystore holds no KEK yet. */
  static open(keystore: KeyStore): KekRing {
    const ids = kekIds(keystore);
    const ring = new KekRing(keystore, ids.at(-1) ?? 0);
    if (ids.length === 0) ring.create();
    return ring;
  }

  /** The id of the current KEK. */
  get currentId(): number {
    return this.#current;
  }

  /** Every KEK id in the keystore, ascending. */
  ids(): number[] {
    return kekIds(this.#keystore);
  }

  /** The KEK with this id; throws when it is not in the keystore (e.g. retired). */
  key(id: number): Uint8Array {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const key = this.#keystore.secretKey(kekName(id));
    if (!key) throw new KekError(`key-encryption key ${id} is not in the keystore`);
    if (key.length !== DATA_KEY_SIZE) throw new KekError(`key-encryption key ${id} has the wrong size`);
    this.#cache.set(id, key);
    return key;
  }

  /** Wraps a data key under the current KEK; returns the wrapped key and the KEK id used. */
  wrap(dataKey: Uint8Array, label: string): { wrapped: Uint8Array; kek: number } {
    return { wrapped: wrapKey(this.key(this.#current), dataKey, label), kek: this.#current };
  }

  unwrap(kek: number, wrapped: Uint8Array, label: string): Uint8Array {
    return unwrapKey(this.key(kek), wrapped, label);
  }

  /** Creates the next KEK and makes it current. */
  create(): number {
    const id = this.#current + 1;
    const key = generateDataKey();
    this.#keystore.put(kekName(id), key);
    this.#cache.set(id, key);
    this.#current = id;
    return id;
  }

  /** Deletes a non-current KEK from the keystore and wipes its cached copy. */
  retire(id: number): void {
    if (id === this.#current) throw new KekError('cannot retire the current key-encryption key');
    this.#cache.get(id)?.fill(0);
    this.#cache.delete(id);
    this.#keystore.delete(kekName(id));
  }
}

/** The ids of the KEKs in a keystore, ascending (without opening a ring, which would create `kek-1`). */
export function kekIds(keystore: KeyStore): number[] {
  const ids: number[] = [];
  for (const name of keystore.names()) {
    const m = NAME.exec(name);
    if (m?.[1]) ids.push(Number(m[1]));
  }
  return ids.sort((a, b) => a - b);
}

/** One stored wrapped data key, as the re-wrap loop sees it. */
export interface WrappedKeyRow {
  /** The storage row (opaque to this module). */
  readonly res: number;
  readonly version: number;
  readonly label: string;
  readonly kek: number;
  readonly wrapped: Uint8Array;
}

/** What the re-wrap loop needs from the store that holds wrapped keys. */
export interface WrappedKeyTable {
  /** Up to `limit` rows whose key is wrapped under a KEK other than `kek`. */
  wrappedNotUnder(kek: number, limit: number): WrappedKeyRow[];
  /** Replaces wrapped keys, all in one DB transaction. */
  rewrap(
    rows: readonly { readonly res: number; readonly version: number; readonly kek: number; readonly wrapped: Uint8Array }[],
  ): void;
}

export interface RotationResult {
  readonly kek: number;
  readonly rewrapped: number;
  readonly retired: number[];
}

/**
 * Re-wraps every data key not under the current KEK, in batches (each batch one DB transaction,
 * yielding to the event loop between batches so writes go on), then retires every older KEK. Data
 * keys are unwrapped and re-wrapped in memory only and wiped right after.
 */
export async function finishRotation(ring: KekRing, table: WrappedKeyTable, batchSize = 500): Promise<RotationResult> {
  const target = ring.currentId;
  let rewrapped = 0;
  for (;;) {
    // The batch is read, re-wrapped and written without an await in between, so no write or
    // other rotation step can interleave with it.
    const rows = table.wrappedNotUnder(target, batchSize);
    if (rows.length === 0) break;
    const updates = rows.map((row) => {
      const dataKey = ring.unwrap(row.kek, row.wrapped, row.label);
      try {
        return { res: row.res, version: row.version, kek: target, wrapped: wrapKey(ring.key(target), dataKey, row.label) };
      } finally {
        dataKey.fill(0);
      }
    });
    table.rewrap(updates);
    rewrapped += updates.length;
    if (rows.length === batchSize) await new Promise((resolve) => setImmediate(resolve));
  }
  // Nothing refers to an older KEK any more (checked synchronously just above; new writes use the
  // current one), so they can go.
  const retired = ring.ids().filter((id) => id < target);
  for (const id of retired) ring.retire(id);
  return { kek: target, rewrapped, retired };
}

/** Creates a new KEK, re-wraps every data key under it and deletes the old KEKs from the keystore. */
export async function rotateKek(ring: KekRing, table: WrappedKeyTable, batchSize?: number): Promise<RotationResult> {
  ring.create();
  return finishRotation(ring, table, batchSize);
}
