/**
 * Population health for analysts: an aggregate query over the patients who opted in (research or
 * public health), answered by this node — and, in a network, merged with the other custodians'
 * partials — with small cells suppressed. Every query is on the ledger as access events before
 * the answer arrives, which the page says before the analyst runs one.
 */
import { useState } from 'react';
import { SignedInAs } from '../auth/SignedInAs';
import { populationQuery, type PopulationAnswer, type PopulationQuery } from '../api/health-data';
import { ApiFailure } from '../api/http';
import type { Session } from '../auth/oauth';
import { SignInGate } from '../auth/SignInGate';
import { Busy, ErrorBox } from '../ui/feedback';
import { METRICS, PopulationChart, type Metric } from './PopulationChart';
import { QueryForm } from './QueryForm';
import { ResultTable } from './ResultTable';
import './population.css';

export default function PopulationDashboard() {
  return (
    <SignInGate role="clinician" title="Population health">
      {(session, signOut) => <Dashboard session={session} onSignOut={signOut} />}
    </SignInGate>
  );
}

type Run =
  { state: 'idle' } | { state: 'running' } | { state: 'done'; answer: PopulationAnswer } | { state: 'failed'; error: unknown };

function Dashboard({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [run, setRun] = useState<Run>({ state: 'idle' });
  const ask = (query: PopulationQuery) => {
    setRun({ state: 'running' });
    populationQuery(session, query).then(
      (answer) => setRun({ state: 'done', answer }),
      (error: unknown) => setRun({ state: 'failed', error }),
    );
  };
  return (
    <>
      <div className="area-head">
        <h1>Population health</h1>
        <SignedInAs subject={session.subject} onSignOut={onSignOut} />
      </div>
      <p className="lead">
        Counts, rates and means over time among the patients who opted in to research or public health. Only aggregates leave a
        node; cells of fewer than k patients are suppressed; each query is recorded on the ledger for every opted-in patient it
        used, and they see it in their access log.
      </p>
      <QueryForm busy={run.state === 'running'} onRun={ask} />
      <section aria-labelledby="result-title" aria-busy={run.state === 'running'}>
        <h2 id="result-title">Result</h2>
        {run.state === 'idle' && <p>Run a query to see its result.</p>}
        {run.state === 'running' && <Busy label="Running the query (it is logged on the ledger first)…" />}
        {run.state === 'failed' && <Failure error={run.error} subject={session.subject} />}
        {run.state === 'done' && <Answer answer={run.answer} />}
      </section>
    </>
  );
}

function Failure({ error, subject }: { error: unknown; subject: string }) {
  if (error instanceof ApiFailure && error.code === 'population.forbidden')
    return (
      <div className="error refusal" role="alert" data-testid="population-refused">
        <strong>Refused.</strong> {error.message}. Your account <code>{subject}</code> may not run population queries: they need
        the analyst role at this organization. Nothing was counted.
      </div>
    );
  return <ErrorBox error={error} />;
}

function Answer({ answer }: { answer: PopulationAnswer }) {
  const hasMeans = answer.cells.some((c) => c.mean !== null);
  const [metric, setMetric] = useState<Metric>('patients');
  const shown: Metric = metric === 'mean' && !hasMeans ? 'patients' : metric;
  const { answered, missing } = answer.custodians;
  return (
    <div className="population-answer" data-testid="population-answer">
      <dl className="facts">
        <div>
          <dt>Opted-in patients</dt>
          <dd data-testid="opted-in">{answer.optedIn ?? `fewer than ${answer.k} (withheld)`}</dd>
        </div>
        <div>
          <dt>Smallest reported cell (k)</dt>
          <dd>{answer.k}</dd>
        </div>
        <div>
          <dt>Suppressed cells</dt>
          <dd data-testid="suppressed-count">
            {answer.suppressedCells} of {answer.cells.length}
          </dd>
        </div>
        <div>
          <dt>Custodians answered</dt>
          <dd data-testid="custodians">
            {answered.length} of {answered.length + missing.length}
          </dd>
        </div>
        <div>
          <dt>Ledger height</dt>
          <dd>{answer.height}</dd>
        </div>
      </dl>
      <p className="hint">
        Answered by {answered.join(', ')}. {answer.suppression.charAt(0).toUpperCase() + answer.suppression.slice(1)}.
      </p>
      {missing.length > 0 && (
        <div className="error" role="alert" data-testid="incomplete">
          <strong>Incomplete:</strong> {missing.length === 1 ? 'one custodian' : `${missing.length} custodians`} did not answer,
          so their patients are not counted — {missing.map((m) => `${m.custodian} (${m.reason})`).join('; ')}.
        </div>
      )}
      {answer.cells.length === 0 ? (
        <p data-testid="no-cells">No opted-in patient had a matching event in this range.</p>
      ) : (
        <>
          <fieldset className="segmented">
            <legend>Show</legend>
            {METRICS.map((m) => (
              <label key={m.value} className="inline">
                <input
                  type="radio"
                  name="metric"
                  checked={shown === m.value}
                  disabled={m.value === 'mean' && !hasMeans}
                  onChange={() => setMetric(m.value)}
                />
                {m.label}
                {m.value === 'mean' && !hasMeans && ' (none reportable)'}
              </label>
            ))}
          </fieldset>
          <PopulationChart answer={answer} metric={shown} />
          <ResultTable answer={answer} />
        </>
      )}
    </div>
  );
}
