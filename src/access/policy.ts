/**
 * The access decision: may this requester see this record, now, for this purpose — and on what
 * basis. Pure: the caller supplies ledger state through `AccessState`, and the time.
 *
 * In order: a patient sees their own record; the custodian's treatment relationship (see
 * `TreatmentRule`); a consent in force that covers the resource type and purpose, granted to the
 * practitioner or to their organization; an open break-glass of the practitioner for the patient.
 * Anything else is denied.
 */
import type { ConsentPurpose } from '../ledger/payloads/consent.js';
import { isOpen, type BreakGlass } from '../state/access.js';
import { appliesTo, inForce, type Consent } from '../state/consents.js';

/**
 * Who keeps access without a consent, inside the custodian organization:
 * - `authors`: a practitioner keeps the records they wrote (a version authored by them), and the
 *   organization's systems keep what the organization itself wrote;
 * - `organization`: every practitioner and system of the custodian sees everything it holds;
 * - `none`: only consent and break-glass open a record, even to its author.
 */
export const TREATMENT_RULES = ['authors', 'organization', 'none'] as const;
export type TreatmentRule = (typeof TREATMENT_RULES)[number];

export type Requester =
  | { readonly kind: 'patient'; readonly id: string }
  | { readonly kind: 'practitioner'; readonly id: string; readonly org: string }
  /** A backend system acting for its organization. */
  | { readonly kind: 'organization'; readonly id: string };

/** What the decision needs to know about one record (none of it clinical). */
export interface RecordFacts {
  readonly patient: string;
  readonly type: string;
  readonly custodian: string;
  /** Ledger ids of everyone who wrote a version of it. */
  readonly authors: readonly string[];
}

export interface AccessState {
  consentsFor(patient: string, grantee: string): readonly Consent[];
  latestBreakGlass(patient: string, practitioner: string): BreakGlass | undefined;
}

export type Decision =
  | { readonly permit: true; readonly basis: 'self' | 'treatment' }
  | { readonly permit: true; readonly basis: 'consent' | 'break-glass'; readonly grant: string }
  | { readonly permit: false; readonly reason: string };

export interface DecisionInput {
  readonly requester: Requester;
  readonly record: RecordFacts;
  readonly purpose: ConsentPurpose;
  /**
   * Request time, ms since the epoch: the node's clock, at or after the latest committed block
   * (state prunes grants that had expired by a block's time whenever it rewrites their list).
   */
  readonly now: number;
}

function treats(rule: TreatmentRule, requester: Requester, record: RecordFacts): boolean {
  if (requester.kind === 'patient' || rule === 'none') return false;
  const org = requester.kind === 'practitioner' ? requester.org : requester.id;
  if (org !== record.custodian) return false;
  return rule === 'organization' || record.authors.includes(requester.id);
}

function covering(consents: readonly Consent[], input: DecisionInput): Consent | undefined {
  return consents.find(
    (c) => c.patient === input.record.patient && appliesTo(c, input.purpose, input.record.type) && inForce(c, input.now),
  );
}

export function decide(state: AccessState, rule: TreatmentRule, input: DecisionInput): Decision {
  const { requester, record } = input;
  if (requester.kind === 'patient') {
    return requester.id === record.patient
      ? { permit: true, basis: 'self' }
      : { permit: false, reason: 'a patient sees only their own record' };
  }
  if (treats(rule, requester, record)) return { permit: true, basis: 'treatment' };
  const grantees = requester.kind === 'practitioner' ? [requester.id, requester.org] : [requester.id];
  for (const grantee of grantees) {
    const consent = covering(state.consentsFor(record.patient, grantee), input);
    if (consent) return { permit: true, basis: 'consent', grant: consent.id };
  }
  if (requester.kind === 'practitioner') {
    const opening = state.latestBreakGlass(record.patient, requester.id);
    if (opening && isOpen(opening, input.now)) {
      return { permit: true, basis: 'break-glass', grant: opening.id };
    }
  }
  return { permit: false, reason: 'no consent, treatment relationship or emergency access covers this record' };
}
