/**
 * Blocks and checkpoints. A block header commits to its transactions (txRoot), to the whole log
 * after it (logSize, logRoot), to the state after it (stateRoot) and to its predecessor (prevHash).
 * The proposer signs the block hash; every block also yields a signed checkpoint of the log.
 */
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { HASH_SIZE, sha256 } from '../crypto/hash.js';
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, type Signer, verify } from '../crypto/ed25519.js';
import { decodeCanonical, encodeCanonical } from './codec.js';
import { fail, ok, type Result } from './errors.js';
import { bytes, record, ShapeError, text, uint } from './shape.js';
import { CHAIN_ID_PATTERN } from './tx.js';

const BLOCK_DOMAIN = concatBytes(utf8('medledger/block/v1'), new Uint8Array([0]));
const CHECKPOINT_DOMAIN = concatBytes(utf8('medledger/checkpoint/v1'), new Uint8Array([0]));

export interface BlockHeader {
  readonly chain: string;
  readonly height: number;
  /** Milliseconds since the Unix epoch, chosen by the proposer, never decreasing. */
  readonly time: number;
  readonly prevHash: Uint8Array;
  readonly txCount: number;
  readonly txRoot: Uint8Array;
  readonly logSize: number;
  readonly logRoot: Uint8Array;
  readonly stateRoot: Uint8Array;
  readonly proposer: Uint8Array;
}

export function encodeHeader(h: BlockHeader): Uint8Array {
  return encodeCanonical({
    v: 1,
    chain: h.chain,
    height: h.height,
    time: h.time,
    prevHash: h.prevHash,
    txCount: h.txCount,
    txRoot: h.txRoot,
    logSize: h.logSize,
    logRoot: h.logRoot,
    stateRoot: h.stateRoot,
    proposer: h.proposer,
  });
}

export function decodeHeader(encoded: Uint8Array): Result<BlockHeader> {
  const decoded = decodeCanonical(encoded);
  if (!decoded.ok) return fail('tx.malformed', `block header: ${decoded.detail}`);
  try {
    const f = record(decoded.value, 'header', [
      'v',
      'chain',
      'height',
      'time',
      'prevHash',
      'txCount',
      'txRoot',
      'logSize',
      'logRoot',
      'stateRoot',
      'proposer',
    ]);
    if (f['v'] !== 1) throw new ShapeError('unsupported header version');
    return ok({
      chain: text(f['chain'], 'chain', CHAIN_ID_PATTERN, 64),
      height: uint(f['height'], 'height'),
      time: uint(f['time'], 'time'),
      prevHash: bytes(f['prevHash'], 'prevHash', HASH_SIZE),
      txCount: uint(f['txCount'], 'txCount'),
      txRoot: bytes(f['txRoot'], 'txRoot', HASH_SIZE),
      logSize: uint(f['logSize'], 'logSize'),
      logRoot: bytes(f['logRoot'], 'logRoot', HASH_SIZE),
      stateRoot: bytes(f['stateRoot'], 'stateRoot', HASH_SIZE),
      proposer: bytes(f['proposer'], 'proposer', PUBLIC_KEY_SIZE),
    });
  } catch (error) {
    if (error instanceof ShapeError) return fail('tx.malformed', `block header: ${error.message}`);
    throw error;
  }
}

export function blockHash(encodedHeader: Uint8Array): Uint8Array {
  return sha256(concatBytes(BLOCK_DOMAIN, encodedHeader));
}

export function signBlock(hash: Uint8Array, signer: Signer): Uint8Array {
  return signer.sign(concatBytes(BLOCK_DOMAIN, hash));
}

export function verifyBlockSignature(hash: Uint8Array, signature: Uint8Array, proposer: Uint8Array): boolean {
  return signature.length === SIGNATURE_SIZE && verify(signature, concatBytes(BLOCK_DOMAIN, hash), proposer);
}

/** A signed statement "the log of this chain had this size and root at this time". */
export interface Checkpoint {
  readonly chain: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly time: number;
}

export interface SignedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly signer: Uint8Array;
  readonly signature: Uint8Array;
}

export function checkpointOf(header: BlockHeader): Checkpoint {
  return { chain: header.chain, size: header.logSize, root: header.logRoot, time: header.time };
}

export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  return encodeCanonical({ v: 1, chain: c.chain, size: c.size, root: c.root, time: c.time });
}

export function signCheckpoint(c: Checkpoint, signer: Signer): SignedCheckpoint {
  const signature = signer.sign(concatBytes(CHECKPOINT_DOMAIN, encodeCheckpoint(c)));
  return { checkpoint: c, signer: signer.publicKey, signature };
}

export function verifyCheckpoint(s: SignedCheckpoint): boolean {
  return (
    s.signature.length === SIGNATURE_SIZE &&
    verify(s.signature, concatBytes(CHECKPOINT_DOMAIN, encodeCheckpoint(s.checkpoint)), s.signer)
  );
}
