/**
 * Proof checking in the client: is this transaction in the ledger, and did the ledger only grow?
 * Everything is checked against checkpoints signed by validator keys the caller trusts (pinned from
 * the genesis document, not taken from the node being checked).
 *
 *  - `checkCheckpoint`: chain id, a trusted signer, a valid signature over
 *    "medledger/checkpoint/v1" ‖ 0x00 ‖ CBOR{v, chain, size, root, time}.
 *  - `checkInclusion`: RFC 9162 §2.1.3.2 — the leaf SHA-256(0x00 ‖ tx wire) at `index` hashes up the
 *    audit path to the checkpoint's root, for the checkpoint's size.
 *  - `checkConsistency`: RFC 9162 §2.1.4.2 — the newer checkpoint's tree extends the older one.
 *  - `verifyTransaction` / `followLog`: the same against a node over HTTP (./ledger-api.ts).
 *
 * The Merkle and checkpoint code is the node's own (src/ledger/merkle.ts, block.ts: pure apart from
 * hashing and signatures), so client and node cannot disagree on encodings; in a browser build
 * SHA-256 and Ed25519 come from the noble stand-ins in ./browser/.
 */
import { sha256 } from '../crypto/hash.js';
import { verifyCheckpoint, type Checkpoint, type SignedCheckpoint } from '../ledger/block.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../ledger/merkle.js';
import { failure, success, type ClientResult } from './errors.js';
import type { ConsistencyProof, InclusionProof, LedgerClient, TxReceipt } from './ledger-api.js';

export interface Trust {
  readonly chain: string;
  /** Validator public keys whose checkpoints the client believes. */
  readonly validators: readonly Uint8Array[];
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export function checkCheckpoint(signed: SignedCheckpoint, trust: Trust): ClientResult<Checkpoint> {
  if (signed.checkpoint.chain !== trust.chain) {
    return failure('proof.wrong_chain', `checkpoint is for chain "${signed.checkpoint.chain}", not "${trust.chain}"`);
  }
  if (!trust.validators.some((key) => same(key, signed.signer)))
    return failure('proof.untrusted_signer', 'checkpoint signer is not a trusted validator');
  if (!verifyCheckpoint(signed)) return failure('proof.bad_signature', 'checkpoint signature does not verify');
  return success(signed.checkpoint);
}

/** Checks that the transaction `wire` is leaf `proof.index` of the log under a trusted checkpoint. */
export function checkInclusion(
  wire: Uint8Array,
  proof: InclusionProof,
  signed: SignedCheckpoint,
  trust: Trust,
): ClientResult<Checkpoint> {
  const checkpoint = checkCheckpoint(signed, trust);
  if (!checkpoint.ok) return checkpoint;
  if (proof.size !== checkpoint.value.size)
    return failure('proof.invalid', `proof is for size ${proof.size}, checkpoint for ${checkpoint.value.size}`);
  if (!verifyInclusion(leafHash(wire), proof.index, proof.size, proof.path, checkpoint.value.root)) {
    return failure('proof.invalid', `transaction is not leaf ${proof.index} of the checkpointed log`);
  }
  return checkpoint;
}

/** Checks that `newer` extends `older` (both trusted checkpoints) with the given proof. */
export function checkConsistency(
  older: SignedCheckpoint,
  newer: SignedCheckpoint,
  proof: ConsistencyProof,
  trust: Trust,
): ClientResult<Checkpoint> {
  const a = checkCheckpoint(older, trust);
  if (!a.ok) return a;
  const b = checkCheckpoint(newer, trust);
  if (!b.ok) return b;
  if (proof.from !== a.value.size || proof.to !== b.value.size)
    return failure('proof.invalid', 'proof sizes do not match the checkpoints');
  if (!verifyConsistency(a.value.size, b.value.size, proof.path, a.value.root, b.value.root)) {
    return failure('proof.invalid', `the log of size ${b.value.size} does not extend the log of size ${a.value.size}`);
  }
  return b;
}

/** A receipt (from submitting, or from GET /txs/{hash}) checked against the bytes the client signed. */
export function checkReceipt(receipt: TxReceipt, wire: Uint8Array, trust: Trust): ClientResult<Checkpoint> {
  if (!same(sha256(wire), receipt.hash)) return failure('proof.invalid', 'receipt is for another transaction');
  if (receipt.wire && !same(receipt.wire, wire)) return failure('proof.invalid', 'receipt carries other transaction bytes');
  if (receipt.proof.index !== receipt.index) return failure('proof.invalid', 'receipt index and proof index differ');
  return checkInclusion(wire, receipt.proof, receipt.checkpoint, trust);
}

/** Fetches a transaction by hash from a node and checks its inclusion; returns its bytes. */
export async function verifyTransaction(
  client: LedgerClient,
  hash: Uint8Array,
  trust: Trust,
): Promise<ClientResult<{ wire: Uint8Array; receipt: TxReceipt; checkpoint: Checkpoint }>> {
  const fetched = await client.tx(hash);
  if (!fetched.ok) return fetched;
  const receipt = fetched.value;
  if (!receipt.wire || !same(receipt.hash, hash)) return failure('proof.invalid', 'the node answered with another transaction');
  const checked = checkReceipt(receipt, receipt.wire, trust);
  if (!checked.ok) return checked;
  return success({ wire: receipt.wire, receipt, checkpoint: checked.value });
}

/**
 * Moves a client's trusted view of the log forward: fetches the latest checkpoint and a
 * consistency proof from `known` to it, and returns the newer checkpoint only if the log grew
 * without rewriting anything the client has seen. Keep the result as the next `known`.
 */
export async function followLog(
  client: LedgerClient,
  known: SignedCheckpoint,
  trust: Trust,
): Promise<ClientResult<SignedCheckpoint>> {
  const latest = await client.checkpoint();
  if (!latest.ok) return latest;
  if (latest.value.checkpoint.size < known.checkpoint.size)
    return failure('proof.invalid', 'the node shows a shorter log than one already seen');
  const proof = await client.consistencyProof(known.checkpoint.size, latest.value.checkpoint.size);
  if (!proof.ok) return proof;
  const checked = checkConsistency(known, latest.value, proof.value, trust);
  if (!checked.ok) return checked;
  return success(latest.value);
}
