/** Pooled OS randomness for data keys and nonces. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fillRandom } from '../src/crypto/random.js';

describe('fillRandom', () => {
  it('never hands out the same bytes twice, across block refills and for requests larger than a block', () => {
    const seen = new Set<string>();
    // 2,000 × 24 bytes crosses the 16 KiB block boundary twice.
    for (let i = 0; i < 2000; i++) {
      const nonce = fillRandom(new Uint8Array(24));
      const hex = Buffer.from(nonce).toString('hex');
      assert.equal(seen.has(hex), false);
      seen.add(hex);
    }
    const big = fillRandom(new Uint8Array(64 * 1024));
    assert.notEqual(Buffer.from(big).toString('hex'), '00'.repeat(big.length));
    const a = fillRandom(new Uint8Array(32));
    const b = fillRandom(new Uint8Array(32));
    assert.notDeepEqual(a, b);
  });

  it('looks uniform: every byte value turns up, in roughly equal shares', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 100; i++) for (const byte of fillRandom(new Uint8Array(2560))) counts[byte]! += 1;
    // 256,000 bytes: 1,000 expected per value; 800–1,200 is over 6 standard deviations either way.
    for (const c of counts) assert.ok(c > 800 && c < 1200, `a byte value turned up ${c} times`);
  });
});
