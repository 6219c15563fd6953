/**
 * Who accessed my record: the node's AuditEvents (one per access event on the ledger), with
 * emergency (break-glass) access highlighted, and the break-glass openings themselves from the
 * ledger's transactions about the patient.
 */
import type { Resource } from '../api/fhir';
import { subjectTxs } from '../api/ledger';
import { Busy, ErrorBox } from '../ui/feedback';
import { useAsync } from '../ui/useAsync';
import { usePatient } from './context';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const when = (iso: string) => iso.slice(0, 19).replace('T', ' ');
const ACTIONS: Record<string, string> = {
  read: 'read',
  'search-type': 'search',
  'history-instance': 'history',
  operation: 'whole record',
};
const records = (n: number) => `${n} record${n === 1 ? '' : 's'}`;

export function AccessLog() {
  const { fhir, session } = usePatient();
  const events = useAsync(
    () =>
      fhir
        .search<Resource>('AuditEvent?_count=200')
        .then((list) => (list as Any[]).sort((a, b) => b.recorded.localeCompare(a.recorded))),
    [fhir],
  );
  const openings = useAsync(
    () => subjectTxs(session, session.subject, 100).then((txs) => txs.filter((t) => t.tx.type === 'access.break_glass')),
    [session.subject],
  );
  return (
    <>
      <section aria-labelledby="bg-title">
        <h2 id="bg-title">Emergency access</h2>
        {openings.error !== undefined && <ErrorBox error={openings.error} onRetry={openings.reload} />}
        {openings.value?.length === 0 && <p>No one has opened emergency access to your record.</p>}
        <ul className="breakglass">
          {openings.value?.map((t) => (
            <li key={t.hash} className="urgent">
              <strong>Break-glass</strong> by <code>{String(t.tx.body['practitioner'])}</code> — reason{' '}
              {String(t.tx.body['reason']).replace(/-/g, ' ')}, for {String(t.tx.body['minutes'])} minutes (block {t.height}). The
              organization reviews every emergency access.
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="log-title">
        <h2 id="log-title">Access log</h2>
        {events.error !== undefined && <ErrorBox error={events.error} onRetry={events.reload} />}
        {!events.value && !events.error && <Busy label="Loading the access log…" />}
        {events.value && (
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Access log table">
            <table className="log">
              <caption className="sr-only">Every access to your record, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                  <th scope="col">Basis</th>
                  <th scope="col">Outcome</th>
                </tr>
              </thead>
              <tbody>
                {events.value.map((e) => {
                  const emergency = e.purposeOfEvent?.[0]?.coding?.[0]?.code === 'ETREAT';
                  const who = e.agent?.[0]?.who?.identifier?.value ?? '?';
                  const policy: string = e.agent?.[0]?.policy?.[0] ?? '';
                  const permitted = e.outcome === '0';
                  const basis = !permitted
                    ? '—'
                    : emergency
                      ? 'emergency access'
                      : policy.includes('cns_')
                        ? 'your consent'
                        : who === session.subject
                          ? 'you'
                          : 'care relationship';
                  return (
                    <tr key={e.id} className={emergency ? 'urgent' : undefined} data-emergency={emergency || undefined}>
                      <td>{when(e.recorded)}</td>
                      <td>
                        <code>{who}</code>
                        {who === session.subject && ' (you)'}
                      </td>
                      <td>
                        {ACTIONS[e.subtype?.[0]?.code] ?? 'access'} · {records(Math.max(0, (e.entity?.length ?? 1) - 1))}
                      </td>
                      <td>{emergency ? <strong>Break-glass (emergency)</strong> : basis}</td>
                      <td>{permitted ? 'permitted' : <strong>refused</strong>}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
