/**
 * Who is calling the FHIR API: the authenticated principal attached to every /fhir request after
 * its bearer token was verified (src/server/fhir-auth.ts). Consent enforcement (src/access/) builds
 * on this type; it is deliberately plain data.
 */
import type { PractitionerRole } from '../ledger/payloads/participant.js';
import type { ScopeSet } from './scopes.js';

export type { PractitionerRole, ScopeSet };

export type Principal =
  | {
      readonly kind: 'practitioner';
      /** Ledger participant id (`prac_…`), an active practitioner of `org`. */
      readonly id: string;
      /** The organization the practitioner acts for: this node's organization. */
      readonly org: string;
      /** Roles from the ledger participant registry at request time. */
      readonly roles: readonly PractitionerRole[];
      readonly scopes: ScopeSet;
      /** The OAuth client the token was issued to. */
      readonly client: string;
    }
  | {
      readonly kind: 'patient';
      /** Ledger pseudonym of the patient (`pat_…`). */
      readonly id: string;
      /** The FHIR Patient id the pseudonym is linked to at this node. */
      readonly patient: string;
      readonly scopes: ScopeSet;
      readonly client: string;
    }
  | {
      readonly kind: 'system';
      /** The OAuth client (a backend service) the token was issued to. */
      readonly client: string;
      /** The organization the client is registered with: this node's organization. */
      readonly org: string;
      readonly scopes: ScopeSet;
    };

/** The participant id to record as a write's author on the ledger (see src/state/records.ts). */
export function ledgerAuthor(principal: Principal, org: string, isActiveParticipant: (id: string) => boolean): string {
  switch (principal.kind) {
    case 'practitioner':
      return principal.id;
    case 'patient':
      // A patient is an author only once enrolled on the ledger; before that the custodian authors.
      return isActiveParticipant(principal.id) ? principal.id : org;
    case 'system':
      return org;
  }
}
