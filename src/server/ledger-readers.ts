/**
 * Who may read what of the ledger API. Headers, hashes, checkpoints and proofs carry nothing
 * about people and stay public; transaction bodies link people (an access event names the
 * practitioner and the patient pseudonym they looked at), so they need a bearer token of this
 * node:
 *   - staff — any active practitioner of this node's organization, or a backend-service (system)
 *     client of it — read every transaction (audit, explorer, `medledger verify --node`);
 *   - a patient reads the transactions about their own pseudonym and about what is theirs (their
 *     consents, break-glass openings of their record, erasure requests, devices), with what a
 *     transaction says about other patients (batched access events and record entries) left out.
 */
import type { FastifyRequest } from 'fastify';
import type { Tx } from '../ledger/tx.js';
import { subjectsOf } from '../ledger/subjects.js';
import type { LedgerApplication } from '../state/application.js';
import type { Participant } from '../state/participants.js';
import { bearerPrincipal, type Authenticate } from './bearer.js';
import { ApiError } from './errors.js';
import { jsonOf, participantView, txView } from './views.js';

/** OpenAPI `security` of a route that needs a bearer access token of this node. */
export const BEARER = [{ bearer: [] }];

export type LedgerReader = { readonly kind: 'staff' } | { readonly kind: 'patient'; readonly id: string };

/** A transaction as a reader may see it; `redacted` when parts about other patients were left out. */
export interface ReaderTxView {
  readonly tx: Record<string, unknown>;
  readonly redacted: boolean;
}

/**
 * The reader of a request (401 `auth.required` without a valid token). `authenticate` is absent
 * when the node signs no one in; then no one reads transaction bodies over HTTP.
 */
export async function ledgerReader(authenticate: Authenticate | undefined, request: FastifyRequest): Promise<LedgerReader> {
  if (!authenticate) throw new ApiError('auth.required', 'this node has no sign-in; transaction bodies are not served');
  const principal = await bearerPrincipal(
    authenticate,
    request,
    'transaction bodies need a bearer token of this node (staff, or the patient they concern)',
  );
  return principal.kind === 'patient' ? { kind: 'patient', id: principal.id } : { kind: 'staff' };
}

export function requireStaff(reader: LedgerReader, what: string): void {
  if (reader.kind !== 'staff') throw new ApiError('auth.forbidden', `${what} is for this organization's staff`);
}

/** Whether `subject` is the patient or something of theirs (consent, opening, erasure request, device). */
export function ownsSubject(app: LedgerApplication, patient: string, subject: string): boolean {
  switch (subject.slice(0, subject.indexOf('_'))) {
    case 'pat':
      return subject === patient;
    case 'cns':
      return app.consent(subject)?.patient === patient;
    case 'bg':
      return app.breakGlass(subject)?.patient === patient;
    case 'ers':
      return app.erasureRequest(subject)?.patient === patient;
    case 'dev':
      return app.participant(subject)?.patient === patient;
    default:
      return false;
  }
}

/** 403 unless the reader may list and follow the transactions about `subject`. */
export function requireSubject(app: LedgerApplication, reader: LedgerReader, subject: string): void {
  if (reader.kind === 'patient' && !ownsSubject(app, reader.id, subject))
    throw new ApiError('auth.forbidden', `a patient sees only the transactions about them, not about ${subject}`);
}

/** The view of `tx` for `reader`, or undefined when the transaction concerns nothing of theirs. */
export function txViewFor(app: LedgerApplication, reader: LedgerReader, tx: Tx): ReaderTxView | undefined {
  if (reader.kind === 'staff') return { tx: txView(tx), redacted: false };
  const patient = reader.id;
  if (!subjectsOf(tx).some((s) => ownsSubject(app, patient, s))) return undefined;
  // Access events and record entries are batched across patients; keep only this patient's.
  if (tx.type === 'access.log') {
    const events = tx.body.events.filter((e) => e.patient === patient);
    return { tx: txView({ ...tx, body: { ...tx.body, events } }), redacted: events.length < tx.body.events.length };
  }
  if (tx.type === 'record.commit') {
    const entries = tx.body.entries.filter((e) => e.patient === patient);
    return { tx: txView({ ...tx, body: { ...tx.body, entries } }), redacted: entries.length < tx.body.entries.length };
  }
  return { tx: txView(tx), redacted: false };
}

/**
 * A participant as anyone may see it: keys, status and sequence (what signing and checking need).
 * Who registered a patient, and whose a device is, link people: left out for patients and devices
 * (their transactions say it to those who may read them).
 */
export function publicParticipantView(participant: Participant): Record<string, unknown> {
  if (participant.kind !== 'patient' && participant.kind !== 'device') return participantView(participant);
  const { registeredBy: _by, patient: _patient, ...rest } = participant;
  return jsonOf(rest) as Record<string, unknown>;
}
