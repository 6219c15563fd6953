/**
 * What a requester may find by searching, as a filter a search can apply before counting and
 * paging — so totals, pages and includes never reveal a hidden resource. It is the set form of
 * `decide` (policy.ts): a record is in scope exactly when `decide` permits it.
 *
 * Patients come from the grantee-first consent markers and the practitioner-first emergency
 * pointers in state, listed by key prefix and memoized per committed height.
 */
import type { ConsentPurpose } from '../ledger/payloads/consent.js';
import { EMERGENCIES_PREFIX, isOpen } from '../state/access.js';
import { appliesTo, GRANTORS_PREFIX, inForce } from '../state/consents.js';
import type { CommittedAccessState } from './ledger-state.js';
import type { Requester, TreatmentRule } from './policy.js';

export interface VisibilitySource extends CommittedAccessState {
  stateKeys(prefix: string, options?: { readonly after?: string; readonly limit?: number }): string[];
}

/** Records the custodian's treatment rule opens to the requester, whoever the patient is. */
export type TreatmentScope =
  | { readonly kind: 'custodian'; readonly custodian: string }
  | { readonly kind: 'authored-by'; readonly custodian: string; readonly author: string }
  | { readonly kind: 'none' };

export interface SearchScope {
  /** Patients whose records of the searched type may be returned (self, consent or emergency). */
  readonly patients: ReadonlySet<string>;
  readonly treatment: TreatmentScope;
  /**
   * The first moment (ms) a consent or emergency access taken into account starts or ends: the
   * scope holds until then (or a new block), so a memo must not outlive it.
   */
  readonly validUntil: number;
}

export interface ScopeQuery {
  readonly requester: Requester;
  readonly type: string;
  readonly purpose: ConsentPurpose;
  readonly now: number;
}

const PAGE = 500;

function* keysUnder(source: VisibilitySource, prefix: string): Generator<string> {
  let after: string | undefined;
  for (;;) {
    const keys = source.stateKeys(prefix, { limit: PAGE, ...(after !== undefined && { after }) });
    for (const key of keys) yield key.slice(prefix.length);
    if (keys.length < PAGE) return;
    after = keys.at(-1);
  }
}

function treatmentScope(rule: TreatmentRule, requester: Requester): TreatmentScope {
  if (requester.kind === 'patient' || rule === 'none') return { kind: 'none' };
  const custodian = requester.kind === 'practitioner' ? requester.org : requester.id;
  return rule === 'organization' ? { kind: 'custodian', custodian } : { kind: 'authored-by', custodian, author: requester.id };
}

export function searchScope(source: VisibilitySource, rule: TreatmentRule, query: ScopeQuery): SearchScope {
  const { requester } = query;
  const treatment = treatmentScope(rule, requester);
  if (requester.kind === 'patient') return { patients: new Set([requester.id]), treatment, validUntil: Infinity };
  const patients = new Set<string>();
  let validUntil = Infinity;
  const boundary = (t: number | undefined): void => {
    if (t !== undefined && t > query.now && t < validUntil) validUntil = t;
  };
  const grantees = requester.kind === 'practitioner' ? [requester.id, requester.org] : [requester.id];
  for (const grantee of grantees) {
    for (const patient of keysUnder(source, `${GRANTORS_PREFIX}${grantee}/`)) {
      const relevant = source
        .consentsFor(patient, grantee)
        .filter((c) => c.revokedAt === undefined && appliesTo(c, query.purpose, query.type));
      for (const c of relevant) {
        boundary(c.from);
        boundary(c.until);
      }
      if (relevant.some((c) => inForce(c, query.now))) patients.add(patient);
    }
  }
  if (requester.kind === 'practitioner') {
    for (const patient of keysUnder(source, `${EMERGENCIES_PREFIX}${requester.id}/`)) {
      const opening = source.latestBreakGlass(patient, requester.id);
      if (opening && isOpen(opening, query.now)) {
        patients.add(patient);
        boundary(opening.until);
      }
    }
  }
  return { patients, treatment, validUntil };
}

/** Whether a record falls in a scope (the check a search's SQL filter performs). */
export function inScope(
  scope: SearchScope,
  record: { readonly patient?: string; readonly custodian: string; readonly authors: readonly string[] },
): boolean {
  if (record.patient === undefined) return true;
  if (scope.patients.has(record.patient)) return true;
  const t = scope.treatment;
  if (t.kind === 'none' || t.custodian !== record.custodian) return false;
  return t.kind === 'custodian' || record.authors.includes(t.author);
}
