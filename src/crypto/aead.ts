/**
 * Key-committing authenticated encryption for record versions, and key wrapping.
 *
 * XChaCha20-Poly1305 (libsodium) with a random 192-bit nonce. Poly1305 alone is not key-committing:
 * one ciphertext can be crafted to open under two keys. So each envelope carries a commitment to the
 * key, HMAC-SHA256(key, domain ‖ nonce), checked in constant time before the AEAD is opened; a
 * ciphertext then opens under exactly one key (the "key commitment by hash" construction).
 *
 * Envelope: version (1) ‖ nonce (24) ‖ key commitment (32) ‖ ciphertext ‖ tag (16).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import sodium from 'sodium-native';
import { utf8 } from './bytes.js';
import { fillRandom } from './random.js';

export const DATA_KEY_SIZE = 32;
const VERSION = 1;
const NONCE_SIZE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
const TAG_SIZE = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES;
const COMMIT_SIZE = 32;
const HEADER_SIZE = 1 + NONCE_SIZE + COMMIT_SIZE;
const COMMIT_DOMAIN = utf8('medledger/aead-key-commitment/v1\0');
const WRAP_DOMAIN = utf8('medledger/data-key-wrap/v1\0');

/** Why an envelope did not open. None of them says anything about the plaintext. */
export class DecryptionError extends Error {}

export function generateDataKey(): Uint8Array {
  return fillRandom(new Uint8Array(DATA_KEY_SIZE));
}

function keyCommitment(key: Uint8Array, nonce: Uint8Array): Buffer {
  return createHmac('sha256', key).update(COMMIT_DOMAIN).update(nonce).digest();
}

function checkKey(key: Uint8Array): void {
  if (key.length !== DATA_KEY_SIZE) throw new RangeError(`key must be ${DATA_KEY_SIZE} bytes`);
}

export function seal(key: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  checkKey(key);
  const out = Buffer.alloc(HEADER_SIZE + plaintext.length + TAG_SIZE);
  out[0] = VERSION;
  const nonce = out.subarray(1, 1 + NONCE_SIZE);
  fillRandom(nonce);
  keyCommitment(key, nonce).copy(out, 1 + NONCE_SIZE);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    out.subarray(HEADER_SIZE),
    Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.length),
    Buffer.from(associatedData.buffer, associatedData.byteOffset, associatedData.length),
    null,
    nonce,
    Buffer.from(key.buffer, key.byteOffset, key.length),
  );
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export function open(key: Uint8Array, envelope: Uint8Array, associatedData: Uint8Array): Uint8Array {
  checkKey(key);
  if (envelope.length < HEADER_SIZE + TAG_SIZE) throw new DecryptionError('envelope is truncated');
  if (envelope[0] !== VERSION) throw new DecryptionError(`unknown envelope version ${envelope[0]}`);
  const env = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.length);
  const nonce = env.subarray(1, 1 + NONCE_SIZE);
  if (!timingSafeEqual(keyCommitment(key, nonce), env.subarray(1 + NONCE_SIZE, HEADER_SIZE))) {
    throw new DecryptionError('envelope is not committed to this key');
  }
  const plaintext = Buffer.alloc(envelope.length - HEADER_SIZE - TAG_SIZE);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      plaintext,
      null,
      env.subarray(HEADER_SIZE),
      Buffer.from(associatedData.buffer, associatedData.byteOffset, associatedData.length),
      nonce,
      Buffer.from(key.buffer, key.byteOffset, key.length),
    );
  } catch {
    throw new DecryptionError('envelope does not authenticate');
  }
  return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.length);
}

/**
 * Wraps a data key under a key-encryption key. The label (e.g. the record version it protects) is
 * bound as associated data, so a wrapped key cannot be moved to another record version.
 */
export function wrapKey(kek: Uint8Array, dataKey: Uint8Array, label: string): Uint8Array {
  checkKey(dataKey);
  return seal(kek, dataKey, wrapLabel(label));
}

export function unwrapKey(kek: Uint8Array, wrapped: Uint8Array, label: string): Uint8Array {
  const key = open(kek, wrapped, wrapLabel(label));
  if (key.length !== DATA_KEY_SIZE) throw new DecryptionError('wrapped key has the wrong size');
  return key;
}

function wrapLabel(label: string): Uint8Array {
  const bytes = utf8(label);
  const out = new Uint8Array(WRAP_DOMAIN.length + bytes.length);
  out.set(WRAP_DOMAIN);
  out.set(bytes, WRAP_DOMAIN.length);
  return out;
}
