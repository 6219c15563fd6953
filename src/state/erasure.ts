/**
 * Erasure in state: the patient's request and the custodian's tombstones.
 *
 * Rules: only the patient requests, naming the custodian and optionally the records; only that
 * custodian answers, listing records it erased and records it retains with a legal reason; each
 * listed record must be the custodian's, about that patient, and (if the request named records)
 * one of them. An erased record takes no further versions. The request is complete when a
 * tombstone says `done`.
 */
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { fail, ok, type Result } from '../ledger/errors.js';
import type { ErasureRequestBody, ErasureTombstoneBody } from '../ledger/payloads/erasure.js';
import { MAX_RECORD_ENTRIES } from '../ledger/payloads/record.js';
import { list, oneOf, optional, record, text, uint } from '../ledger/shape.js';
import type { TxContext } from './participants.js';
import { markErased, readRecordHead } from './records.js';
import { readObject, type StateReader, type ValueCodec } from './store.js';

export interface ErasureRequest {
  readonly id: string;
  readonly patient: string;
  readonly custodian: string;
  readonly records?: readonly string[];
  readonly requestedAt: number;
  readonly status: 'requested' | 'completed';
  readonly erased: number;
  readonly retained: number;
}

const requestKey = (id: string): string => `erasure/${id}`;

const REQUEST_CODEC: ValueCodec<ErasureRequest> = {
  decode(raw) {
    const decoded = decodeCanonical(raw);
    if (!decoded.ok) throw new Error(`state corrupt: erasure request: ${decoded.detail}`);
    const f = record(decoded.value, 'erasure', [
      'id',
      'patient',
      'custodian',
      'records',
      'requestedAt',
      'status',
      'erased',
      'retained',
    ]);
    const records = optional(f['records'], (v) => list(v, 'records', MAX_RECORD_ENTRIES, (r, w) => text(r, w, undefined, 30)));
    return {
      id: text(f['id'], 'id', undefined, 30),
      patient: text(f['patient'], 'patient', undefined, 30),
      custodian: text(f['custodian'], 'custodian', undefined, 48),
      ...(records !== undefined && { records }),
      requestedAt: uint(f['requestedAt'], 'requestedAt'),
      status: oneOf(f['status'], 'status', ['requested', 'completed'] as const),
      erased: uint(f['erased'], 'erased'),
      retained: uint(f['retained'], 'retained'),
    };
  },
  encode: (r) => encodeCanonical({ ...r, records: r.records ? [...r.records] : undefined }),
};

export function readErasureRequest(state: StateReader, id: string): ErasureRequest | undefined {
  return readObject(state, requestKey(id), REQUEST_CODEC);
}

export function requestErasure(ctx: TxContext, body: ErasureRequestBody): Result<void> {
  const { state, signer } = ctx;
  if (signer.kind !== 'patient' || signer.id !== body.patient)
    return fail('tx.unauthorized', 'only the patient requests erasure');
  if (readErasureRequest(state, body.id)) return fail('state.conflict', `erasure request ${body.id} already exists`);
  for (const id of body.records ?? []) {
    const head = readRecordHead(state, id);
    if (!head || head.patient !== body.patient || head.custodian !== body.custodian) {
      return fail('state.not_found', `${body.custodian} holds no record ${id} about ${body.patient}`);
    }
  }
  state.setObject(
    requestKey(body.id),
    { ...body, requestedAt: ctx.height, status: 'requested', erased: 0, retained: 0 },
    REQUEST_CODEC,
  );
  return ok(undefined);
}

export function commitTombstone(ctx: TxContext, body: ErasureTombstoneBody): Result<void> {
  const request = readErasureRequest(ctx.state, body.request);
  if (!request) return fail('state.not_found', `no erasure request ${body.request}`);
  if (ctx.signer.id !== request.custodian) return fail('tx.unauthorized', `only ${request.custodian} answers this request`);
  if (request.status === 'completed') return fail('state.conflict', `erasure request ${body.request} is already complete`);
  const named = request.records ? new Set(request.records) : undefined;
  for (const id of [...body.erased, ...body.retained.map((r) => r.record)]) {
    const head = readRecordHead(ctx.state, id);
    if (!head || head.patient !== request.patient || head.custodian !== request.custodian) {
      return fail('tx.invalid', `record ${id} is not ${request.custodian}'s record about ${request.patient}`);
    }
    if (named && !named.has(id)) return fail('tx.invalid', `record ${id} is not covered by the request`);
  }
  for (const id of body.erased) {
    const head = readRecordHead(ctx.state, id)!;
    if (head.erased) return fail('state.conflict', `record ${id} is already erased`);
    markErased(ctx, id, head);
  }
  ctx.state.setObject(
    requestKey(request.id),
    {
      ...request,
      status: body.done ? 'completed' : 'requested',
      erased: request.erased + body.erased.length,
      retained: request.retained + body.retained.length,
    },
    REQUEST_CODEC,
  );
  return ok(undefined);
}
