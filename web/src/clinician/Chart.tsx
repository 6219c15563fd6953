/**
 * A patient's chart: summary (problems, medications, allergies), vitals and labs with charts,
 * encounters, documents and the full timeline; forms to record and amend; emergency access when
 * the chart is hidden. It reloads when the patient's record changes on the ledger.
 */
import { lazy, Suspense, useCallback, useState } from 'react';
import type { Bundle, Fhir, Resource } from '../api/fhir';
import type { Session } from '../auth/oauth';
import { ApiFailure } from '../api/http';
import type { TxView } from '../api/ledger';
import { Link } from '../app/router';
import { TrendCharts } from '../patient/Trends';
import { Timeline } from '../patient/RecordTimeline';
import { Busy, ErrorBox, Notice } from '../ui/feedback';
import { ResourceDetail } from '../ui/ResourceDetail';
import { codeText, dateOf, nameOf, shortDate, titleOf } from '../ui/resources';
import { useAsync } from '../ui/useAsync';
import { useSubjectEvents } from '../ui/useSubjectEvents';
import { AmendForm } from './AmendForm';
import { BreakGlass } from './BreakGlass';
import { ChartForms } from './ChartForms';
import { pseudonymOf } from './pseudonym';

const DeviceStreams = lazy(() => import('../devices/DeviceStreams'));

