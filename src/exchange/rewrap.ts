/**
 * Re-wrapping a record version's data key for another organization's node: HPKE (RFC 9180,
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) to the recipient organization's ledger
 * key, converted from Ed25519 to X25519 (the birational map libsodium and age use), so no extra
 * key has to be published. The HPKE info binds chain, record, version and recipient: a wrapped key
 * cannot be replayed for another record or opened as if sent to someone else. The wrapped key
 * travels only in the exchange response — never on the ledger, never in the clear.
 */
import { Aes256Gcm, CipherSuite, HkdfSha256 } from '@hpke/core';
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';
import { ed25519 } from '@noble/curves/ed25519.js';
import { encodeCanonical } from '../ledger/codec.js';

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

/** A data key sealed to one recipient: the HPKE encapsulated key and ciphertext. */
export interface WrappedKey {
  readonly enc: Uint8Array;
  readonly ct: Uint8Array;
}

/** What a wrapped key is for; it opens only under exactly this context. */
export interface WrapContext {
  readonly chain: string;
  readonly record: string;
  readonly version: number;
  /** The recipient organization. */
  readonly recipient: string;
}

const infoOf = (context: WrapContext): Uint8Array => encodeCanonical({ domain: 'medledger/exchange-key/v1', ...context });

export class UnwrapError extends Error {}

/** Seals `dataKey` to the organization whose Ed25519 ledger key is `recipientKey`. */
export async function wrapFor(recipientKey: Uint8Array, dataKey: Uint8Array, context: WrapContext): Promise<WrappedKey> {
  const publicKey = await suite.kem.deserializePublicKey(ed25519.utils.toMontgomery(recipientKey));
  const { enc, ct } = await suite.seal({ recipientPublicKey: publicKey, info: infoOf(context) }, dataKey);
  return { enc: new Uint8Array(enc), ct: new Uint8Array(ct) };
}

/** Opens a wrapped key with the recipient organization's Ed25519 seed; UnwrapError if it does not open. */
export async function unwrapWith(seed: Uint8Array, wrapped: WrappedKey, context: WrapContext): Promise<Uint8Array> {
  const secret = ed25519.utils.toMontgomerySecret(seed);
  try {
    const recipientKey = await suite.kem.importKey('raw', secret, false);
    const opened = await suite.open({ recipientKey, enc: wrapped.enc, info: infoOf(context) }, wrapped.ct);
    return new Uint8Array(opened);
  } catch (error) {
    throw new UnwrapError(`the data key does not open: ${(error as Error).message}`);
  } finally {
    secret.fill(0);
  }
}
