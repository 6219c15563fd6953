/**
 * Sharing: consents the patient signs in this browser (consent.grant / consent.revoke, with their
 * own key) and submits to the ledger; the list comes back from the node as FHIR Consent.
 */
import { useState, type FormEvent } from 'react';
import type { Resource } from '../api/fhir';
import { Busy, ErrorBox, Notice } from '../ui/feedback';
import { useAsync } from '../ui/useAsync';
import { grantTypes, randomPseudonym } from '../sdk';
import { usePatient } from './context';
import { signAndSubmit } from './keyring';
import { Unlock } from './KeySetup';

const TYPES = [
  'Observation',
  'Condition',
  'MedicationRequest',
  'AllergyIntolerance',
  'Immunization',
  'Encounter',
  'Procedure',
  'DiagnosticReport',
  'DocumentReference',
  'CarePlan',
];
const PURPOSES = [
  { code: 'TREAT', label: 'Treatment' },
  { code: 'HRESCH', label: 'Research' },
  { code: 'PUBHLTH', label: 'Public health' },
];
const GRANTEE = /^(?:org|prac)_[a-z0-9][a-z0-9-]{0,39}$/;

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Grant {
  id: string;
  status: string;
  grantee: string;
  purpose: string;
  types?: string[];
  until?: string;
  granted: string;
}

function grantOf(c: Any): Grant {
  return {
    id: c.identifier?.[0]?.value ?? c.id,
    status: c.status,
    grantee: c.provision?.actor?.[0]?.reference?.identifier?.value ?? 'unknown',
    purpose: c.provision?.purpose?.[0]?.code ?? '',
    ...(c.provision?.class && { types: c.provision.class.map((k: Any) => k.code) }),
    ...(c.provision?.period?.end && { until: c.provision.period.end }),
    granted: c.dateTime,
  };
}

