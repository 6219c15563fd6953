/**
 * Record commitments: one transaction per version of a record held encrypted at its custodian.
 *
 * The ledger learns only an opaque record id, the version number, the patient's pseudonym, who
 * wrote it, who holds it and a SHA-256 commitment to the ciphertext — never the resource type,
 * codes, text or keys. A delete is a version without a commitment.
 */
import type { CanonicalValue } from '../codec.js';
import { bytes, oneOf, record, ShapeError, text, uint } from '../shape.js';
import { HASH_SIZE } from '../../crypto/hash.js';
import { ID_PATTERNS } from './participant.js';

/** Opaque record ids are 128-bit random values in base32, like participant pseudonyms. */
export const RECORD_ID_PATTERN = /^rec_[a-z2-7]{26}$/;
const AUTHOR_ID = /^(?:org|prac|pat|dev)_[a-z0-9-]{1,40}$/;

export type RecordCommitBody = {
  readonly record: string;
  readonly version: number;
  /** The patient the record is about; absent for records about no patient (e.g. an Organization). */
  readonly patient?: string;
  readonly author: string;
  readonly custodian: string;
} & ({ readonly op: 'write'; readonly commitment: Uint8Array } | { readonly op: 'delete' });

export type RecordPayload = { readonly type: 'record.commit'; readonly body: RecordCommitBody };

function readCommit(value: unknown): RecordCommitBody {
  const loose = record(value, 'body', ['record', 'version', 'patient', 'author', 'custodian', 'op', 'commitment']);
  const op = oneOf(loose['op'], 'body.op', ['write', 'delete'] as const);
  const version = uint(loose['version'], 'body.version');
  if (version < 1) throw new ShapeError('body.version starts at 1');
  const common = {
    record: text(loose['record'], 'body.record', RECORD_ID_PATTERN, 30),
    version,
    ...(loose['patient'] !== undefined && { patient: text(loose['patient'], 'body.patient', ID_PATTERNS.patient, 30) }),
    author: text(loose['author'], 'body.author', AUTHOR_ID, 48),
    custodian: text(loose['custodian'], 'body.custodian', ID_PATTERNS.organization, 48),
  };
  if (op === 'delete') {
    if (loose['commitment'] !== undefined) throw new ShapeError('a delete carries no commitment');
    return { ...common, op };
  }
  return { ...common, op, commitment: bytes(loose['commitment'], 'body.commitment', HASH_SIZE) };
}

export const recordPayloads = {
  'record.commit': {
    read: readCommit,
    write: (body: RecordCommitBody): CanonicalValue => ({ ...body }),
  },
} as const;
