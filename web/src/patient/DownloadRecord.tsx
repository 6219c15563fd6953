/** Download my record: the FHIR Bundle ($everything) as a file, and a printable summary. */
import type { Resource } from '../api/fhir';
import { Busy, ErrorBox } from '../ui/feedback';
import { dateOf, nameOf, shortDate, titleOf, valueOf } from '../ui/resources';
import { usePatient } from './context';

const SECTIONS: [string, string][] = [
  ['Condition', 'Problems'],
  ['MedicationRequest', 'Medications'],
  ['AllergyIntolerance', 'Allergies'],
  ['Immunization', 'Immunizations'],
  ['Observation', 'Recent results'],
];

export function DownloadRecord() {
  const { record, session } = usePatient();
  if (record.error) return <ErrorBox error={record.error} onRetry={record.reload} />;
  if (!record.value) return <Busy label="Loading your record…" />;
  const resources = record.value;
  const patient = resources.find((r) => r.resourceType === 'Patient');
  const save = () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      timestamp: new Date().toISOString(),
      entry: resources.map((resource) => ({
        fullUrl: `${location.origin}/fhir/${resource.resourceType}/${resource.id}`,
        resource,
      })),
    };
    const url = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/fhir+json' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: `medledger-record-${session.patient}.json` });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const byType = (type: string): Resource[] =>
    resources.filter((r) => r.resourceType === type).sort((a, b) => (dateOf(b) ?? '').localeCompare(dateOf(a) ?? ''));
  return (
    <>
      <section aria-labelledby="download-title" className="no-print">
        <h2 id="download-title">Download my record</h2>
        <p>
          Your whole record ({resources.length} entries) as a FHIR R4 Bundle, the standard format other health apps and providers
          can read, or a printable summary.
        </p>
        <div className="actions">
          <button type="button" onClick={save}>
            Download FHIR Bundle (JSON)
          </button>
          <button type="button" className="secondary" onClick={() => window.print()}>
            Print summary
          </button>
        </div>
      </section>
      <article className="summary" aria-labelledby="summary-title">
        <h2 id="summary-title">Health summary{patient ? ` — ${nameOf(patient)}` : ''}</h2>
        {SECTIONS.map(([type, label]) => {
          const list = byType(type).slice(0, type === 'Observation' ? 15 : 50);
          return (
            <section key={type}>
              <h3>{label}</h3>
              {list.length === 0 ? (
                <p>None recorded.</p>
              ) : (
                <ul>
                  {list.map((r) => (
                    <li key={r.id}>
                      {shortDate(dateOf(r))} — {titleOf(r)}
                      {valueOf(r) ? `: ${valueOf(r)}` : ''}
                    </li>
                  ))}
                </ul>
              )}
            </section>
          );
        })}
      </article>
    </>
  );
}
