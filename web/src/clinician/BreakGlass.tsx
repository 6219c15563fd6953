/** Emergency access with a coded reason and a written justification (POST Patient/{id}/$break-glass). */
import { useState, type FormEvent } from 'react';
import type { Fhir } from '../api/fhir';
import { Busy, ErrorBox } from '../ui/feedback';

const REASONS = [
  { code: 'emergency-treatment', label: 'Emergency treatment' },
  { code: 'patient-unable-to-consent', label: 'Patient unable to consent' },
  { code: 'imminent-risk', label: 'Imminent risk to the patient or others' },
  { code: 'other', label: 'Other' },
];

export function BreakGlass({ fhir, patientId, onOpened }: { fhir: Fhir; patientId: string; onOpened: () => void }) {
  const [reason, setReason] = useState('emergency-treatment');
  const [justification, setJustification] = useState('');
  const [minutes, setMinutes] = useState(60);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (justification.trim().length < 10) {
      setError(new Error('Write a justification of at least 10 characters.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await fhir.send('POST', `Patient/${encodeURIComponent(patientId)}/$break-glass`, {
        resourceType: 'Parameters',
        parameter: [
          { name: 'reason', valueCode: reason },
          { name: 'justification', valueString: justification.trim() },
          { name: 'minutes', valueInteger: minutes },
        ],
      });
      onOpened();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="breakglass-form" onSubmit={(e) => void submit(e)} aria-labelledby="bg-form-title">
      <h2 id="bg-form-title">Emergency access (break-glass)</h2>
      <label htmlFor="bg-reason">Reason</label>
      <select id="bg-reason" value={reason} onChange={(e) => setReason(e.target.value)}>
        {REASONS.map((r) => (
          <option key={r.code} value={r.code}>
            {r.label}
          </option>
        ))}
      </select>
      <label htmlFor="bg-justification">Justification (kept encrypted at your organization; reviewed)</label>
      <textarea
        id="bg-justification"
        rows={3}
        value={justification}
        onChange={(e) => setJustification(e.target.value)}
        required
      />
      <label htmlFor="bg-minutes">For how long (minutes, at most 240)</label>
      <input
        id="bg-minutes"
        type="number"
        min={1}
        max={240}
        value={minutes}
        onChange={(e) => setMinutes(Number(e.target.value))}
      />
      <button type="submit" className="danger" disabled={busy}>
        Open emergency access
      </button>
      {busy && <Busy label="Recording the emergency access on the ledger…" />}
      {error !== undefined && <ErrorBox error={error} />}
    </form>
  );
}
