/**
 * Forms to record an Encounter, an Observation (vital signs; labs by LOINC code), a Condition,
 * an AllergyIntolerance, a MedicationRequest, an Immunization or a clinical note with an
 * attachment. Each builds a FHIR R4 resource and creates it; the node validates it and commits
 * it to the ledger before answering, so "saved" means committed.
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import type { Fhir, Resource } from '../api/fhir';
import { Busy, ErrorBox, Notice } from '../ui/feedback';
import { MEASURES } from '../ui/measures';

const KINDS = [
  'Observation',
  'Encounter',
  'Condition',
  'AllergyIntolerance',
  'MedicationRequest',
  'Immunization',
  'Note',
] as const;
type Kind = (typeof KINDS)[number];
const LABELS: Record<Kind, string> = {
  Observation: 'Vital sign or lab result',
  Encounter: 'Encounter',
  Condition: 'Problem (Condition)',
  AllergyIntolerance: 'Allergy',
  MedicationRequest: 'Prescription',
  Immunization: 'Immunization',
  Note: 'Clinical note',
};

const today = () => new Date().toISOString().slice(0, 10);
const text = (value: string) => ({ text: value });
const base64 = (value: string) => btoa(String.fromCharCode(...new TextEncoder().encode(value)));

function Field({ id, label, children }: { id: string; label: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
    </div>
  );
}

export function ChartForms({ fhir, patientId, onSaved }: { fhir: Fhir; patientId: string; onSaved: () => void }) {
  const [kind, setKind] = useState<Kind>('Observation');
  const [v, setV] = useState<Record<string, string>>({
    measure: 'weight',
    date: today(),
    encounterClass: 'AMB',
    criticality: 'low',
  });
  const [file, setFile] = useState<File>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState<string>();
  const set = (key: string) => (e: { target: { value: string } }) => setV((old) => ({ ...old, [key]: e.target.value }));
  const val = (key: string) => v[key] ?? '';
  const subject = { reference: `Patient/${patientId}` };
  const required = (key: string, what: string): string => {
    const value = val(key).trim();
    if (!value) throw new Error(`${what} is required.`);
    return value;
  };

  const build = async (): Promise<{ type: string; resource: Resource }> => {
    const date = val('date') || today();
    switch (kind) {
      case 'Observation': {
        const measure = MEASURES.find((m) => m.key === val('measure'))!;
        const value = Number(required('value', 'The value'));
        if (!Number.isFinite(value)) throw new Error('The value must be a number.');
        return {
          type: 'Observation',
          resource: {
            resourceType: 'Observation',
            status: 'final',
            category: [
              { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: measure.category }] },
            ],
            code: { coding: [{ system: 'http://loinc.org', code: measure.loinc, display: measure.label }], text: measure.label },
            subject,
            effectiveDateTime: new Date(`${date}T${new Date().toISOString().slice(11, 19)}Z`).toISOString(),
            valueQuantity: { value, unit: measure.unit, system: 'http://unitsofmeasure.org', code: measure.ucum },
            ...(measure.range && {
              referenceRange: [
                {
                  ...(measure.range.low !== undefined && {
                    low: {
                      value: measure.range.low,
                      unit: measure.unit,
                      system: 'http://unitsofmeasure.org',
                      code: measure.ucum,
                    },
                  }),
                  ...(measure.range.high !== undefined && {
                    high: {
                      value: measure.range.high,
                      unit: measure.unit,
                      system: 'http://unitsofmeasure.org',
                      code: measure.ucum,
                    },
                  }),
                },
              ],
            }),
          },
        };
      }
      case 'Encounter':
        return {
          type: 'Encounter',
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: val('encounterClass') },
            type: [text(required('what', 'The kind of visit'))],
            subject,
            period: { start: `${date}T09:00:00Z`, end: `${date}T09:30:00Z` },
            ...(val('reason') && { reasonCode: [text(val('reason'))] }),
          },
        };
      case 'Condition':
        return {
          type: 'Condition',
          resource: {
            resourceType: 'Condition',
            clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
            verificationStatus: {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
            },
            code: {
              ...(val('code') && { coding: [{ system: 'http://snomed.info/sct', code: val('code') }] }),
              text: required('what', 'The problem'),
            },
            subject,
            onsetDateTime: date,
            recordedDate: today(),
          },
        };
      case 'AllergyIntolerance':
        return {
          type: 'AllergyIntolerance',
          resource: {
            resourceType: 'AllergyIntolerance',
            clinicalStatus: {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }],
            },
            criticality: val('criticality'),
            code: text(required('what', 'The substance')),
            patient: subject,
            recordedDate: today(),
            ...(val('reaction') && { reaction: [{ manifestation: [text(val('reaction'))] }] }),
          },
        };
      case 'MedicationRequest':
        return {
          type: 'MedicationRequest',
          resource: {
            resourceType: 'MedicationRequest',
            status: 'active',
            intent: 'order',
            medicationCodeableConcept: {
              ...(val('code') && { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: val('code') }] }),
              text: required('what', 'The medication'),
            },
            subject,
            authoredOn: date,
            ...(val('dosage') && { dosageInstruction: [{ text: val('dosage') }] }),
          },
        };
      case 'Immunization':
        return {
          type: 'Immunization',
          resource: {
            resourceType: 'Immunization',
            status: 'completed',
            vaccineCode: {
              ...(val('code') && { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: val('code') }] }),
              text: required('what', 'The vaccine'),
            },
            patient: subject,
            occurrenceDateTime: date,
          },
        };
      case 'Note': {
        const title = required('what', 'The title');
        const body = required('note', 'The note');
        const content: unknown[] = [{ attachment: { contentType: 'text/plain; charset=utf-8', data: base64(body), title } }];
        if (file) {
          // The patient's attachment: the note can only attach a Binary of the same patient.
          const binary = await fhir.upload(file, subject.reference);
          content.push({
            attachment: {
              contentType: file.type || 'application/octet-stream',
              url: `Binary/${binary}`,
              title: file.name,
              size: file.size,
            },
          });
        }
        return {
          type: 'DocumentReference',
          resource: {
            resourceType: 'DocumentReference',
            status: 'current',
            type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
            subject,
            date: new Date().toISOString(),
            description: title,
            content,
          },
        };
      }
    }
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(undefined);
    try {
      const { type, resource } = await build();
      const created = await fhir.send('POST', type, resource);
      setSaved(`Saved ${type}/${created.id} — committed to the ledger.`);
      setV((old) => ({ measure: old['measure'] ?? 'weight', date: today(), encounterClass: 'AMB', criticality: 'low' }));
      setFile(undefined);
      onSaved();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="record-title" className="forms">
      <h2 id="record-title">Record</h2>
      <form onSubmit={(e) => void submit(e)}>
        <Field id="form-kind" label="What to record">
          <select id="form-kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {LABELS[k]}
              </option>
            ))}
          </select>
        </Field>
        <div className="row">
          {kind === 'Observation' ? (
            <>
              <Field id="form-measure" label="Measurement (LOINC)">
                <select id="form-measure" value={val('measure')} onChange={set('measure')}>
                  {MEASURES.map((m) => (
                    <option key={m.key} value={m.key}>
                      {m.label} ({m.loinc})
                    </option>
                  ))}
                </select>
              </Field>
              <Field id="form-value" label={`Value (${MEASURES.find((m) => m.key === val('measure'))?.unit ?? ''})`}>
                <input id="form-value" inputMode="decimal" value={val('value')} onChange={set('value')} />
              </Field>
            </>
          ) : (
            <Field id="form-what" label={kind === 'Note' ? 'Title' : kind === 'Encounter' ? 'Kind of visit' : 'What'}>
              <input id="form-what" value={val('what')} onChange={set('what')} />
            </Field>
          )}
          {['Condition', 'MedicationRequest', 'Immunization'].includes(kind) && (
            <Field
              id="form-code"
              label={
                kind === 'Condition'
                  ? 'SNOMED CT code (optional)'
                  : kind === 'Immunization'
                    ? 'CVX code (optional)'
                    : 'RxNorm code (optional)'
              }
            >
              <input id="form-code" value={val('code')} onChange={set('code')} />
            </Field>
          )}
          {kind !== 'Note' && kind !== 'AllergyIntolerance' && (
            <Field id="form-date" label="Date">
              <input id="form-date" type="date" value={val('date')} onChange={set('date')} />
            </Field>
          )}
        </div>
        {kind === 'Encounter' && (
          <div className="row">
            <Field id="form-class" label="Setting">
              <select id="form-class" value={val('encounterClass')} onChange={set('encounterClass')}>
                <option value="AMB">Ambulatory</option>
                <option value="EMER">Emergency</option>
                <option value="IMP">Inpatient</option>
              </select>
            </Field>
            <Field id="form-reason" label="Reason (optional)">
              <input id="form-reason" value={val('reason')} onChange={set('reason')} />
            </Field>
          </div>
        )}
        {kind === 'AllergyIntolerance' && (
          <div className="row">
            <Field id="form-criticality" label="Criticality">
              <select id="form-criticality" value={val('criticality')} onChange={set('criticality')}>
                <option value="low">Low</option>
                <option value="high">High</option>
                <option value="unable-to-assess">Unable to assess</option>
              </select>
            </Field>
            <Field id="form-reaction" label="Reaction (optional)">
              <input id="form-reaction" value={val('reaction')} onChange={set('reaction')} />
            </Field>
          </div>
        )}
        {kind === 'MedicationRequest' && (
          <Field id="form-dosage" label="Dosage instructions">
            <input id="form-dosage" value={val('dosage')} onChange={set('dosage')} />
          </Field>
        )}
        {kind === 'Note' && (
          <>
            <Field id="form-note" label="Note">
              <textarea id="form-note" rows={4} value={val('note')} onChange={set('note')} />
            </Field>
            <Field id="form-file" label="Attachment (optional, up to 20 MB)">
              <input id="form-file" type="file" onChange={(e) => setFile(e.target.files?.[0])} />
            </Field>
          </>
        )}
        <button type="submit" disabled={busy}>
          Save {LABELS[kind].toLowerCase()}
        </button>
      </form>
      {busy && <Busy label="Saving and committing to the ledger…" />}
      {error !== undefined && <ErrorBox error={error} />}
      {saved && <Notice>{saved}</Notice>}
    </section>
  );
}
