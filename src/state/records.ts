/**
 * Record commitments in state: the latest version of each record and the commitment of every
 * version, so a custodian can check any stored ciphertext (current or historical) against the
 * ledger before serving it.
 *
 * Rules: the custodian organization signs its records' commitments; the author is an active
 * participant acting for that custodian: the organization itself or one of its practitioners, or —
 * for records about themselves only — a patient, or a device for records about its patient while
 * that patient is active; versions go 1, 2, 3… with no gaps; a record keeps its custodian and
 * patient for life. The patient pseudonym need not be enrolled yet: a patient binds a key to
 * their pseudonym when they enroll, which may come after the first records about them. The first
 * record naming a pseudonym nobody has enrolled binds it to that record's custodian, the only
 * organization that may later enroll it (state/patient-custodians.ts).
 */
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { fail, ok, type Result } from '../ledger/errors.js';
import type { RecordCommitBody, RecordEntry } from '../ledger/payloads/record.js';
import { bytes, optional, record as fields, text, uint } from '../ledger/shape.js';
import { HASH_SIZE } from '../crypto/hash.js';
import { readParticipant, type TxContext } from './participants.js';
import { bindPatientCustodian } from './patient-custodians.js';
import { readObject, type StateReader, type ValueCodec } from './store.js';

export interface RecordHead {
  readonly version: number;
  readonly custodian: string;
  readonly patient?: string;
  readonly deleted: boolean;
  /** Crypto-shredded at the patient's request: its content is gone and it takes no new versions. */
  readonly erased?: true;
}

export interface RecordVersion {
  readonly version: number;
  readonly author: string;
  readonly height: number;
  /** SHA-256 of the ciphertext envelope; absent for a delete. */
  readonly commitment?: Uint8Array;
}

const headKey = (id: string): string => `record/${id}`;
/** Zero-padded so a record's versions sort in order in the state's key order. */
const versionKey = (id: string, version: number): string => `record-version/${id}/${version.toString().padStart(10, '0')}`;

function decodeWith<T>(raw: Uint8Array, what: string, read: (value: unknown) => T): T {
  const decoded = decodeCanonical(raw);
  if (!decoded.ok) throw new Error(`state corrupt: ${what}: ${decoded.detail}`);
  return read(decoded.value);
}

const HEAD_CODEC: ValueCodec<RecordHead> = {
  decode: (raw) =>
    decodeWith(raw, 'record head', (value) => {
      const f = fields(value, 'record', ['version', 'custodian', 'patient', 'deleted', 'erased']);
      const patient = optional(f['patient'], (v) => text(v, 'patient', undefined, 48));
      return {
        version: uint(f['version'], 'version'),
        custodian: text(f['custodian'], 'custodian', undefined, 48),
        ...(patient !== undefined && { patient }),
        deleted: f['deleted'] === true,
        ...(f['erased'] === true && { erased: true as const }),
      };
    }),
  encode: (head) => encodeCanonical({ ...head }),
};

const VERSION_CODEC: ValueCodec<RecordVersion> = {
  decode: (raw) =>
    decodeWith(raw, 'record version', (value) => {
      const f = fields(value, 'version', ['version', 'author', 'height', 'commitment']);
      const commitment = optional(f['commitment'], (v) => bytes(v, 'commitment', HASH_SIZE));
      return {
        version: uint(f['version'], 'version'),
        author: text(f['author'], 'author', undefined, 48),
        height: uint(f['height'], 'height'),
        ...(commitment !== undefined && { commitment }),
      };
    }),
  encode: (v) => encodeCanonical({ ...v }),
};

export function readRecordHead(state: StateReader, id: string): RecordHead | undefined {
  return readObject(state, headKey(id), HEAD_CODEC);
}

/** Marks a record erased (see state/erasure.ts); its versions' commitments stay for the log. */
export function markErased(ctx: TxContext, id: string, head: RecordHead): void {
  ctx.state.setObject(headKey(id), { ...head, erased: true }, HEAD_CODEC);
}

export function readRecordVersion(state: StateReader, id: string, version: number): RecordVersion | undefined {
  return readObject(state, versionKey(id, version), VERSION_CODEC);
}

