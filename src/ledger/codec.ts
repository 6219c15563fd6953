/**
 * Canonical CBOR: the one byte encoding of everything the ledger hashes or signs. Maps are sorted
 * length-first (RFC 7049 canonical), integers minimal, no floats, no tags, no indefinite lengths.
 * Decoding accepts only bytes that re-encode to themselves, so each value has exactly one encoding.
 */
import { decode, encode } from 'cborg';

export type CanonicalValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined };

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
} as const;

/** Encodes a value; undefined object properties are omitted (they are "absent", not null). */
export function encodeCanonical(value: CanonicalValue): Uint8Array {
  assertEncodable(value);
  return encode(stripUndefined(value));
}

export type DecodeOutcome = { ok: true; value: unknown } | { ok: false; reason: 'malformed' | 'non_canonical'; detail: string };

export function decodeCanonical(bytes: Uint8Array): DecodeOutcome {
  const problem = canonicalProblem(bytes);
  if (problem) return { ok: false, reason: problem.reason, detail: problem.detail };
  try {
    return { ok: true, value: decode(bytes, DECODE_OPTIONS) };
  } catch (error) {
    return { ok: false, reason: 'malformed', detail: describe(error) };
  }
}

type Problem = { reason: 'malformed' | 'non_canonical'; detail: string };
const MAX_DEPTH = 16;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks in one pass over the bytes that they are exactly one item of the canonical subset:
 * minimal heads, definite lengths, valid UTF-8, text map keys in strictly increasing
 * length-then-bytewise order (so no duplicates), no tags, no floats, no simple values but
 * false/true/null. This is the rule `encodeCanonical` follows, checked without re-encoding.
 */
export function canonicalProblem(bytes: Uint8Array): Problem | undefined {
  let pos = 0;
  const malformed = (detail: string): Problem => ({ reason: 'malformed', detail });
  const nonCanonical = (detail: string): Problem => ({ reason: 'non_canonical', detail });

  // Reads an item head; returns [major, argument] or a problem.
  const head = (): [number, number] | Problem => {
    if (pos >= bytes.length) return malformed('unexpected end of input');
    const initial = bytes[pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info < 24) return [major, info];
    const width = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (width === 0) return info === 31 ? nonCanonical('indefinite lengths are not allowed') : malformed('reserved item head');
    if (pos + width > bytes.length) return malformed('unexpected end of input');
    let value = 0;
    for (let i = 0; i < width; i++) value = value * 256 + bytes[pos++]!;
    if (!Number.isSafeInteger(value)) return malformed('integer or length out of range');
    const minimum = width === 1 ? 24 : width === 2 ? 0x100 : width === 4 ? 0x10000 : 0x100000000;
    if (value < minimum) return nonCanonical('integer or length is not minimally encoded');
    return [major, value];
  };

  const item = (depth: number): Problem | undefined => {
    if (depth > MAX_DEPTH) return malformed('nesting is too deep');
    const start = pos;
    const h = head();
    if (!Array.isArray(h)) return h;
    const [major, arg] = h;
    switch (major) {
      case 0:
      case 1:
        return undefined;
      case 2:
      case 3:
        if (pos + arg > bytes.length) return malformed('unexpected end of input');
        if (major === 3 && !isValidUtf8(bytes, pos, pos + arg)) return malformed('text is not valid UTF-8');
        pos += arg;
        return undefined;
      case 4:
        for (let i = 0; i < arg; i++) {
          const problem = item(depth + 1);
          if (problem) return problem;
        }
        return undefined;
      case 5: {
        let previous: Uint8Array | undefined;
        for (let i = 0; i < arg; i++) {
          const keyStart = pos;
          if (pos >= bytes.length) return malformed('unexpected end of input');
          if (bytes[pos]! >> 5 !== 3) return malformed('map keys must be text');
          const problem = item(depth + 1);
          if (problem) return problem;
          const key = bytes.subarray(keyStart, pos);
          if (previous && compareKeys(previous, key) >= 0) return nonCanonical('map keys are not in canonical order, or repeat');
          previous = key;
          const valueProblem = item(depth + 1);
          if (valueProblem) return valueProblem;
        }
        return undefined;
      }
      case 6:
        return malformed('tags are not allowed');
      default: {
        const initial = bytes[start]!;
        if (initial === 0xf4 || initial === 0xf5 || initial === 0xf6) return undefined;
        return malformed('floats, undefined and simple values are not allowed');
      }
    }
  };

  const problem = item(0);
  if (problem) return problem;
  if (pos !== bytes.length) return malformed('trailing bytes after the item');
  return undefined;
}

function isValidUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let ascii = true;
  for (let i = start; i < end && ascii; i++) ascii = bytes[i]! < 0x80;
  if (ascii) return true;
  try {
    utf8Strict.decode(bytes.subarray(start, end));
    return true;
  } catch {
    return false;
  }
}

/** Length-first, then bytewise: the order cborg's encoder gives text keys. */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function assertEncodable(value: CanonicalValue): void {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new TypeError(`canonical encoding allows only safe integers, got ${value}`);
  }
  if (Array.isArray(value)) for (const item of value) assertEncodable(item as CanonicalValue);
  else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const item of Object.values(value)) if (item !== undefined) assertEncodable(item);
  }
}

function stripUndefined(value: CanonicalValue): CanonicalValue {
  if (Array.isArray(value)) return value.map((item) => stripUndefined(item as CanonicalValue));
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, CanonicalValue> = {};
    for (const [key, item] of Object.entries(value)) if (item !== undefined) out[key] = stripUndefined(item);
    return out;
  }
  return value;
}
