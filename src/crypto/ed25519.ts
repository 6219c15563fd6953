import sodium from 'sodium-native';

/**
 * Ed25519 through libsodium: about twice OpenSSL's verify rate on this class of machine, and
 * strict about non-canonical signatures and small-order keys, which consensus code wants.
 */

export const PUBLIC_KEY_SIZE = 32;
export const SECRET_KEY_SIZE = 32;
export const SIGNATURE_SIZE = 64;

export interface KeyPair {
  /** The 32-byte seed; the secret half of the pair. */
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const seed = Buffer.alloc(SECRET_KEY_SIZE);
  sodium.randombytes_buf(seed);
  return keyPairFromSeed(seed);
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== SECRET_KEY_SIZE) throw new RangeError('Ed25519 seed must be 32 bytes');
  const publicKey = Buffer.alloc(PUBLIC_KEY_SIZE);
  const expanded = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(publicKey, expanded, Buffer.from(seed));
  return { secretKey: new Uint8Array(seed), publicKey: new Uint8Array(publicKey) };
}

/** A signer keeps libsodium's expanded secret key so repeated signing does not re-derive it. */
export class Signer {
  readonly publicKey: Uint8Array;
  readonly #expanded: Buffer;

  constructor(keyPair: KeyPair) {
    const publicKey = Buffer.alloc(PUBLIC_KEY_SIZE);
    this.#expanded = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
    sodium.crypto_sign_seed_keypair(publicKey, this.#expanded, Buffer.from(keyPair.secretKey));
    this.publicKey = new Uint8Array(publicKey);
  }

  sign(message: Uint8Array): Uint8Array {
    const signature = Buffer.alloc(SIGNATURE_SIZE);
    sodium.crypto_sign_detached(signature, asBuffer(message), this.#expanded);
    return new Uint8Array(signature);
  }
}

export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_SIZE || publicKey.length !== PUBLIC_KEY_SIZE) return false;
  return sodium.crypto_sign_verify_detached(asBuffer(signature), asBuffer(message), asBuffer(publicKey));
}

export function randomBytes(length: number): Uint8Array {
  const out = Buffer.alloc(length);
  sodium.randombytes_buf(out);
  return new Uint8Array(out);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
