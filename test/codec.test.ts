/**
 * The canonical CBOR codec against cborg, the general-purpose reference: same bytes for every
 * value of the canonical subset, same values back, and typed rejection of everything else.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import fc from 'fast-check';
import { decodeCanonical, encodeCanonical, type CanonicalValue } from '../src/ledger/codec.js';

const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('v', 'id', 'key', 'a', 'aa', 'b', 'é', '𝄞', '__proto__'));
const canonical: fc.Arbitrary<CanonicalValue> = fc.letrec<{ value: CanonicalValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.integer({ min: -30, max: 300 }),
    fc.string({ maxLength: 40 }),
    fc.uint8Array({ maxLength: 80 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 6 }),
  ),
})).value;

const REFERENCE = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
};

describe('canonical CBOR codec', () => {
  test('encodes every value of the subset exactly as cborg does', () => {
    fc.assert(
      fc.property(canonical, (value) => {
        assert.deepEqual(Buffer.from(encodeCanonical(value)), Buffer.from(cborEncode(value)));
      }),
      { numRuns: 2000 },
    );
  });

  test('decodes back to the value cborg decodes, and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(canonical, (value) => {
        const bytes = encodeCanonical(value);
        const decoded = decodeCanonical(bytes);
        assert.ok(decoded.ok);
        assert.deepEqual(decoded.value, cborDecode(bytes, REFERENCE));
        assert.deepEqual(encodeCanonical(decoded.value as CanonicalValue), bytes);
      }),
      { numRuns: 2000 },
    );
  });

  test('never throws on arbitrary bytes, and accepts only bytes that re-encode to themselves', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const decoded = decodeCanonical(bytes);
        if (decoded.ok) assert.deepEqual(encodeCanonical(decoded.value as CanonicalValue), bytes);
      }),
      { numRuns: 5000 },
    );
  });

  test('a single flipped byte of a canonical encoding is rejected or decodes to a canonical value', () => {
    fc.assert(
      fc.property(canonical, fc.nat(), fc.integer({ min: 1, max: 255 }), (value, at, mask) => {
        const bytes = encodeCanonical(value);
        const flipped = bytes.slice();
        const i = at % bytes.length;
        flipped[i] = flipped[i]! ^ mask;
        const decoded = decodeCanonical(flipped);
        if (decoded.ok) assert.deepEqual(encodeCanonical(decoded.value as CanonicalValue), flipped);
      }),
      { numRuns: 3000 },
    );
  });

  const rejected: [string, number[], 'malformed' | 'non_canonical'][] = [
    ['non-minimal integer', [0x18, 0x05], 'non_canonical'],
    ['non-minimal length', [0x59, 0x00, 0x01, 0x41], 'non_canonical'],
    ['indefinite array', [0x9f, 0x01, 0xff], 'non_canonical'],
    ['unsorted map keys', [0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02], 'non_canonical'],
    ['longer key first', [0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x02], 'non_canonical'],
    ['duplicate map keys', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02], 'non_canonical'],
    ['half float', [0xf9, 0x3e, 0x00], 'malformed'],
    ['double float', [0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], 'malformed'],
    ['undefined', [0xf7], 'malformed'],
    ['tag', [0xc1, 0x01], 'malformed'],
    ['integer map key', [0xa1, 0x01, 0x01], 'malformed'],
    ['invalid UTF-8', [0x62, 0xc3, 0x28], 'malformed'],
    ['truncated', [0x43, 0x01], 'malformed'],
    ['trailing bytes', [0x01, 0x01], 'malformed'],
    ['integer beyond 2^53', [0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0], 'malformed'],
    ['array longer than input', [0x9a, 0x7f, 0xff, 0xff, 0xff], 'malformed'],
  ];
  for (const [name, bytes, reason] of rejected) {
    test(`rejects ${name} as ${reason}`, () => {
      const decoded = decodeCanonical(new Uint8Array(bytes));
      assert.equal(decoded.ok, false);
      if (!decoded.ok) assert.equal(decoded.reason, reason);
    });
  }

  test('deep nesting is refused without a stack overflow', () => {
    const deep = new Uint8Array(10_000).fill(0x81);
    const decoded = decodeCanonical(deep);
    assert.equal(decoded.ok, false);
  });

  test('a "__proto__" key is an ordinary field, not a prototype', () => {
    const value: Record<string, CanonicalValue> = { a: 2 };
    Object.defineProperty(value, '__proto__', { value: 1, enumerable: true });
    const decoded = decodeCanonical(encodeCanonical(value));
    assert.ok(decoded.ok);
    assert.deepEqual(Object.keys(decoded.value as object).sort(), ['__proto__', 'a']);
    assert.equal(Object.getPrototypeOf(decoded.value), Object.prototype);
  });

  test('refuses to encode non-integers', () => {
    assert.throws(() => encodeCanonical(1.5), TypeError);
    assert.throws(() => encodeCanonical(2 ** 60), TypeError);
  });
});
