/**
 * Canonical CBOR (RFC 8949): the one byte encoding of everything the ledger hashes or signs.
 *
 * The ledger uses a small subset — unsigned/negative safe integers, byte and text strings, arrays,
 * maps with text keys, false/true/null — in deterministic form: minimal heads, definite lengths,
 * map keys sorted length-first then bytewise (RFC 7049 canonical order, as cborg encodes them), no
 * floats, no tags. Decoding accepts exactly the bytes this encoder produces, so every value has one
 * encoding. This codec is specialised for that subset and the hot path; the general-purpose cborg
 * library is the reference it is tested against (test/codec.test.ts).
 */

export type CanonicalValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined };

export class EncodeError extends TypeError {}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  buffer = new Uint8Array(256);
  length = 0;

  reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  head(major: number, value: number): void {
    this.reserve(9);
    const b = this.buffer;
    const m = major << 5;
    if (value < 24) b[this.length++] = m | value;
    else if (value < 0x100) {
      b[this.length++] = m | 24;
      b[this.length++] = value;
    } else if (value < 0x10000) {
      b[this.length++] = m | 25;
      b[this.length++] = value >>> 8;
      b[this.length++] = value & 0xff;
    } else if (value < 0x100000000) {
      b[this.length++] = m | 26;
      b[this.length++] = value >>> 24;
      b[this.length++] = (value >>> 16) & 0xff;
      b[this.length++] = (value >>> 8) & 0xff;
      b[this.length++] = value & 0xff;
    } else {
      b[this.length++] = m | 27;
      const high = Math.floor(value / 0x100000000);
      const low = value >>> 0;
      for (const word of [high, low]) {
        b[this.length++] = word >>> 24;
        b[this.length++] = (word >>> 16) & 0xff;
        b[this.length++] = (word >>> 8) & 0xff;
        b[this.length++] = word & 0xff;
      }
    }
  }

  /** A text string; ids and most keys are ASCII, written without a TextEncoder round trip. */
  text(value: string): void {
    const n = value.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (value.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      const utf8 = textEncoder.encode(value);
      this.head(3, utf8.length);
      return this.bytes(utf8);
    }
    this.head(3, n);
    this.reserve(n);
    const b = this.buffer;
    for (let i = 0; i < n; i++) b[this.length++] = value.charCodeAt(i);
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }
}

/**
 * Map keys come from a small vocabulary (field names), so their encodings (head included) are
 * cached; the cache is bounded so that hostile key sets cannot grow it without limit.
 */
const keyCache = new Map<string, Uint8Array>();
const KEY_CACHE_LIMIT = 4096;

function encodedKey(key: string): Uint8Array {
  let encoded = keyCache.get(key);
  if (encoded === undefined) {
    const w = new Writer();
    w.text(key);
    encoded = w.buffer.slice(0, w.length);
    if (keyCache.size < KEY_CACHE_LIMIT) keyCache.set(key, encoded);
  }
  return encoded;
}

/** Length-first, then bytewise: the canonical order of encoded map keys. */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function write(w: Writer, value: CanonicalValue, depth: number): void {
  if (depth > MAX_DEPTH) throw new EncodeError('value nests too deeply');
  if (value === null) return w.head(7, 22);
  switch (typeof value) {
    case 'boolean':
      return w.head(7, value ? 21 : 20);
    case 'number':
      if (!Number.isSafeInteger(value)) throw new EncodeError(`canonical encoding allows only safe integers, got ${value}`);
      return value >= 0 ? w.head(0, value) : w.head(1, -1 - value);
    case 'string':
      return w.text(value);
  }
  if (value instanceof Uint8Array) {
    w.head(2, value.length);
    return w.bytes(value);
  }
  if (Array.isArray(value)) {
    w.head(4, value.length);
    for (const item of value) write(w, item as CanonicalValue, depth + 1);
    return;
  }
  if (typeof value !== 'object') throw new EncodeError(`cannot encode ${typeof value}`);
  const entries: [Uint8Array, CanonicalValue][] = [];
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, CanonicalValue | undefined>)[key];
    if (item !== undefined) entries.push([encodedKey(key), item]);
  }
  if (entries.length > 1) entries.sort((a, b) => compareKeys(a[0], b[0]));
  w.head(5, entries.length);
  for (const [key, item] of entries) {
    w.bytes(key);
    write(w, item, depth + 1);
  }
}

