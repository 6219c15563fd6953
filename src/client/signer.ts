/**
 * The signer abstraction of the client: anything that holds a key and signs bytes with it. The
 * node's libsodium `Signer` (src/crypto/ed25519.ts) and the SDK's pure-TypeScript `NobleSigner`
 * (./keys.ts) both fit, so `Identity` and `signTransaction` work with either — libsodium for speed
 * in the node, CLI and benchmarks; noble on a patient's device and in the browser. A future
 * hardware or WebAuthn-backed signer only has to implement this interface.
 *
 * Transactions are encoded by the ledger's own code (src/ledger/tx.ts), never re-implemented here,
 * so the SDK and the node cannot drift apart. In a browser build that code needs two module
 * aliases (see ./browser/ and README "Patient keys and recovery").
 */
import { encodeCanonical } from '../ledger/codec.js';
import { sha256 } from '../crypto/hash.js';
import { encodeTxBody, signingBytes, type SignedTx, type Tx } from '../ledger/tx.js';

export interface TxSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/**
 * Signs a transaction with any signer: canonical body, domain-separated signature, wire bytes and
 * hash — the same bytes as the ledger's `signTx`. The envelope's `key` must be the signer's key.
 */
export function signTransaction(tx: Tx, signer: TxSigner): SignedTx {
  if (!sameBytes(tx.key, signer.publicKey)) throw new RangeError('transaction key is not the signer key');
  const body = encodeTxBody(tx);
  const signature = signer.sign(signingBytes(body));
  const wire = encodeCanonical([body, signature]);
  return { tx, body, signature, wire, hash: sha256(wire) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
