/**
 * Ed25519 keys on the patient's device, in pure TypeScript (@noble/curves), so the same code runs in
 * Node and in the browser. A key pair is the 32-byte seed (the only secret; what backups wrap) and
 * the public key derived from it. Ed25519 signing is deterministic (RFC 8032), so a seed gives the
 * byte-identical public key and signatures as the node's libsodium (src/crypto/ed25519.ts); the
 * tests check both against each other.
 *
 * Verification is strict like libsodium's: canonical encodings only (no ZIP-215 leniency), and
 * small-order public keys or R points are refused, so the SDK never accepts a signature the node
 * would reject.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from './random.js';
import type { TxSigner } from './signer.js';

export const SEED_SIZE = 32;
export const PUBLIC_KEY_SIZE = 32;
export const SIGNATURE_SIZE = 64;

export interface KeyPair {
  /** The 32-byte seed; the secret half of the pair. */
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A fresh key pair from the platform CSPRNG. */
export function generateKeyPair(): KeyPair {
  return keyPairFromSeed(randomBytes(SEED_SIZE));
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_SIZE) throw new RangeError('Ed25519 seed must be 32 bytes');
  const secretKey = Uint8Array.from(seed);
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/** A signer over a seed held in memory (the SDK counterpart of the node's libsodium Signer). */
export class NobleSigner implements TxSigner {
  readonly publicKey: Uint8Array;
  readonly #seed: Uint8Array;

  constructor(keyPair: Pick<KeyPair, 'secretKey'>) {
    const { secretKey, publicKey } = keyPairFromSeed(keyPair.secretKey);
    this.#seed = secretKey;
    this.publicKey = publicKey;
  }

  sign(message: Uint8Array): Uint8Array {
    return ed25519.sign(message, this.#seed);
  }

  /** Overwrites the seed; the signer is unusable afterwards. */
  wipe(): void {
    this.#seed.fill(0);
  }
}

/** Strict Ed25519 verification; false (never a throw) for malformed input. */
export function verifySignature(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_SIZE || publicKey.length !== PUBLIC_KEY_SIZE) return false;
  try {
    if (ed25519.Point.fromBytes(publicKey).isSmallOrder()) return false;
    if (ed25519.Point.fromBytes(signature.subarray(0, 32)).isSmallOrder()) return false;
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
