/**
 * Device registration. A device signs its patient's readings, so registering one speaks for the
 * patient: the patient may, and so may a care team the ledger can see — the organization that
 * enrolled the patient, or one the patient has granted a treatment consent in force covering
 * Observations (the readings become Observations), and that organization's clinicians and nurses.
 * Anyone else could attach readings to a stranger's record.
 */
import { fail, type Result } from '../ledger/errors.js';
import type { RegisterBody } from '../ledger/payloads/participant.js';
import { activeConsents, appliesTo, inForce } from './consents.js';
import { admit, hasRole, readParticipant, type Participant, type TxContext } from './participants.js';
import type { StateReader } from './store.js';

export type DeviceRegisterBody = Extract<RegisterBody, { kind: 'device' }>;

/** The organization a participant acts for: itself, or a practitioner's organization. */
function organizationOf(p: Participant): string | undefined {
  return p.kind === 'organization' ? p.id : p.kind === 'practitioner' ? p.org : undefined;
}

/**
 * Whether `member` (an organization or a practitioner) belongs to a team caring for `patient` at
 * block time: its organization enrolled the patient, or the patient granted the organization or
 * the practitioner a treatment consent in force that covers `type`.
 */
export function caresFor(state: StateReader, member: Participant, patient: Participant, time: number, type: string): boolean {
  const org = organizationOf(member);
  if (org === undefined) return false;
  const enrolledBy = readParticipant(state, patient.registeredBy);
  if (enrolledBy !== undefined && organizationOf(enrolledBy) === org) return true;
  const grantees = member.kind === 'practitioner' ? [org, member.id] : [org];
  return grantees.some((grantee) =>
    activeConsents(state, patient.id, grantee).some((c) => inForce(c, time) && appliesTo(c, 'TREAT', type)),
  );
}

export function registerDevice(ctx: TxContext, body: DeviceRegisterBody): Result<void> {
  const { state, signer } = ctx;
  if (readParticipant(state, body.id)) return fail('state.conflict', `participant ${body.id} already exists`);
  const patient = readParticipant(state, body.patient);
  if (patient?.kind !== 'patient' || patient.status !== 'active') {
    return fail('state.not_found', `no active patient ${body.patient}`);
  }
  if (signer.id !== patient.id) {
    const team = signer.kind === 'organization' || hasRole(signer, 'clinician', 'nurse');
    if (!team) return fail('tx.unauthorized', 'devices are registered by their patient or a care team');
    if (!caresFor(state, signer, patient, ctx.time, 'Observation')) {
      return fail(
        'tx.unauthorized',
        `${signer.id} does not care for ${patient.id}: neither its organization enrolled the patient nor does a treatment consent in force cover Observations`,
      );
    }
  }
  return admit(ctx, body, { patient: body.patient });
}
