/**
 * Transactions: a typed payload inside a signed envelope.
 *
 *   wire   = CBOR [body bytes, signature]           (the log leaf; its SHA-256 is the tx hash)
 *   body   = canonical CBOR { v, chain, type, signer, key, seq, expires?, body }
 *   signed = "medledger/tx/v1" ‖ 0x00 ‖ body bytes   (domain-separated; the chain id is inside)
 *
 * Decoding untrusted bytes returns a Result with a typed error; it never throws.
 */
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, type Signer, verify } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/hash.js';
import { decodeCanonical, encodeCanonical, type CanonicalValue } from './codec.js';
import { fail, ok, type Result } from './errors.js';
import { participantPayloads, type ParticipantPayload, kindOfId } from './payloads/participant.js';
import { recordPayloads, type RecordPayload } from './payloads/record.js';
import { consentPayloads, type ConsentPayload } from './payloads/consent.js';
import { accessPayloads, type AccessPayload } from './payloads/access.js';
import { erasurePayloads, type ErasurePayload } from './payloads/erasure.js';
import { governancePayloads, isValidatorId, type GovernancePayload } from './payloads/governance.js';
import { bytes, record, ShapeError, text, uint, optional } from './shape.js';

export const TX_FORMAT_VERSION = 1;
/** Room for a record commitment of MAX_RECORD_ENTRIES versions (about 135 bytes each). */
export const MAX_TX_BYTES = 192 * 1024;
const TX_DOMAIN = concatBytes(utf8('medledger/tx/v1'), new Uint8Array([0]));
export const CHAIN_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Every payload type the ledger knows. Later modules add their payload unions here. */
export type TxPayload = ParticipantPayload | RecordPayload | ConsentPayload | AccessPayload | ErasurePayload | GovernancePayload;
export type TxType = TxPayload['type'];

interface PayloadCodec {
  read(value: unknown): unknown;
  write(body: never): CanonicalValue;
}
const PAYLOADS: Readonly<Record<TxType, PayloadCodec>> = {
  ...participantPayloads,
  ...recordPayloads,
  ...consentPayloads,
  ...accessPayloads,
  ...erasurePayloads,
  ...governancePayloads,
};
export const TX_TYPES = Object.keys(PAYLOADS) as TxType[];

/** Optional expiry: the transaction is invalid in any block past this height or time (ms). */
export type Expiry = { readonly height: number; readonly time?: number } | { readonly height?: number; readonly time: number };

export interface TxEnvelope {
  readonly chain: string;
  /** Participant id of the signer; its current key must equal `key`. */
  readonly signer: string;
  readonly key: Uint8Array;
  /** Per-signer sequence number, starting at 0; each value is usable exactly once. */
  readonly seq: number;
  readonly expires?: Expiry;
}

export type Tx = TxEnvelope & TxPayload;

export interface SignedTx {
  readonly tx: Tx;
  /** Canonical body bytes: what the signature covers (after the domain prefix). */
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  /** The exact bytes that go into blocks and the log. */
  readonly wire: Uint8Array;
  readonly hash: Uint8Array;
}

export function encodeTxBody(tx: Tx): Uint8Array {
  const codec = PAYLOADS[tx.type];
  return encodeCanonical({
    v: TX_FORMAT_VERSION,
    chain: tx.chain,
    type: tx.type,
    signer: tx.signer,
    key: tx.key,
    seq: tx.seq,
    expires: tx.expires ? { ...tx.expires } : undefined,
    body: codec.write(tx.body as never),
  });
}

export function signingBytes(body: Uint8Array): Uint8Array {
  return concatBytes(TX_DOMAIN, body);
}

export function signTx(tx: Tx, signer: Signer): SignedTx {
  const body = encodeTxBody(tx);
  const signature = signer.sign(signingBytes(body));
  const wire = encodeCanonical([body, signature]);
  return { tx, body, signature, wire, hash: sha256(wire) };
}

/** Checks the signature of an already decoded transaction. */
export function hasValidSignature(signed: SignedTx): boolean {
  return verify(signed.signature, signingBytes(signed.body), signed.tx.key);
}

export interface DecodeOptions {
  /** Skip the signature check (the caller verifies in a worker pool). */
  readonly skipSignature?: boolean;
}