type Any = Resource & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function List({ title, items, empty }: { title: string; items: Resource[]; empty: string }) {
  return (
    <section className="card" aria-label={title}>
      <h3>{title}</h3>
      {items.length === 0 ? (
        <p>{empty}</p>
      ) : (
        <ul>
          {items.map((r) => (
            <li key={r.id}>
              {titleOf(r)} <small>{shortDate(dateOf(r))}</small>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Documents({ fhir, docs }: { fhir: Fhir; docs: Any[] }) {
  const [error, setError] = useState<unknown>();
  const open = async (id: string, name: string, type: string) => {
    try {
      const blob = await fhir.download(id, type);
      const url = URL.createObjectURL(blob);
      Object.assign(document.createElement('a'), { href: url, download: name }).click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="docs-title">
      <h2 id="docs-title">Documents</h2>
      {error !== undefined && <ErrorBox error={error} />}
      {docs.length === 0 && <p>No documents.</p>}
      <ul className="docs">
        {docs.map((d) => {
          const note = d.content?.find((c: Any) => c.attachment?.data)?.attachment;
          const file = d.content?.find((c: Any) => c.attachment?.url?.startsWith('Binary/'))?.attachment;
          return (
            <li key={d.id}>
              <strong>{d.description ?? codeText(d.type) ?? 'Document'}</strong> <small>{shortDate(d.date)}</small>
              {note && <p className="note">{decodeText(note.data)}</p>}
              {file && (
                <button
                  type="button"
                  className="link"
                  onClick={() =>
                    void open(file.url.slice(7), file.title ?? 'attachment', file.contentType ?? 'application/octet-stream')
                  }
                >
                  Download {file.title ?? 'attachment'}
                </button>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function decodeText(base64: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  } catch {
    return '';
  }
}

export function Chart({ fhir, id, session }: { fhir: Fhir; id: string; session: Session }) {
  const me = session.subject;
  const chart = useAsync(async () => {
    const bundle = await fhir.get<Bundle>(`Patient/${encodeURIComponent(id)}/$everything`);
    return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  }, [fhir, id]);
  const pseudonym = useAsync(
    () => (chart.value ? pseudonymOf(fhir, session, id) : Promise.resolve(undefined)),
    [fhir, id, chart.value !== undefined],
  );
  const [update, setUpdate] = useState<string>();
  const [amending, setAmending] = useState<Resource>();
  const { reload } = chart;
  const onTx = useCallback(
    (tx: TxView) => {
      // Record changes and access decisions reload the chart; plain access-log entries (our own reads) do not.
      if (tx.tx.type === 'record.commit' || tx.tx.type.startsWith('consent.') || tx.tx.type.startsWith('erasure.')) {
        setUpdate(`The record changed on the ledger (block ${tx.height}); the chart is up to date.`);
        reload();
      }
    },
    [reload],
  );
  const live = useSubjectEvents(pseudonym.value, session, onTx);

  if (chart.error instanceof ApiFailure && chart.error.status === 404) {
    return (
      <>
        <p>
          <Link to="/clinician">← Patient search</Link>
        </p>
        <h1>Chart not available</h1>
        <p role="alert">
          You have no access to the chart of patient <code>{id}</code>: they have not shared it with you or your organization, or
          it does not exist. In an emergency you may open it; the patient and your privacy officer will see that you did.
        </p>
        <section aria-labelledby="request-title">
          <h2 id="request-title">Ask for access</h2>
          <p>
            Outside an emergency, ask the patient to share their record with you: in their MedLedger patient portal, under
            Sharing, “Another organization or one practitioner”, with your id <code>{me}</code>. Once their consent is on the
            ledger, open this chart again.
          </p>
        </section>
        <BreakGlass fhir={fhir} patientId={id} onOpened={chart.reload} />
      </>
    );
  }
  if (chart.error) return <ErrorBox error={chart.error} onRetry={chart.reload} />;
  if (!chart.value) return <Busy label="Loading the chart…" />;
  const all = chart.value as Any[];
  const patient = all.find((r) => r.resourceType === 'Patient');
  const of = (type: string) => all.filter((r) => r.resourceType === type);
  const active = (r: Any) => !r.clinicalStatus || codeText(r.clinicalStatus) === 'active';
  return (
    <>
      <p>
        <Link to="/clinician">← Patient search</Link>
      </p>
      <div className="area-head">
        <h1>{patient ? nameOf(patient) : `Patient ${id}`}</h1>
        <p className="meta">
          born {patient?.birthDate ?? '—'} · {patient?.gender ?? ''} · id <code>{id}</code> · live updates{' '}
          <span className={`live state-${pseudonym.value ? live : 'offline'}`}>{pseudonym.value ? live : 'unavailable'}</span>
        </p>
      </div>
      {update && <Notice>{update}</Notice>}
      <div className="cards">
        <List title="Problems" items={of('Condition').filter(active)} empty="No active problems." />
        <List
          title="Medications"
          items={of('MedicationRequest').filter((m) => m.status === 'active')}
          empty="No active medications."
        />
        <List title="Allergies" items={of('AllergyIntolerance')} empty="No known allergies." />
      </div>
      <section aria-labelledby="vitals-title">
        <h2 id="vitals-title">Vital signs</h2>
        <TrendCharts resources={all} only="vital-signs" />
      </section>
      <section aria-labelledby="labs-title">
        <h2 id="labs-title">Labs</h2>
        <TrendCharts resources={all} only="laboratory" />
      </section>
      <Suspense fallback={<Busy label="Loading device data…" />}>
        <DeviceStreams session={session} patient={id} title="Device data" />
      </Suspense>
      <ChartForms fhir={fhir} patientId={id} onSaved={chart.reload} />
      {amending && (
        <AmendForm
          fhir={fhir}
          resource={amending}
          onDone={() => {
            setAmending(undefined);
            chart.reload();
          }}
        />
      )}
      <section aria-labelledby="encounters-title">
        <h2 id="encounters-title">Encounters</h2>
        <ul className="encounters">
          {of('Encounter')
            .sort((a, b) => (dateOf(b) ?? '').localeCompare(dateOf(a) ?? ''))
            .slice(0, 20)
            .map((e) => (
              <li key={e.id}>
                {shortDate(dateOf(e))} — {titleOf(e)} {e.reasonCode?.[0] && <>· {codeText(e.reasonCode[0])}</>}
              </li>
            ))}
        </ul>
      </section>
      <Documents fhir={fhir} docs={of('DocumentReference')} />
      <section aria-labelledby="all-title">
        <h2 id="all-title">Full record</h2>
        <RecordWithAmend resources={all} onAmend={setAmending} />
      </section>
    </>
  );
}

function RecordWithAmend({ resources, onAmend }: { resources: Resource[]; onAmend: (r: Resource) => void }) {
  const [selected, setSelected] = useState<Resource>();
  return (
    <>
      <Timeline resources={resources} onSelect={setSelected} />
      {selected && (
        <div className="selected">
          <ResourceDetail resource={selected} />
          <button type="button" className="secondary" onClick={() => onAmend(selected)}>
            Amend this entry
          </button>
        </div>
      )}
    </>
  );
}
