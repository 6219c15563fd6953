/**
 * Canonical CBOR: the one byte encoding of everything the ledger hashes or signs. Maps are sorted
 * length-first (RFC 7049 canonical), integers minimal, no floats, no tags, no indefinite lengths.
 * Decoding accepts only bytes that re-encode to themselves, so each value has exactly one encoding.
 */
import { decode, encode } from 'cborg';
import { equalBytes } from '../crypto/bytes.js';

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
  let value: unknown;
  try {
    value = decode(bytes, DECODE_OPTIONS);
  } catch (error) {
    return { ok: false, reason: 'malformed', detail: describe(error) };
  }
  let again: Uint8Array;
  try {
    again = encode(value);
  } catch (error) {
    return { ok: false, reason: 'malformed', detail: describe(error) };
  }
  if (!equalBytes(again, bytes)) return { ok: false, reason: 'non_canonical', detail: 'bytes are not in canonical form' };
  return { ok: true, value };
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
