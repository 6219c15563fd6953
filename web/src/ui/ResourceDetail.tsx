/** One resource in detail: the fields people read, then the FHIR JSON for the curious. */
import type { Resource } from '../api/fhir';
import { codeText, dateOf, shortDate, titleOf, typeLabel, valueOf } from './resources';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function ResourceDetail({ resource }: { resource: Resource }) {
  const r = resource as Any;
  const rows: [string, string | undefined][] = [
    ['Kind', typeLabel(r.resourceType)],
    ['What', titleOf(resource)],
    ['Value', valueOf(resource)],
    ['Date', shortDate(dateOf(resource))],
    ['Status', r.status ?? codeText(r.clinicalStatus)],
    ['Category', codeText(r.category?.[0] ?? r.category)],
    [
      'Reference range',
      r.referenceRange?.[0] ? `${r.referenceRange[0].low?.value ?? '–'}–${r.referenceRange[0].high?.value ?? '–'}` : undefined,
    ],
    ['Dosage', r.dosageInstruction?.[0]?.text],
    ['Reaction', codeText(r.reaction?.[0]?.manifestation?.[0])],
    ['Note', r.note?.[0]?.text],
    ['Recorded by', r.recorder?.display ?? r.requester?.display ?? r.performer?.[0]?.display ?? r.author?.[0]?.display],
    ['Version', r.meta?.versionId],
    ['Last updated', r.meta?.lastUpdated],
  ];
  return (
    <article className="detail" aria-labelledby="detail-title">
      <h2 id="detail-title">{titleOf(resource)}</h2>
      <dl>
        {rows
          .filter(([, v]) => v !== undefined && v !== '')
          .map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
      </dl>
      <details>
        <summary>FHIR resource</summary>
        <pre className="json">{JSON.stringify(resource, null, 2)}</pre>
      </details>
    </article>
  );
}
