/**
 * Signed device batches: the compact form in which a wearable, home monitor or phone gateway
 * sends measurements.
 *
 *   wire   = canonical CBOR [body bytes, signature]
 *   body   = canonical CBOR { v: 1, chain, device, seq, series: [{ code, start, period, values }] }
 *   signed = "medledger/device-batch/v1" ‖ 0x00 ‖ body     (Ed25519, the device's ledger key)
 *
 * A series is regular: sample i of a series was taken at `start + i·period` (ms since the epoch),
 * its value an integer in the code's UCUM unit (codes.ts). A gateway splits a series at a gap.
 * `seq` is the device's batch number: the node takes each batch only with a seq above the last
 * one it stored for the device, so a replayed batch is refused. The chain id and device id are
 * inside the signed bytes, so a batch cannot be moved to another chain or device.
 *
 * Decoding is pure and never throws on untrusted bytes: it returns a DeviceBatchError code.
 */
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { SIGNATURE_SIZE, verify, type Signer } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/hash.js';
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { CHAIN_ID_PATTERN } from '../ledger/tx.js';
import { ID_PATTERNS } from '../ledger/payloads/participant.js';
import { list, record, ShapeError, text, uint } from '../ledger/shape.js';
import { deviceCode } from './codes.js';

export const BATCH_FORMAT_VERSION = 1;
const BATCH_DOMAIN = concatBytes(utf8('medledger/device-batch/v1'), new Uint8Array([0]));

export const MAX_BATCH_SAMPLES = 10_000;
export const MAX_BATCH_SERIES = 64;
/** Longest sampling period (one day) and earliest sample time (2000-01-01). */
export const MAX_PERIOD_MS = 86_400_000;
export const EARLIEST_SAMPLE_MS = 946_684_800_000;
/** Enough for MAX_BATCH_SAMPLES values of up to 5 bytes each plus framing. */
export const MAX_BATCH_BYTES = 64 * 1024;

export interface Series {
  /** LOINC code (codes.ts). */
  readonly code: string;
  /** Time of the first sample, ms since the epoch. */
  readonly start: number;
  /** Milliseconds between samples (≥ 1). */
  readonly period: number;
  readonly values: readonly number[];
}

export interface BatchBody {
  readonly chain: string;
  readonly device: string;
  readonly seq: number;
  readonly series: readonly Series[];
}

export interface SignedBatch {
  readonly batch: BatchBody;
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  readonly wire: Uint8Array;
  /** SHA-256 of the wire bytes. */
  readonly hash: Uint8Array;
}

export type BatchErrorCode = 'device.malformed' | 'device.wrong_chain' | 'device.bad_signature';
export type BatchResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: BatchErrorCode; readonly message: string };

export function batchSigningBytes(body: Uint8Array): Uint8Array {
  return concatBytes(BATCH_DOMAIN, body);
}

export function encodeBatchBody(batch: BatchBody): Uint8Array {
  return encodeCanonical({
    v: BATCH_FORMAT_VERSION,
    chain: batch.chain,
    device: batch.device,
    seq: batch.seq,
    series: batch.series.map((s) => ({ code: s.code, start: s.start, period: s.period, values: [...s.values] })),
  });
}

/** Signs a batch with the device key (the device, or a phone gateway holding it). */
export function signBatch(batch: BatchBody, signer: Pick<Signer, 'sign'>): SignedBatch {
  const body = encodeBatchBody(batch);
  const signature = signer.sign(batchSigningBytes(body));
  const wire = encodeCanonical([body, signature]);
  return { batch, body, signature, wire, hash: sha256(wire) };
}

function fail<T>(code: BatchErrorCode, message: string): BatchResult<T> {
  return { ok: false, code, message };
}

/**
 * Decodes untrusted wire bytes: canonical form, shape, limits and ranges. The signature is checked
 * separately (verifyBatch) because the key comes from the ledger, by the device id inside.
 */
