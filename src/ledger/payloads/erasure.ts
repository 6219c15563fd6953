/**
 * Erasure payloads. The patient signs a request naming a custodian and, optionally, the records;
 * the custodian crypto-shreds them (deletes ciphertext and every wrapped key) and signs a
 * tombstone listing what it erased and what it must retain, and why. The record's commitments
 * stay on the ledger, so the log still verifies; what they committed to no longer exists.
 */
import type { CanonicalValue } from '../codec.js';
import { list, oneOf, optional, record, ShapeError, text } from '../shape.js';
import { ID_PATTERNS } from './participant.js';
import { MAX_RECORD_ENTRIES, RECORD_ID_PATTERN } from './record.js';

export const ERASURE_ID_PATTERN = /^ers_[a-z2-7]{26}$/;
/** Grounds on which a custodian keeps a record despite an erasure request. */
export const RETENTION_REASONS = ['statutory-retention', 'legal-hold', 'public-health-reporting'] as const;
export type RetentionReason = (typeof RETENTION_REASONS)[number];

export interface ErasureRequestBody {
  readonly id: string;
  /** The patient asking; must be the signer. */
  readonly patient: string;
  readonly custodian: string;
  /** The records to erase; absent means everything the custodian holds about the patient. */
  readonly records?: readonly string[];
}

export interface Retained {
  readonly record: string;
  readonly reason: RetentionReason;
}

/** The custodian's tombstone; a large erasure may take several, the last one marked `done`. */
export interface ErasureTombstoneBody {
  readonly request: string;
  readonly erased: readonly string[];
  readonly retained: readonly Retained[];
  readonly done: boolean;
}

export type ErasurePayload =
  | { readonly type: 'erasure.request'; readonly body: ErasureRequestBody }
  | { readonly type: 'erasure.tombstone'; readonly body: ErasureTombstoneBody };

const recordId = (v: unknown, w: string): string => text(v, w, RECORD_ID_PATTERN, 30);

function distinct(ids: readonly string[], where: string): void {
  if (new Set(ids).size !== ids.length) throw new ShapeError(`${where} names a record twice`);
}

function readRequest(value: unknown): ErasureRequestBody {
  const f = record(value, 'body', ['id', 'patient', 'custodian', 'records']);
  const records = optional(f['records'], (v) => list(v, 'body.records', MAX_RECORD_ENTRIES, recordId));
  if (records !== undefined) {
    if (records.length === 0) throw new ShapeError('body.records must not be empty (omit it to erase everything)');
    distinct(records, 'body.records');
  }
  return {
    id: text(f['id'], 'body.id', ERASURE_ID_PATTERN, 30),
    patient: text(f['patient'], 'body.patient', ID_PATTERNS.patient, 30),
    custodian: text(f['custodian'], 'body.custodian', ID_PATTERNS.organization, 48),
    ...(records !== undefined && { records }),
  };
}

function readTombstone(value: unknown): ErasureTombstoneBody {
  const f = record(value, 'body', ['request', 'erased', 'retained', 'done']);
  const erased = list(f['erased'], 'body.erased', MAX_RECORD_ENTRIES, recordId);
  const retained = list(f['retained'], 'body.retained', MAX_RECORD_ENTRIES, (v, w) => {
    const r = record(v, w, ['record', 'reason']);
    return { record: recordId(r['record'], `${w}.record`), reason: oneOf(r['reason'], `${w}.reason`, RETENTION_REASONS) };
  });
  distinct([...erased, ...retained.map((r) => r.record)], 'body');
  if (typeof f['done'] !== 'boolean') throw new ShapeError('body.done must be a boolean');
  return { request: text(f['request'], 'body.request', ERASURE_ID_PATTERN, 30), erased, retained, done: f['done'] };
}

export const erasurePayloads = {
  'erasure.request': {
    read: readRequest,
    write: (body: ErasureRequestBody): CanonicalValue => ({ ...body, records: body.records ? [...body.records] : undefined }),
  },
  'erasure.tombstone': {
    read: readTombstone,
    write: (body: ErasureTombstoneBody): CanonicalValue => ({
      ...body,
      erased: [...body.erased],
      retained: body.retained.map((r) => ({ ...r })),
    }),
  },
} as const;
