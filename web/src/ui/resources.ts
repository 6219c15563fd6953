/** How a FHIR resource reads in a list: its date, a title and a one-line summary. */
import type { Resource } from '../api/fhir';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function dateOf(resource: Resource): string | undefined {
  const r = resource as Any;
  return (
    r.effectiveDateTime ??
    r.effectivePeriod?.start ??
    r.onsetDateTime ??
    r.recordedDate ??
    r.authoredOn ??
    r.occurrenceDateTime ??
    r.performedDateTime ??
    r.performedPeriod?.start ??
    r.period?.start ??
    r.date ??
    r.issued ??
    r.meta?.lastUpdated
  );
}

export function codeText(code: Any | undefined): string | undefined {
  return code?.text ?? code?.coding?.[0]?.display ?? code?.coding?.[0]?.code;
}

const TYPE_LABELS: Record<string, string> = {
  Observation: 'Result',
  Condition: 'Problem',
  MedicationRequest: 'Medication',
  AllergyIntolerance: 'Allergy',
  Immunization: 'Immunization',
  Encounter: 'Visit',
  Procedure: 'Procedure',
  DiagnosticReport: 'Report',
  DocumentReference: 'Document',
  CarePlan: 'Care plan',
};

export const typeLabel = (type: string): string => TYPE_LABELS[type] ?? type;

export function titleOf(resource: Resource): string {
  const r = resource as Any;
  switch (r.resourceType) {
    case 'Patient':
      return nameOf(r);
    case 'MedicationRequest':
      return codeText(r.medicationCodeableConcept) ?? 'Medication';
    case 'Immunization':
      return codeText(r.vaccineCode) ?? 'Immunization';
    case 'Encounter':
      return codeText(r.type?.[0]) ?? codeText(r.class) ?? r.class?.code ?? 'Encounter';
    case 'DocumentReference':
      return r.description ?? codeText(r.type) ?? 'Document';
    default:
      return codeText(r.code) ?? r.resourceType;
  }
}

export function valueOf(resource: Resource): string | undefined {
  const r = resource as Any;
  if (r.valueQuantity) return `${r.valueQuantity.value} ${r.valueQuantity.unit ?? r.valueQuantity.code ?? ''}`.trim();
  if (r.component?.length)
    return r.component
      .map((c: Any) => (c.valueQuantity ? `${c.valueQuantity.value}` : ''))
      .filter(Boolean)
      .join('/')
      .concat(r.component[0]?.valueQuantity?.unit ? ` ${r.component[0].valueQuantity.unit}` : '');
  if (typeof r.valueString === 'string') return r.valueString;
  if (r.valueCodeableConcept) return codeText(r.valueCodeableConcept);
  if (r.clinicalStatus) return codeText(r.clinicalStatus);
  if (r.status) return String(r.status);
  return undefined;
}

export function nameOf(patient: Any): string {
  const name = patient.name?.[0];
  if (!name) return 'Unnamed patient';
  return name.text ?? [...(name.given ?? []), name.family].filter(Boolean).join(' ');
}

export const shortDate = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '—');