/** Encodes a value; undefined object properties are omitted (they are "absent", not null). */
export function encodeCanonical(value: CanonicalValue): Uint8Array {
  const w = new Writer();
  write(w, value, 0);
  return w.buffer.slice(0, w.length);
}

export type DecodeOutcome = { ok: true; value: unknown } | { ok: false; reason: 'malformed' | 'non_canonical'; detail: string };

const MAX_DEPTH = 16;

class DecodeFailure {
  constructor(
    readonly reason: 'malformed' | 'non_canonical',
    readonly detail: string,
  ) {}
}

const malformed = (detail: string): never => {
  throw new DecodeFailure('malformed', detail);
};
const nonCanonical = (detail: string): never => {
  throw new DecodeFailure('non_canonical', detail);
};

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** Reads an item head: [major type, argument], rejecting non-minimal and indefinite forms. */
  head(): [number, number] {
    const b = this.bytes;
    if (this.pos >= b.length) malformed('unexpected end of input');
    const initial = b[this.pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info < 24) return [major, info];
    const width = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (width === 0) return info === 31 ? nonCanonical('indefinite lengths are not allowed') : malformed('reserved item head');
    if (major === 7) malformed('floats and simple values other than false/true/null are not allowed');
    if (this.pos + width > b.length) malformed('unexpected end of input');
    let value = 0;
    for (let i = 0; i < width; i++) value = value * 256 + b[this.pos++]!;
    if (!Number.isSafeInteger(value)) malformed('integer or length out of range');
    const minimum = width === 1 ? 24 : width === 2 ? 0x100 : width === 4 ? 0x10000 : 0x100000000;
    if (value < minimum) nonCanonical('integer or length is not minimally encoded');
    return [major, value];
  }

  take(length: number): Uint8Array {
    if (this.pos + length > this.bytes.length) malformed('unexpected end of input');
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  text(length: number): string {
    const raw = this.take(length);
    let ascii = true;
    for (let i = 0; i < raw.length && ascii; i++) ascii = raw[i]! < 0x80;
    if (ascii && length <= 48) {
      // Short ASCII (ids, field names, enums): a plain loop beats TextDecoder's call overhead.
      let out = '';
      for (let i = 0; i < length; i++) out += String.fromCharCode(raw[i]!);
      return out;
    }
    try {
      return textDecoder.decode(raw);
    } catch {
      return malformed('text is not valid UTF-8');
    }
  }

  item(depth: number): unknown {
    if (depth > MAX_DEPTH) malformed('nesting is too deep');
    const [major, arg] = this.head();
    switch (major) {
      case 0:
        return arg;
      case 1:
        return -1 - arg;
      case 2:
        return this.take(arg).slice();
      case 3:
        return this.text(arg);
      case 4: {
        if (arg > this.bytes.length - this.pos) malformed('array is longer than the input');
        const out: unknown[] = [];
        for (let i = 0; i < arg; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        if (arg > this.bytes.length - this.pos) malformed('map is longer than the input');
        const out: Record<string, unknown> = {};
        let previous: Uint8Array | undefined;
        for (let i = 0; i < arg; i++) {
          const [keyMajor, keyLength] = this.head();
          if (keyMajor !== 3) malformed('map keys must be text');
          const start = this.pos;
          const key = this.text(keyLength);
          const keyBytes = this.bytes.subarray(start, this.pos);
          if (previous && compareKeys(previous, keyBytes) >= 0) nonCanonical('map keys are not in canonical order, or repeat');
          previous = keyBytes;
          Object.defineProperty(out, key, { value: this.item(depth + 1), enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      case 6:
        return malformed('tags are not allowed');
      default:
        // Major 7 with a one-byte head: 20 false, 21 true, 22 null; nothing else.
        if (arg === 20) return false;
        if (arg === 21) return true;
        if (arg === 22) return null;
        return malformed('floats, undefined and simple values are not allowed');
    }
  }
}

/** Decodes untrusted bytes; never throws. */
export function decodeCanonical(bytes: Uint8Array): DecodeOutcome {
  const reader = new Reader(bytes);
  try {
    const value = reader.item(0);
    if (reader.pos !== bytes.length) malformed('trailing bytes after the item');
    return { ok: true, value };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, reason: error.reason, detail: error.detail };
    throw error;
  }
}
