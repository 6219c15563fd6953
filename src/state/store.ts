/**
 * State as an ordered key-value map of canonical bytes. The Application reads through a
 * StateReader port and writes into overlays; storage adapters persist an overlay's changes at commit.
 *
 * Overlays and the committed-state cache also hold decoded objects next to their bytes, so a hot
 * record (an organization signing thousands of transactions) is not decoded and re-encoded per
 * transaction: it is encoded once, when the block's changes are taken.
 */
import { compareBytes, utf8 } from '../crypto/bytes.js';

export interface StateReader {
  get(key: string): Uint8Array | undefined;
}

/** Decoding and encoding of one kind of state value. Codecs are module constants. */
export interface ValueCodec<T> {
  decode(bytes: Uint8Array): T;
  encode(value: T): Uint8Array;
}

/** A reader that can also hand out decoded objects it already holds. */
export interface ObjectReader extends StateReader {
  getObject<T>(key: string, codec: ValueCodec<T>): T | undefined;
}

export function readObject<T>(reader: StateReader, key: string, codec: ValueCodec<T>): T | undefined {
  if ('getObject' in reader) return (reader as ObjectReader).getObject(key, codec);
  const bytes = reader.get(key);
  return bytes === undefined ? undefined : codec.decode(bytes);
}

/** One state change; `value: null` deletes the key. */
export interface StateChange {
  readonly key: string;
  readonly value: Uint8Array | null;
}

interface Write {
  bytes: Uint8Array | undefined;
  readonly object?: unknown;
  readonly codec?: ValueCodec<unknown>;
}

const DELETED: Write = { bytes: undefined };

function bytesOf(write: Write): Uint8Array | null {
  if (write === DELETED) return null;
  write.bytes ??= write.codec!.encode(write.object);
  return write.bytes;
}

/** Pending writes layered over a reader. Nested overlays give per-transaction rollback. */
export class StateOverlay implements ObjectReader {
  readonly #base: StateReader;
  readonly #writes = new Map<string, Write>();

  constructor(base: StateReader) {
    this.#base = base;
  }

  get(key: string): Uint8Array | undefined {
    const pending = this.#writes.get(key);
    if (pending !== undefined) return bytesOf(pending) ?? undefined;
    return this.#base.get(key);
  }

  getObject<T>(key: string, codec: ValueCodec<T>): T | undefined {
    const pending = this.#writes.get(key);
    if (pending === undefined) return readObject(this.#base, key, codec);
    if (pending === DELETED) return undefined;
    if (pending.codec === codec) return pending.object as T;
    return codec.decode(bytesOf(pending)!);
  }

  set(key: string, value: Uint8Array): void {
    this.#writes.set(key, { bytes: value });
  }

  setObject<T>(key: string, value: T, codec: ValueCodec<T>): void {
    this.#writes.set(key, { bytes: undefined, object: value, codec: codec as ValueCodec<unknown> });
  }

  delete(key: string): void {
    this.#writes.set(key, DELETED);
  }

  /** Moves this overlay's writes into the overlay beneath it. */
  mergeInto(parent: StateOverlay): void {
    for (const [key, write] of this.#writes) parent.#writes.set(key, write);
    this.#writes.clear();
  }

  /** Decoded objects written here, for the committed-state cache. */
  *objects(): Iterable<[string, unknown, ValueCodec<unknown>]> {
    for (const [key, write] of this.#writes) if (write.codec) yield [key, write.object, write.codec];
  }

  /** Changes in byte order of their UTF-8 keys: the same on every node. */
  changes(): StateChange[] {
    const keyed = [...this.#writes].map(([key, write]) => ({ key, value: bytesOf(write), sortKey: utf8(key) }));
    keyed.sort((a, b) => compareBytes(a.sortKey, b.sortKey));
    return keyed.map(({ key, value }) => ({ key, value }));
  }
}

/**
 * Committed state with a bounded cache of decoded objects in front of the store. Only the block
 * committer writes, so after each commit the cache is refreshed from the block's own writes.
 */
export class CachedState implements ObjectReader {
  readonly #store: StateReader;
  readonly #cache = new Map<string, { object: unknown; codec: ValueCodec<unknown> }>();
  readonly #limit: number;

  constructor(store: StateReader, limit = 50_000) {
    this.#store = store;
    this.#limit = limit;
  }

  get(key: string): Uint8Array | undefined {
    return this.#store.get(key);
  }

  getObject<T>(key: string, codec: ValueCodec<T>): T | undefined {
    const hit = this.#cache.get(key);
    if (hit && hit.codec === codec) return hit.object as T;
    const bytes = this.#store.get(key);
    if (bytes === undefined) return undefined;
    const object = codec.decode(bytes);
    this.#remember(key, object, codec as ValueCodec<unknown>);
    return object;
  }

  /** Refreshes the cache after `block` was durably written to the store. */
  committed(block: StateOverlay, changes: readonly StateChange[]): void {
    for (const change of changes) this.#cache.delete(change.key);
    for (const [key, object, codec] of block.objects()) this.#remember(key, object, codec);
  }

  #remember(key: string, object: unknown, codec: ValueCodec<unknown>): void {
    if (this.#cache.size >= this.#limit) {
      // Drop the oldest entry (Map keeps insertion order): a cheap approximation of LRU.
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, { object, codec });
  }
}
