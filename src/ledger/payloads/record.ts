/**
 * Record commitments: one transaction per version of a record held encrypted at its custodian.
 *
 * The ledger learns only an opaque record id, the version number, the patient's pseudonym, who
 * wrote it, who holds it and a SHA-256 commitment to the ciphertext — never the resource type,
 * codes, text or keys. A delete is a version without a commitment.
 */
import type { CanonicalValue } from '../codec.js';
import { bytes, list, oneOf, record, ShapeError, text, uint } from '../shape.js';
import { HASH_SIZE } from '../../crypto/hash.js';
import { ID_PATTERNS } from './participant.js';

/** Opaque record ids are 128-bit random values in base32, like participant pseudonyms. */
export const RECORD_ID_PATTERN = /^rec_[a-z2-7]{26}$/;
const AUTHOR_ID = /^(?:org|prac|pat|dev)_[a-z0-9-]{1,40}$/;

/** Most record versions in one transaction (a FHIR transaction Bundle commits atomically in one). */
export const MAX_RECORD_ENTRIES = 1000;

/** One record version: a write with its commitment, or a delete. */
export type RecordEntry = {
  readonly record: string;
  readonly version: number;
  /** The patient the record is about; absent for records about no patient (e.g. an Organization). */
  readonly patient?: string;
} & ({ readonly op: 'write'; readonly commitment: Uint8Array } | { readonly op: 'delete' });

/** Versions written by one author at one custodian, applied all or nothing. */
export interface RecordCommitBody {
  readonly author: string;
  readonly custodian: string;
  readonly entries: readonly RecordEntry[];
}

export type RecordPayload = { readonly type: 'record.commit'; readonly body: RecordCommitBody };

function readEntry(value: unknown, where: string): RecordEntry {
  const loose = record(value, where, ['record', 'version', 'patient', 'op', 'commitment']);
  const op = oneOf(loose['op'], `${where}.op`, ['write', 'delete'] as const);
  const version = uint(loose['version'], `${where}.version`);
  if (version < 1) throw new ShapeError(`${where}.version starts at 1`);
  const common = {
    record: text(loose['record'], `${where}.record`, RECORD_ID_PATTERN, 30),
    version,
    ...(loose['patient'] !== undefined && { patient: text(loose['patient'], `${where}.patient`, ID_PATTERNS.patient, 30) }),
  };
  if (op === 'delete') {
    if (loose['commitment'] !== undefined) throw new ShapeError(`${where}: a delete carries no commitment`);
    return { ...common, op };
  }
  return { ...common, op, commitment: bytes(loose['commitment'], `${where}.commitment`, HASH_SIZE) };
}

function readCommit(value: unknown): RecordCommitBody {
  const fields = record(value, 'body', ['author', 'custodian', 'entries']);
  const entries = list(fields['entries'], 'body.entries', MAX_RECORD_ENTRIES, readEntry);
  if (entries.length === 0) throw new ShapeError('body.entries must not be empty');
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.record)) throw new ShapeError(`body.entries names ${entry.record} twice`);
    seen.add(entry.record);
  }
  return {
    author: text(fields['author'], 'body.author', AUTHOR_ID, 48),
    custodian: text(fields['custodian'], 'body.custodian', ID_PATTERNS.organization, 48),
    entries,
  };
}

export const recordPayloads = {
  'record.commit': {
    read: readCommit,
    write: (body: RecordCommitBody): CanonicalValue => ({ ...body, entries: body.entries.map((e) => ({ ...e })) }),
  },
} as const;