export function Sharing() {
  const { fhir, keys, session, organization } = usePatient();
  const consents = useAsync(() => fhir.search<Resource>('Consent?_count=100').then((list) => list.map(grantOf)), [fhir]);
  const [target, setTarget] = useState<'org' | 'other'>('org');
  const [other, setOther] = useState('');
  const [types, setTypes] = useState<string[]>([]);
  const [purpose, setPurpose] = useState('TREAT');
  const [until, setUntil] = useState('');
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string>();

  const run = async (label: string, action: () => Promise<string>) => {
    setBusy(label);
    setError(undefined);
    setDone(undefined);
    try {
      setDone(await action());
      consents.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(undefined);
    }
  };

  const grant = (event: FormEvent) => {
    event.preventDefault();
    if (keys.kind !== 'unlocked') return;
    const grantee = target === 'org' ? organization?.id : other.trim();
    void run('Signing the consent on this device and committing it to the ledger…', async () => {
      if (!grantee || !GRANTEE.test(grantee))
        throw new Error('Name an organization (org_…) or a practitioner (prac_…) to share with.');
      const end = until === '' ? undefined : Date.parse(`${until}T23:59:59Z`);
      if (end !== undefined && (Number.isNaN(end) || end <= Date.now())) throw new Error('The end date must be in the future.');
      const id = randomPseudonym('cns');
      const receipt = await signAndSubmit(session, keys.signer, {
        type: 'consent.grant',
        body: {
          id,
          patient: session.subject,
          grantee,
          purpose: purpose as 'TREAT',
          ...(types.length > 0 && { types: grantTypes(types) }),
          ...(end !== undefined && { until: end }),
        },
      });
      return `Shared with ${grantee}. Consent ${id} is on the ledger (block ${receipt.height}); its proof checked out in this browser.`;
    });
  };

  const revoke = (id: string) => {
    if (keys.kind !== 'unlocked') return;
    void run('Signing the revocation and committing it…', async () => {
      const receipt = await signAndSubmit(session, keys.signer, { type: 'consent.revoke', body: { id } });
      return `Consent ${id} is revoked (block ${receipt.height}).`;
    });
  };

  const active = consents.value?.filter((c) => c.status === 'active') ?? [];
  const ended = consents.value?.filter((c) => c.status !== 'active') ?? [];
  return (
    <>
      <section aria-labelledby="share-title">
        <h2 id="share-title">Share my record</h2>
        {keys.kind !== 'unlocked' ? (
          <Unlock purpose="share your record" />
        ) : (
          <form onSubmit={grant} className="grant">
            <fieldset>
              <legend>With whom</legend>
              <label className="inline">
                <input type="radio" name="target" checked={target === 'org'} onChange={() => setTarget('org')} />
                {organization?.name ?? 'This organization'} <code>{organization?.id}</code>
              </label>
              <label className="inline">
                <input type="radio" name="target" checked={target === 'other'} onChange={() => setTarget('other')} />
                Another organization or one practitioner
              </label>
              {target === 'other' && (
                <>
                  <label htmlFor="grantee">Their MedLedger id (org_… or prac_…)</label>
                  <input
                    id="grantee"
                    value={other}
                    onChange={(e) => setOther(e.target.value)}
                    spellCheck={false}
                    autoCapitalize="none"
                  />
                </>
              )}
            </fieldset>
            <fieldset>
              <legend>What (none ticked: the whole record)</legend>
              <div className="checks">
                {TYPES.map((t) => (
                  <label key={t} className="inline">
                    <input
                      type="checkbox"
                      checked={types.includes(t)}
                      onChange={(e) => setTypes((list) => (e.target.checked ? [...list, t] : list.filter((x) => x !== t)))}
                    />
                    {t}
                  </label>
                ))}
              </div>
            </fieldset>
            <label htmlFor="purpose">Purpose</label>
            <select id="purpose" value={purpose} onChange={(e) => setPurpose(e.target.value)}>
              {PURPOSES.map((p) => (
                <option key={p.code} value={p.code}>
                  {p.label}
                </option>
              ))}
            </select>
            <label htmlFor="until">Until (optional; empty: until you revoke it)</label>
            <input id="until" type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
            <button type="submit" disabled={busy !== undefined}>
              Sign and share
            </button>
          </form>
        )}
        {busy && <Busy label={busy} />}
        {error !== undefined && <ErrorBox error={error} />}
        {done && <Notice>{done}</Notice>}
      </section>
      <section aria-labelledby="grants-title">
        <h2 id="grants-title">Active grants</h2>
        {consents.error !== undefined && <ErrorBox error={consents.error} onRetry={consents.reload} />}
        {!consents.value && !consents.error && <Busy label="Loading your consents…" />}
        {consents.value && active.length === 0 && <p>You are not sharing your record with anyone.</p>}
        <ul className="grants">
          {active.map((c) => (
            <li key={c.id} data-consent={c.id}>
              <div>
                <strong>{c.grantee}</strong> · {PURPOSES.find((p) => p.code === c.purpose)?.label ?? c.purpose} ·{' '}
                {c.types ? c.types.join(', ') : 'whole record'} · {c.until ? `until ${c.until.slice(0, 10)}` : 'until revoked'}
                <br />
                <small>
                  <code>{c.id}</code> granted {c.granted?.slice(0, 16).replace('T', ' ')}
                </small>
              </div>
              {keys.kind === 'unlocked' && (
                <button type="button" className="danger" onClick={() => revoke(c.id)} disabled={busy !== undefined}>
                  Revoke<span className="sr-only"> the grant to {c.grantee}</span>
                </button>
              )}
            </li>
          ))}
        </ul>
        {ended.length > 0 && (
          <details>
            <summary>Ended or revoked ({ended.length})</summary>
            <ul>
              {ended.map((c) => (
                <li key={c.id}>
                  {c.grantee} · <code>{c.id}</code> · {c.status}
                </li>
              ))}
            </ul>
          </details>
        )}
      </section>
    </>
  );
}