/**
 * Whether `body.author` may author these entries at `body.custodian`. The organization and its
 * practitioners author any of its records. A patient authors only records about themselves, and a
 * device only records about its patient, who must still be active (a device keeps its own status
 * when its patient is suspended or revoked): otherwise a custodian could name any patient or
 * device as the author of records about someone else. One author per body, so the author and its
 * patient are read once and each entry is a string comparison.
 */
function authorActsFor(ctx: TxContext, body: RecordCommitBody): Result<void> {
  const { author, custodian } = body;
  if (author === custodian) return ok(undefined);
  const p = readParticipant(ctx.state, author);
  if (!p || p.status !== 'active') return fail('state.not_found', `no active participant ${author}`);
  let subject: string;
  switch (p.kind) {
    case 'organization':
      return fail('tx.unauthorized', `${author} cannot author records held by ${custodian}`);
    case 'practitioner':
      if (p.org !== custodian) return fail('tx.unauthorized', `${author} is not a practitioner of ${custodian}`);
      return ok(undefined);
    case 'patient':
      subject = p.id;
      break;
    case 'device': {
      subject = p.patient!;
      const patient = readParticipant(ctx.state, subject);
      if (patient?.kind !== 'patient' || patient.status !== 'active') {
        return fail('tx.unauthorized', `the patient of ${author} (${subject}) is not active`);
      }
      break;
    }
  }
  const foreign = body.entries.find((entry) => entry.patient !== subject);
  if (foreign !== undefined) {
    return fail(
      'tx.unauthorized',
      `${author} authors records about ${subject} only; ${foreign.record} is about ${foreign.patient ?? 'no patient'}`,
    );
  }
  return ok(undefined);
}

export function commitRecord(ctx: TxContext, body: RecordCommitBody): Result<void> {
  if (ctx.signer.kind !== 'organization' || ctx.signer.id !== body.custodian) {
    return fail('tx.unauthorized', 'a record commitment is signed by its custodian organization');
  }
  const authorOk = authorActsFor(ctx, body);
  if (!authorOk.ok) return authorOk;
  // The transaction's overlay is discarded if any entry fails: all or nothing.
  for (const entry of body.entries) {
    const applied = commitEntry(ctx, body, entry);
    if (!applied.ok) return applied;
  }
  return ok(undefined);
}

function commitEntry(ctx: TxContext, body: RecordCommitBody, entry: RecordEntry): Result<void> {
  const { state } = ctx;
  if (entry.patient !== undefined) {
    const patient = readParticipant(state, entry.patient);
    if (patient && patient.kind !== 'patient') return fail('state.conflict', `${entry.patient} is not a patient`);
    // A pseudonym not enrolled yet is bound to the first custodian naming it (dropped with the
    // transaction's overlay if a later check fails).
    if (!patient) bindPatientCustodian(ctx, entry.patient, body.custodian);
  }
  const head = readRecordHead(state, entry.record);
  if (head === undefined) {
    if (entry.version !== 1) return fail('state.conflict', `record ${entry.record} does not exist; its first version is 1`);
    if (entry.op === 'delete') return fail('state.conflict', 'cannot delete a record that does not exist');
  } else {
    if (head.custodian !== body.custodian) return fail('tx.unauthorized', `record ${entry.record} is held by ${head.custodian}`);
    if (head.erased) return fail('state.conflict', `record ${entry.record} was erased`);
    if (head.patient !== entry.patient) return fail('state.conflict', `record ${entry.record} belongs to another patient`);
    if (entry.version !== head.version + 1) {
      return fail('state.conflict', `record ${entry.record} is at version ${head.version}; expected ${head.version + 1}`);
    }
    if (entry.op === 'delete' && head.deleted) return fail('state.conflict', `record ${entry.record} is already deleted`);
  }
  state.setObject(
    headKey(entry.record),
    {
      version: entry.version,
      custodian: body.custodian,
      ...(entry.patient !== undefined && { patient: entry.patient }),
      deleted: entry.op === 'delete',
    },
    HEAD_CODEC,
  );
  state.setObject(
    versionKey(entry.record, entry.version),
    {
      version: entry.version,
      author: body.author,
      height: ctx.height,
      ...(entry.op === 'write' && { commitment: entry.commitment }),
    },
    VERSION_CODEC,
  );
  return ok(undefined);
}
