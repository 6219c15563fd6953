/** The whole record as a timeline, newest first, filterable by kind, with a detail view per entry. */
import { useState } from 'react';
import type { Resource } from '../api/fhir';
import { Link } from '../app/router';
import { Busy, ErrorBox } from '../ui/feedback';
import { ResourceDetail } from '../ui/ResourceDetail';
import { dateOf, shortDate, titleOf, typeLabel, valueOf } from '../ui/resources';
import { usePatient } from './context';

const PAGE = 100;

export function Timeline({
  resources,
  linkTo,
  onSelect,
}: {
  resources: readonly Resource[];
  linkTo?: (r: Resource) => string;
  onSelect?: (r: Resource) => void;
}) {
  const [type, setType] = useState('');
  const [shown, setShown] = useState(PAGE);
  const entries = resources
    .filter((r) => r.resourceType !== 'Patient' && (type === '' || r.resourceType === type))
    .sort((a, b) => (dateOf(b) ?? '').localeCompare(dateOf(a) ?? ''));
  const types = [...new Set(resources.map((r) => r.resourceType))].filter((t) => t !== 'Patient').sort();
  return (
    <>
      <div className="filters">
        <label htmlFor="timeline-type">Show</label>
        <select id="timeline-type" value={type} onChange={(e) => setType(e.target.value)}>
          <option value="">Everything ({resources.length - 1})</option>
          {types.map((t) => (
            <option key={t} value={t}>
              {typeLabel(t)}s
            </option>
          ))}
        </select>
      </div>
      <ol className="timeline" aria-label="Record entries, newest first">
        {entries.slice(0, shown).map((r) => (
          <li key={`${r.resourceType}/${r.id}`} className={`entry ${r.resourceType}`}>
            <time dateTime={dateOf(r)}>{shortDate(dateOf(r))}</time>
            <span className="kind">{typeLabel(r.resourceType)}</span>
            {linkTo ? (
              <Link to={linkTo(r)}>{titleOf(r)}</Link>
            ) : onSelect ? (
              <button type="button" className="link" onClick={() => onSelect(r)}>
                {titleOf(r)}
              </button>
            ) : (
              <span>{titleOf(r)}</span>
            )}
            {valueOf(r) && <span className="value">{valueOf(r)}</span>}
          </li>
        ))}
      </ol>
      {entries.length > shown && (
        <button type="button" className="secondary" onClick={() => setShown((n) => n + PAGE)}>
          Show more ({entries.length - shown} older)
        </button>
      )}
      {entries.length === 0 && <p>Nothing here yet.</p>}
    </>
  );
}

export function RecordTimeline() {
  const { record } = usePatient();
  if (record.error) return <ErrorBox error={record.error} onRetry={record.reload} />;
  if (!record.value) return <Busy label="Loading your record…" />;
  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      <Timeline resources={record.value} linkTo={(r) => `/patient/record/${r.resourceType}/${r.id}`} />
    </section>
  );
}

export function RecordDetail({ type, id }: { type: string; id: string }) {
  const { record } = usePatient();
  if (record.error) return <ErrorBox error={record.error} onRetry={record.reload} />;
  if (!record.value) return <Busy label="Loading your record…" />;
  const resource = record.value.find((r) => r.resourceType === type && r.id === id);
  return (
    <>
      <p>
        <Link to="/patient">← Back to the timeline</Link>
      </p>
      {resource ? <ResourceDetail resource={resource} /> : <p role="alert">This entry is not in your record (any more).</p>}
    </>
  );
}
