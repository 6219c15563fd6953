/**
 * Property tests of the device batch encoding (src/devices/batch.ts): every valid batch survives
 * sign → wire → decode → verify unchanged; any single changed byte is refused (decode error or
 * bad signature), and arbitrary bytes never make the decoder throw.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { decodeBatch, EARLIEST_SAMPLE_MS, signBatch, verifyBatch, type BatchBody, type Series } from '../src/devices/batch.js';
import { DEVICE_CODES } from '../src/devices/codes.js';
import { randomPseudonym } from '../src/client/identity.js';

const CHAIN = 'prop-chain';
const signer = new Signer(generateKeyPair());
const device = randomPseudonym('dev');

/** Series of distinct codes (so samples never overlap), values within each code's range. */
const seriesArb: fc.Arbitrary<Series[]> = fc
  .uniqueArray(fc.constantFrom(...DEVICE_CODES), { minLength: 1, maxLength: DEVICE_CODES.length, selector: (c) => c.code })
  .chain((codes) =>
    fc.tuple(
      ...codes.map((c) =>
        fc.record({
          code: fc.constant(c.code),
          start: fc.integer({ min: EARLIEST_SAMPLE_MS, max: EARLIEST_SAMPLE_MS + 40 * 365 * 86_400_000 }),
          period: fc.integer({ min: 1, max: 86_400_000 }),
          values: fc.array(fc.integer({ min: c.min, max: c.max }), { minLength: 1, maxLength: 50 }),
        }),
      ),
    ),
  );

const batchArb: fc.Arbitrary<BatchBody> = fc.record({
  chain: fc.constant(CHAIN),
  device: fc.constant(device),
  seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  series: seriesArb,
});

describe('device batch encoding', () => {
  test('sign → decode → verify returns the same batch', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const signed = signBatch(batch, signer);
        const decoded = decodeBatch(signed.wire, CHAIN);
        assert.ok(decoded.ok, decoded.ok ? '' : decoded.message);
        assert.deepEqual(decoded.value.batch, JSON.parse(JSON.stringify(batch)));
        assert.ok(verifyBatch(decoded.value, signer.publicKey));
        assert.deepEqual(decoded.value.hash, signed.hash);
      }),
      { numRuns: 200 },
    );
  });

  test('any single changed byte is refused: not decodable, or the signature fails', () => {
    fc.assert(
      fc.property(batchArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (batch, at, flip) => {
        const wire = new Uint8Array(signBatch(batch, signer).wire);
        const i = at % wire.length;
        wire[i] = wire[i]! ^ flip;
        const decoded = decodeBatch(wire, CHAIN);
        assert.ok(!decoded.ok || !verifyBatch(decoded.value, signer.publicKey), `byte ${i} changed and still accepted`);
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary bytes decode to a typed error, never an exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const decoded = decodeBatch(bytes, CHAIN);
        if (!decoded.ok) assert.match(decoded.code, /^device\./);
      }),
      { numRuns: 500 },
    );
  });

  test('a batch for another chain or with an out-of-range value is refused', () => {
    const series: Series[] = [{ code: '8867-4', start: EARLIEST_SAMPLE_MS, period: 1000, values: [60] }];
    const other = decodeBatch(signBatch({ chain: 'other', device, seq: 0, series }, signer).wire, CHAIN);
    assert.equal(other.ok ? 'ok' : other.code, 'device.wrong_chain');
    const high = decodeBatch(
      signBatch({ chain: CHAIN, device, seq: 0, series: [{ ...series[0]!, values: [301] }] }, signer).wire,
      CHAIN,
    );
    assert.equal(high.ok ? 'ok' : high.code, 'device.malformed');
  });
});
