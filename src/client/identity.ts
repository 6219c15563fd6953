/**
 * A participant as seen by a client: its id, its key and the next sequence number to use.
 * Builds and signs transactions for the SDK, the CLI, tests and benchmarks.
 *
 * The key is either a key pair (signed with the node's libsodium Signer, or its browser stand-in)
 * or any `TxSigner`, e.g. the SDK's `NobleSigner` on a patient's device (./signer.ts).
 */
import { generateKeyPair, Signer, type KeyPair } from '../crypto/ed25519.js';
import type { Expiry, SignedTx, TxPayload } from '../ledger/tx.js';
import { randomBytes } from './random.js';
import { signTransaction, type TxSigner } from './signer.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * Kinds of 128-bit random ids: patient and device pseudonyms, record ids, and the ids of
 * consents, break-glass openings and erasure requests.
 */
export type RandomIdPrefix = 'pat' | 'dev' | 'rec' | 'cns' | 'bg' | 'ers';

/** A random 128-bit id such as `pat_…` (26 base32 characters). */
export function randomPseudonym(prefix: RandomIdPrefix, random: Uint8Array = randomBytes(17)): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of random.subarray(0, 17)) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 26) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= 0xff;
  }
  return `${prefix}_${out}`;
}

export class Identity {
  readonly id: string;
  readonly chain: string;
  #signer: TxSigner;
  #seq: number;

  constructor(chain: string, id: string, key: KeyPair | TxSigner = generateKeyPair(), nextSeq = 0) {
    this.chain = chain;
    this.id = id;
    this.#signer = signerOf(key);
    this.#seq = nextSeq;
  }

  get publicKey(): Uint8Array {
    return this.#signer.publicKey;
  }

  get nextSeq(): number {
    return this.#seq;
  }

  /** Signs the payload with an explicit sequence number (for a sequencer that assigns them). */
  signAt(payload: TxPayload, seq: number, expires?: Expiry): SignedTx {
    const tx = { chain: this.chain, signer: this.id, key: this.#signer.publicKey, seq, ...(expires && { expires }), ...payload };
    return signTransaction(tx, this.#signer);
  }

  /** Signs the payload with the next sequence number and advances it. */
  sign(payload: TxPayload, expires?: Expiry): SignedTx {
    const tx = {
      chain: this.chain,
      signer: this.id,
      key: this.#signer.publicKey,
      seq: this.#seq,
      ...(expires && { expires }),
      ...payload,
    };
    this.#seq += 1;
    return signTransaction(tx, this.#signer);
  }

  /** Switches to a new key after a committed `participant.rotate_key`. */
  useKey(key: KeyPair | TxSigner): void {
    this.#signer = signerOf(key);
  }

  /** Resynchronizes with the ledger's view, e.g. after a rejected transaction. */
  setNextSeq(seq: number): void {
    this.#seq = seq;
  }
}

function signerOf(key: KeyPair | TxSigner): TxSigner {
  return 'sign' in key ? key : new Signer(key);
}
