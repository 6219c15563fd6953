/**
 * Recovery codes: 128 random bits a person can write down and type back.
 *
 *   XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX   (28 symbols of Crockford base32 in 7 groups)
 *
 * 26 symbols carry the 128 bits (the last 2 bits are zero), then 2 check symbols over GF(32)
 * (primitive polynomial x⁵ + x² + 1, α = 2): c₁ = Σ dᵢ and c₂ = Σ α^(i+1)·dᵢ. Together they form a
 * code of minimum distance 3, so every single mistyped symbol, every pair of mistyped symbols and
 * every swap of two different symbols is caught before any decryption is tried; random input
 * passes with probability 2⁻¹⁰ (and then fails to open the backup).
 *
 * Reading is forgiving where it is safe: case, spaces and hyphens are ignored, and O reads as 0,
 * I and L as 1 (Crockford's rules). U and anything else are errors.
 */
import { failure, success, type ClientResult } from './errors.js';
import { randomBytes } from './random.js';

export const RECOVERY_CODE_BYTES = 16;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DATA_SYMBOLS = 26;
const SYMBOLS = DATA_SYMBOLS + 2;
const GROUP = 4;
const VALUE = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));
VALUE.set('O', 0);
VALUE.set('I', 1);
VALUE.set('L', 1);

/** Multiplication in GF(2⁵) modulo x⁵ + x² + 1. */
function gfMul(a: number, b: number): number {
  let product = 0;
  for (let i = 0; i < 5; i++) {
    if (b & (1 << i)) product ^= a;
    a <<= 1;
    if (a & 0x20) a ^= 0x25;
  }
  return product;
}

function checkSymbols(data: readonly number[]): [number, number] {
  let c1 = 0;
  let c2 = 0;
  let power = 1;
  for (const d of data) {
    power = gfMul(power, 2);
    c1 ^= d;
    c2 ^= gfMul(power, d);
  }
  return [c1, c2];
}

function toSymbols(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push((acc >> bits) & 31);
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out.push((acc << (5 - bits)) & 31);
  return out;
}

/** A new random recovery code: its 16 bytes and its printed form. */
export function generateRecoveryCode(): { readonly bytes: Uint8Array; readonly text: string } {
  const bytes = randomBytes(RECOVERY_CODE_BYTES);
  return { bytes, text: formatRecoveryCode(bytes) };
}

export function formatRecoveryCode(bytes: Uint8Array): string {
  if (bytes.length !== RECOVERY_CODE_BYTES) throw new RangeError('a recovery code holds 16 bytes');
  const data = toSymbols(bytes);
  const symbols = [...data, ...checkSymbols(data)].map((v) => ALPHABET[v]!).join('');
  const groups: string[] = [];
  for (let i = 0; i < SYMBOLS; i += GROUP) groups.push(symbols.slice(i, i + GROUP));
  return groups.join('-');
}

/** Reads a typed recovery code; a typo is `recovery.checksum`, never a wrong key. */
export function parseRecoveryCode(text: unknown): ClientResult<Uint8Array> {
  if (typeof text !== 'string' || text.length > 100) return failure('recovery.malformed', 'not a recovery code');
  const compact = text.toUpperCase().replace(/[\s-]/g, '');
  const values: number[] = [];
  for (const c of compact) {
    const v = VALUE.get(c);
    if (v === undefined) return failure('recovery.malformed', `"${c}" does not occur in recovery codes`);
    values.push(v);
  }
  if (values.length !== SYMBOLS)
    return failure('recovery.malformed', `a recovery code has ${SYMBOLS} characters, not ${values.length}`);
  const data = values.slice(0, DATA_SYMBOLS);
  const [c1, c2] = checkSymbols(data);
  if (c1 !== values[DATA_SYMBOLS] || c2 !== values[DATA_SYMBOLS + 1]) {
    return failure('recovery.checksum', 'the recovery code has a typo: check each group against the kit');
  }
  if ((data[DATA_SYMBOLS - 1]! & 3) !== 0) return failure('recovery.malformed', 'not a recovery code');
  const out = new Uint8Array(RECOVERY_CODE_BYTES);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const v of data) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  return success(out);
}
