/**
 * Which organization may enroll a patient pseudonym that records were committed about before the
 * patient enrolled. A custodian makes a pseudonym (`pat_…`) for a new patient and commits records
 * naming it at once; the patient binds their own key to it later. Pseudonyms are visible on the
 * ledger, so without a binding any organization could enroll another custodian's patient with a
 * key it holds, then consent, request erasure and block the real enrollment in the patient's name.
 *
 * Rule: the first record commitment naming a pseudonym that is not a registered participant binds
 * it to that record's custodian, for good; later records by other custodians do not move it. Only
 * the bound organization (or its registrars and admins) may enroll the pseudonym as a patient
 * (state/participants.ts, `register`). A pseudonym no record has named is not bound.
 */
import { decodeCanonical, encodeCanonical } from '../ledger/codec.js';
import { record, text, uint } from '../ledger/shape.js';
import type { TxContext } from './participants.js';
import { readObject, type StateReader, type ValueCodec } from './store.js';

export interface PatientCustodian {
  /** The organization whose record first named the pseudonym. */
  readonly custodian: string;
  /** The height of that record commitment. */
  readonly height: number;
}

const bindingKey = (pseudonym: string): string => `patient-custodian/${pseudonym}`;

const BINDING_CODEC: ValueCodec<PatientCustodian> = {
  decode(raw) {
    const decoded = decodeCanonical(raw);
    if (!decoded.ok) throw new Error(`state corrupt: patient custodian: ${decoded.detail}`);
    const f = record(decoded.value, 'patient custodian', ['custodian', 'height']);
    return { custodian: text(f['custodian'], 'custodian', undefined, 48), height: uint(f['height'], 'height') };
  },
  encode: (b) => encodeCanonical({ ...b }),
};

/** The custodian a not-yet-enrolled pseudonym is bound to, if any record has named it. */
export function readPatientCustodian(state: StateReader, pseudonym: string): PatientCustodian | undefined {
  return readObject(state, bindingKey(pseudonym), BINDING_CODEC);
}

/** Binds `pseudonym` (not a registered participant) to `custodian` unless it is bound already. */
export function bindPatientCustodian(ctx: TxContext, pseudonym: string, custodian: string): void {
  if (readPatientCustodian(ctx.state, pseudonym) !== undefined) return;
  ctx.state.setObject(bindingKey(pseudonym), { custodian, height: ctx.height }, BINDING_CODEC);
}
