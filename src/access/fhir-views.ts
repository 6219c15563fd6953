/**
 * Ledger facts as FHIR R4 resources, so FHIR clients can read consents and the access log:
 * a consent grant becomes a `Consent`, each access event an `AuditEvent` shaped after IHE Basic
 * Audit Log Patterns (BALP). Ledger ids that have no FHIR resource (participants, pseudonyms,
 * record ids) appear as identifiers in MedLedger's URN namespaces.
 */
import type { AuditEvent, Consent as FhirConsent, Reference, Resource } from '@medplum/fhirtypes';
import { toHex } from '../crypto/bytes.js';
import type { AccessAction, AccessEvent } from '../ledger/payloads/access.js';
import type { ConsentPurpose } from '../ledger/payloads/consent.js';
import type { Consent } from '../state/consents.js';

export const PARTICIPANT_SYSTEM = 'urn:medledger:participant';
export const PSEUDONYM_SYSTEM = 'urn:medledger:pseudonym';
export const RECORD_SYSTEM = 'urn:medledger:record';
export const CONSENT_SYSTEM = 'urn:medledger:consent';
export const TX_SYSTEM = 'urn:medledger:tx';

/** FHIR ids allow no underscore: `cns_abc…` is served as `cns-abc…` (the mapping is one to one). */
export const fhirIdOf = (ledgerId: string): string => ledgerId.replace('_', '-');
export const ledgerIdOf = (fhirId: string): string => fhirId.replace('-', '_');

const iso = (ms: number): string => new Date(ms).toISOString();
const participant = <T extends Resource>(id: string): Reference<T> => ({ identifier: { system: PARTICIPANT_SYSTEM, value: id } });

/** The patient as a FHIR reference: the Patient resource when this node knows it, else the pseudonym. */
function patientRef<T extends Resource>(pseudonym: string, patientId: string | undefined): Reference<T> {
  return patientId !== undefined
    ? { reference: `Patient/${patientId}` }
    : { identifier: { system: PSEUDONYM_SYSTEM, value: pseudonym } };
}

export type ConsentStatus = 'active' | 'inactive' | 'rejected';

/** Active while in force or not yet started; inactive once revoked or expired. */
export function consentStatus(consent: Consent, now: number): ConsentStatus {
  if (consent.revokedAt !== undefined) return 'inactive';
  return consent.until !== undefined && now >= consent.until ? 'inactive' : 'active';
}

export function consentResource(consent: Consent, options: { readonly now: number; readonly patientId?: string }): FhirConsent {
  const period = {
    ...(consent.from !== undefined && { start: iso(consent.from) }),
    ...(consent.until !== undefined && { end: iso(consent.until) }),
  };
  return {
    resourceType: 'Consent',
    id: fhirIdOf(consent.id),
    meta: { lastUpdated: iso(consent.revokedTime ?? consent.grantedTime) },
    identifier: [{ system: CONSENT_SYSTEM, value: consent.id }],
    status: consentStatus(consent, options.now),
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: patientRef(consent.patient, options.patientId),
    dateTime: iso(consent.grantedTime),
    performer: [patientRef(consent.patient, options.patientId)],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: {
      type: 'permit',
      ...(Object.keys(period).length > 0 && { period }),
      actor: [
        {
          role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
          reference: participant(consent.grantee),
        },
      ],
      purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: consent.purpose }],
      ...(consent.types && { class: consent.types.map((code) => ({ system: 'http://hl7.org/fhir/resource-types', code })) }),
    },
  };
}

/** BALP: RESTful interaction subtype and DICOM action code per access action. */
const INTERACTION: Readonly<Record<AccessAction, { readonly code: string; readonly action: 'R' | 'E' }>> = {
  read: { code: 'read', action: 'R' },
  search: { code: 'search-type', action: 'E' },
  history: { code: 'history-instance', action: 'R' },
  everything: { code: 'operation', action: 'E' },
  export: { code: 'operation', action: 'E' },
  exchange: { code: 'read', action: 'R' },
  aggregate: { code: 'operation', action: 'E' },
};

export interface LoggedTx {
  readonly index: number;
  readonly hash: Uint8Array;
  /** The organization that signed the access log. */
  readonly signer: string;
}

/**
 * One AuditEvent per access event of an `access.log` transaction; ids are `<log index>-<n>`. The
 * purpose of use is the consent's (e.g. PUBHLTH for a population query) when the caller looked it
 * up, ETREAT for emergency access, else TREAT.
 */
export function auditEventResource(
  tx: LoggedTx,
  position: number,
  event: AccessEvent,
  patientId?: string,
  consentPurpose?: ConsentPurpose,
): AuditEvent {
  const interaction = INTERACTION[event.action];
  const permitted = event.decision === 'permit';
  const emergency = permitted && event.basis === 'break-glass';
  const human = event.actor.startsWith('prac_') || event.actor.startsWith('pat_');
  return {
    resourceType: 'AuditEvent',
    id: `${tx.index}-${position}`,
    meta: { lastUpdated: iso(event.at) },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: interaction.code }],
    action: interaction.action,
    recorded: iso(event.at),
    // 0 success; 4 minor failure: the request was refused.
    outcome: permitted ? '0' : '4',
    ...(!permitted && { outcomeDesc: 'access denied' }),
    purposeOfEvent: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
            code: emergency ? 'ETREAT' : (consentPurpose ?? 'TREAT'),
          },
        ],
      },
    ],
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type',
              code: human ? 'humanuser' : 'dataprocessor',
            },
          ],
        },
        who: participant(event.actor),
        requestor: true,
        ...('grant' in event && {
          policy: [`${event.basis === 'consent' ? CONSENT_SYSTEM : 'urn:medledger:break-glass'}:${event.grant}`],
        }),
      },
    ],
    source: {
      observer: participant(tx.signer),
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity: [
      {
        what: patientRef(event.patient, patientId),
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
      },
      ...event.records.map((record) => ({
        what: { identifier: { system: RECORD_SYSTEM, value: record } },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
      })),
      {
        what: { identifier: { system: TX_SYSTEM, value: toHex(tx.hash) } },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
        description: 'the ledger transaction that records this access',
      },
    ],
  };
}