/** Decodes and validates untrusted wire bytes: format, canonical form, payload shape and signature. */
export function decodeTx(wire: Uint8Array, chain: string, options: DecodeOptions = {}): Result<SignedTx> {
  if (wire.length > MAX_TX_BYTES) return fail('tx.too_large', `transaction exceeds ${MAX_TX_BYTES} bytes`);
  const parts = splitWire(wire);
  if (!parts.ok) return parts;
  const { body, signature } = parts.value;
  const inner = decodeCanonical(body);
  if (!inner.ok) return fail(inner.reason === 'malformed' ? 'tx.malformed' : 'tx.non_canonical', inner.detail);
  let tx: Tx;
  try {
    tx = readTx(inner.value);
  } catch (error) {
    if (error instanceof ShapeError) return fail('tx.malformed', error.message);
    if (error instanceof UnknownTypeError) return fail('tx.unknown_type', error.message);
    throw error;
  }
  if (tx.chain !== chain) return fail('tx.wrong_chain', `transaction is for chain "${tx.chain}", not "${chain}"`);
  const signed: SignedTx = { tx, body, signature, wire, hash: sha256(wire) };
  if (!options.skipSignature && !hasValidSignature(signed)) {
    return fail('tx.bad_signature', 'signature does not verify under the transaction key');
  }
  return ok(signed);
}

class UnknownTypeError extends Error {}

/**
 * Splits wire bytes into body and signature. The outer array has one canonical shape,
 * 0x82 ‖ bstr(body) ‖ 0x58 0x40 ‖ signature, so it is checked byte by byte instead of decoded.
 */
function splitWire(wire: Uint8Array): Result<{ body: Uint8Array; signature: Uint8Array }> {
  if (wire.length < 3 || wire[0] !== 0x82) return fail('tx.malformed', 'expected [body, signature]');
  const major = wire[1]! >> 5;
  const info = wire[1]! & 0x1f;
  if (major !== 2) return fail('tx.malformed', 'transaction body must be a byte string');
  let length: number;
  let offset: number;
  if (info < 24) [length, offset] = [info, 2];
  else if (info === 24) [length, offset] = [wire[2]!, 3];
  else if (info === 25 && wire.length >= 4) [length, offset] = [(wire[2]! << 8) | wire[3]!, 4];
  else if (info === 26 && wire.length >= 6)
    [length, offset] = [((wire[2]! << 24) | (wire[3]! << 16) | (wire[4]! << 8) | wire[5]!) >>> 0, 6];
  else return fail('tx.malformed', 'transaction body length is invalid');
  const minimal = info < 24 || (info === 24 ? length >= 24 : info === 25 ? length > 0xff : length > 0xffff);
  if (!minimal) return fail('tx.non_canonical', 'transaction body length is not minimally encoded');
  const sigStart = offset + length;
  if (wire.length !== sigStart + 2 + SIGNATURE_SIZE || wire[sigStart] !== 0x58 || wire[sigStart + 1] !== SIGNATURE_SIZE) {
    return fail('tx.malformed', `expected [body, signature] with a ${SIGNATURE_SIZE}-byte signature`);
  }
  return ok({ body: wire.subarray(offset, sigStart), signature: wire.subarray(sigStart + 2) });
}

function readTx(value: unknown): Tx {
  const fields = record(value, 'transaction', ['v', 'chain', 'type', 'signer', 'key', 'seq', 'expires', 'body']);
  if (fields['v'] !== TX_FORMAT_VERSION) throw new ShapeError(`unsupported transaction version ${String(fields['v'])}`);
  const type = text(fields['type'], 'type', /^[a-z_]+\.[a-z_]+$/, 64);
  if (!Object.hasOwn(PAYLOADS, type)) throw new UnknownTypeError(`unknown transaction type "${type}"`);
  const signer = text(fields['signer'], 'signer', undefined, 48);
  // Validators sign governance transactions under their key-derived id (payloads/governance.ts).
  if (!kindOfId(signer) && !isValidatorId(signer)) throw new ShapeError('signer is not a participant or validator id');
  const expires = optional(fields['expires'], (v) => {
    const e = record(v, 'expires', ['height', 'time']);
    const height = optional(e['height'], (h) => uint(h, 'expires.height'));
    const time = optional(e['time'], (t) => uint(t, 'expires.time'));
    if (height === undefined && time === undefined) throw new ShapeError('expires must set height or time');
    return { ...(height !== undefined && { height }), ...(time !== undefined && { time }) } as Expiry;
  });
  const envelope = {
    chain: text(fields['chain'], 'chain', CHAIN_ID_PATTERN, 64),
    signer,
    key: bytes(fields['key'], 'key', PUBLIC_KEY_SIZE),
    seq: uint(fields['seq'], 'seq'),
    ...(expires && { expires }),
  };
  const body = PAYLOADS[type as TxType].read(fields['body']);
  return { ...envelope, type, body } as Tx;
}

/** Checks expiry against the block the transaction would land in. */
export function isExpired(tx: Tx, height: number, time: number): boolean {
  const e = tx.expires;
  return e !== undefined && ((e.height !== undefined && height > e.height) || (e.time !== undefined && time > e.time));
}
