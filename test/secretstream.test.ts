/** Chunked content encryption (src/crypto/secretstream.ts): round trips at chunk boundaries and every tamper case. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DecryptionError, generateDataKey } from '../src/crypto/aead.js';
import {
  CHUNK_SIZE,
  openStream,
  RECORD_SIZE,
  sealStream,
  StreamOpener,
  StreamSealer,
  STREAM_HEADER_SIZE,
} from '../src/crypto/secretstream.js';

describe('secretstream content encryption', () => {
  const key = generateDataKey();

  it('round-trips sizes around the chunk boundaries, fed in any pieces', () => {
    for (const size of [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 77]) {
      const plaintext = randomBytes(size);
      const sealer = new StreamSealer(key);
      const parts: Buffer[] = [];
      for (let i = 0; i < size; i += 10_007) parts.push(sealer.update(plaintext.subarray(i, i + 10_007)));
      parts.push(sealer.final());
      const ciphertext = Buffer.concat(parts);
      assert.equal(ciphertext.length, STREAM_HEADER_SIZE + size + (Math.floor(size / CHUNK_SIZE) + 1) * 17, `size ${size}`);
      const opener = new StreamOpener(key);
      const out: Buffer[] = [];
      for (let i = 0; i < ciphertext.length; i += 4099) out.push(opener.update(ciphertext.subarray(i, i + 4099)));
      out.push(opener.final());
      assert.ok(Buffer.concat(out).equals(plaintext), `size ${size}`);
    }
  });

  it('refuses a wrong key, a flipped byte, a truncated stream, reordered or extra records', () => {
    const plaintext = randomBytes(3 * CHUNK_SIZE + 5);
    const ciphertext = sealStream(key, plaintext);
    assert.throws(() => openStream(generateDataKey(), ciphertext), /authenticate/);
    for (const at of [0, 1, STREAM_HEADER_SIZE, STREAM_HEADER_SIZE + RECORD_SIZE + 3, ciphertext.length - 1]) {
      const tampered = Buffer.from(ciphertext);
      tampered[at]! ^= 1;
      assert.throws(() => openStream(key, tampered), DecryptionError, `byte ${at}`);
    }
    // Cut at a record boundary: every record authenticates, but the FINAL one is missing.
    assert.throws(() => openStream(key, ciphertext.subarray(0, STREAM_HEADER_SIZE + 2 * RECORD_SIZE)), /truncated/);
    assert.throws(() => openStream(key, ciphertext.subarray(0, 10)), /truncated/);
    const header = ciphertext.subarray(0, STREAM_HEADER_SIZE);
    const record = (i: number) =>
      ciphertext.subarray(STREAM_HEADER_SIZE + i * RECORD_SIZE, STREAM_HEADER_SIZE + (i + 1) * RECORD_SIZE);
    const swapped = Buffer.concat([header, record(1), record(0), ciphertext.subarray(STREAM_HEADER_SIZE + 2 * RECORD_SIZE)]);
    assert.throws(() => openStream(key, swapped), /authenticate/);
    const small = sealStream(key, Buffer.from('short'));
    assert.throws(
      () => openStream(key, Buffer.concat([small, small.subarray(STREAM_HEADER_SIZE)])),
      /authenticate|end of the content/,
    );
  });
});
