/** Key-committing AEAD and key wrapping (src/crypto/aead.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecryptionError, generateDataKey, open, seal, unwrapKey, wrapKey } from '../src/crypto/aead.js';
import { utf8 } from '../src/crypto/bytes.js';

const AD = utf8('Observation/123/1/prac_dr-grey');

describe('key-committing AEAD', () => {
  it('opens what it sealed, for any plaintext and associated data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.uint8Array({ maxLength: 256 }), (plaintext, ad) => {
        const key = generateDataKey();
        assert.deepEqual(open(key, seal(key, plaintext, ad), ad), plaintext);
      }),
      { numRuns: 200 },
    );
  });

  it('uses a fresh nonce: the same plaintext never seals to the same bytes', () => {
    const key = generateDataKey();
    assert.notDeepEqual(seal(key, utf8('same'), AD), seal(key, utf8('same'), AD));
  });

  it('refuses another key, other associated data, and any flipped bit', () => {
    const key = generateDataKey();
    const envelope = seal(key, utf8('{"resourceType":"Observation"}'), AD);
    assert.throws(() => open(generateDataKey(), envelope, AD), DecryptionError);
    assert.throws(() => open(key, envelope, utf8('Observation/123/2/prac_dr-grey')), DecryptionError);
    for (let i = 0; i < envelope.length; i++) {
      const tampered = envelope.slice();
      tampered[i]! ^= 0x01;
      assert.throws(() => open(key, tampered, AD), DecryptionError, `bit flipped in byte ${i}`);
    }
    assert.throws(() => open(key, envelope.subarray(0, 40), AD), DecryptionError);
  });

  it('commits to the key: the commitment is checked before the cipher is opened', () => {
    const key = generateDataKey();
    const envelope = seal(key, utf8('x'), AD);
    assert.throws(() => open(generateDataKey(), envelope, AD), /not committed to this key/);
  });

  it('rejects keys of the wrong size', () => {
    assert.throws(() => seal(new Uint8Array(16), utf8('x'), AD), RangeError);
  });
});

describe('key wrapping', () => {
  it('unwraps under the same key-encryption key and label only', () => {
    const kek = generateDataKey();
    const dataKey = generateDataKey();
    const wrapped = wrapKey(kek, dataKey, 'rec_a/1');
    assert.deepEqual(unwrapKey(kek, wrapped, 'rec_a/1'), dataKey);
    assert.throws(() => unwrapKey(kek, wrapped, 'rec_a/2'), DecryptionError, 'a wrapped key cannot move to another version');
    assert.throws(() => unwrapKey(generateDataKey(), wrapped, 'rec_a/1'), DecryptionError);
  });
});