export function decodeBatch(wire: Uint8Array, chain: string): BatchResult<SignedBatch> {
  if (wire.length > MAX_BATCH_BYTES) return fail('device.malformed', `a batch is at most ${MAX_BATCH_BYTES} bytes`);
  const outer = decodeCanonical(wire);
  if (!outer.ok) return fail('device.malformed', `batch is not canonical CBOR: ${outer.detail}`);
  const parts = outer.value;
  if (
    !Array.isArray(parts) ||
    parts.length !== 2 ||
    !(parts[0] instanceof Uint8Array) ||
    !(parts[1] instanceof Uint8Array) ||
    parts[1].length !== SIGNATURE_SIZE
  ) {
    return fail('device.malformed', `expected [body, ${SIGNATURE_SIZE}-byte signature]`);
  }
  const [body, signature] = parts as [Uint8Array, Uint8Array];
  const inner = decodeCanonical(body);
  if (!inner.ok) return fail('device.malformed', `batch body is not canonical CBOR: ${inner.detail}`);
  let batch: BatchBody;
  try {
    batch = readBody(inner.value);
  } catch (error) {
    if (error instanceof ShapeError) return fail('device.malformed', error.message);
    throw error;
  }
  if (batch.chain !== chain) return fail('device.wrong_chain', `batch is for chain "${batch.chain}", not "${chain}"`);
  return { ok: true, value: { batch, body, signature, wire, hash: sha256(wire) } };
}

export function verifyBatch(signed: SignedBatch, publicKey: Uint8Array): boolean {
  return verify(signed.signature, batchSigningBytes(signed.body), publicKey);
}

function readSeries(value: unknown, where: string): Series {
  const f = record(value, where, ['code', 'start', 'period', 'values']);
  const code = text(f['code'], `${where}.code`, /^[0-9]{1,7}-[0-9]$/, 9);
  const spec = deviceCode(code);
  if (!spec) throw new ShapeError(`${where}.code ${code} is not a device measurement code`);
  const start = uint(f['start'], `${where}.start`);
  if (start < EARLIEST_SAMPLE_MS) throw new ShapeError(`${where}.start is before 2000-01-01`);
  const period = uint(f['period'], `${where}.period`);
  if (period < 1 || period > MAX_PERIOD_MS) throw new ShapeError(`${where}.period must be 1..${MAX_PERIOD_MS} ms`);
  const values = list(f['values'], `${where}.values`, MAX_BATCH_SAMPLES, (v, w) => {
    const n = uint(v, w);
    if (n < spec.min || n > spec.max) throw new ShapeError(`${w} is outside ${spec.min}..${spec.max} ${spec.unit}`);
    return n;
  });
  if (values.length === 0) throw new ShapeError(`${where}.values must not be empty`);
  if (!Number.isSafeInteger(start + (values.length - 1) * period)) throw new ShapeError(`${where} ends beyond safe time`);
  return { code, start, period, values };
}

function readBody(value: unknown): BatchBody {
  const f = record(value, 'batch', ['v', 'chain', 'device', 'seq', 'series']);
  if (f['v'] !== BATCH_FORMAT_VERSION) throw new ShapeError(`unsupported batch version ${String(f['v'])}`);
  const series = list(f['series'], 'batch.series', MAX_BATCH_SERIES, readSeries);
  if (series.length === 0) throw new ShapeError('batch.series must not be empty');
  let samples = 0;
  for (const s of series) samples += s.values.length;
  if (samples > MAX_BATCH_SAMPLES) throw new ShapeError(`a batch carries at most ${MAX_BATCH_SAMPLES} samples`);
  checkNoOverlap(series);
  return {
    chain: text(f['chain'], 'batch.chain', CHAIN_ID_PATTERN, 64),
    device: text(f['device'], 'batch.device', ID_PATTERNS.device, 30),
    seq: uint(f['seq'], 'batch.seq'),
    series,
  };
}

/** Two samples of one code at one time in a batch make it ambiguous: malformed. */
function checkNoOverlap(series: readonly Series[]): void {
  const byCode = new Map<string, Series[]>();
  for (const s of series) byCode.set(s.code, [...(byCode.get(s.code) ?? []), s]);
  for (const [code, group] of byCode) {
    if (group.length === 1) continue;
    const seen = new Set<number>();
    for (const s of group) {
      for (let i = 0; i < s.values.length; i++) {
        const t = s.start + i * s.period;
        if (seen.has(t)) throw new ShapeError(`batch has two ${code} samples at ${new Date(t).toISOString()}`);
        seen.add(t);
      }
    }
  }
}

/** Every sample of a batch, flattened: (code, time, value). */
export function* samplesOf(series: readonly Series[]): Generator<{ code: string; t: number; value: number }> {
  for (const s of series)
    for (let i = 0; i < s.values.length; i++) yield { code: s.code, t: s.start + i * s.period, value: s.values[i]! };
}

export function sampleCount(series: readonly Series[]): number {
  let n = 0;
  for (const s of series) n += s.values.length;
  return n;
}

/** The time of a series' last sample. */
export function seriesEnd(s: Series): number {
  return s.start + (s.values.length - 1) * s.period;
}
