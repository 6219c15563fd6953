/** Patient search over what this clinician may see (name, birth date, identifier), or open by id. */
import { useState, type FormEvent } from 'react';
import type { Fhir, Resource } from '../api/fhir';
import { Link, navigate } from '../app/router';
import { Busy, ErrorBox } from '../ui/feedback';
import { nameOf } from '../ui/resources';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function PatientSearch({ fhir }: { fhir: Fhir }) {
  const [name, setName] = useState('');
  const [birthDate, setBirthDate] = useState('');
  const [identifier, setIdentifier] = useState('');
  const [openId, setOpenId] = useState('');
  const [results, setResults] = useState<Resource[]>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const search = async (event: FormEvent) => {
    event.preventDefault();
    const params = new URLSearchParams({ _count: '25' });
    if (name.trim()) params.set('name', name.trim());
    if (birthDate) params.set('birthdate', birthDate);
    if (identifier.trim()) params.set('identifier', identifier.trim());
    setBusy(true);
    setError(undefined);
    try {
      setResults(await fhir.search(`Patient?${params.toString()}`));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1>Find a patient</h1>
      <form className="search" onSubmit={(e) => void search(e)} role="search" aria-label="Patients">
        <div className="row">
          <div>
            <label htmlFor="search-name">Name</label>
            <input id="search-name" value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
          </div>
          <div>
            <label htmlFor="search-birthdate">Birth date</label>
            <input id="search-birthdate" type="date" value={birthDate} onChange={(e) => setBirthDate(e.target.value)} />
          </div>
          <div>
            <label htmlFor="search-identifier">Identifier (MRN)</label>
            <input id="search-identifier" value={identifier} onChange={(e) => setIdentifier(e.target.value)} autoComplete="off" />
          </div>
        </div>
        <button type="submit" disabled={busy}>
          Search
        </button>
      </form>
      {busy && <Busy label="Searching…" />}
      {error !== undefined && <ErrorBox error={error} />}
      {results && (
        <section aria-labelledby="results-title">
          <h2 id="results-title">
            {results.length} patient{results.length === 1 ? '' : 's'} you may see
          </h2>
          <ul className="results">
            {(results as Any[]).map((p) => (
              <li key={p.id}>
                <Link to={`/clinician/patient/${p.id}`}>{nameOf(p)}</Link> · born {p.birthDate ?? '—'} · {p.gender ?? ''}
                {p.identifier?.[0]?.value && <> · MRN {p.identifier[0].value}</>}
              </li>
            ))}
          </ul>
          <p className="hint">
            Patients who have not shared their record with you are not listed; open their chart by id for emergency access.
          </p>
        </section>
      )}
      <form
        className="open-by-id"
        onSubmit={(e) => {
          e.preventDefault();
          if (/^[A-Za-z0-9\-.]{1,64}$/.test(openId.trim())) navigate(`/clinician/patient/${openId.trim()}`);
          else setError(new Error('A patient id has 1–64 letters, digits, "-" or "."'));
        }}
      >
        <label htmlFor="open-id">Open a chart by patient id</label>
        <input id="open-id" value={openId} onChange={(e) => setOpenId(e.target.value)} autoComplete="off" />
        <button type="submit" className="secondary">
          Open chart
        </button>
      </form>
    </>
  );
}
