/** Vitals and lab results over time, one chart per measure present in the record. */
import type { Resource } from '../api/fhir';
import { Busy, ErrorBox } from '../ui/feedback';
import { MEASURES, seriesOf } from '../ui/measures';
import { TrendChart } from '../ui/TrendChart';
import { usePatient } from './context';

export function TrendCharts({ resources, only }: { resources: readonly Resource[]; only?: 'vital-signs' | 'laboratory' }) {
  const charts = MEASURES.filter((m) => only === undefined || m.category === only)
    .map((m) => ({ m, points: seriesOf(resources, m) }))
    .filter((c) => c.points.length > 0);
  if (charts.length === 0) return <p>No measurements yet.</p>;
  return (
    <div className="charts">
      {charts.map(({ m, points }) => (
        <TrendChart key={m.key} measure={m} points={points} />
      ))}
    </div>
  );
}

export function Trends() {
  const { record } = usePatient();
  if (record.error) return <ErrorBox error={record.error} onRetry={record.reload} />;
  if (!record.value) return <Busy label="Loading your record…" />;
  return (
    <>
      <section aria-labelledby="vitals-title">
        <h2 id="vitals-title">Vital signs</h2>
        <TrendCharts resources={record.value} only="vital-signs" />
      </section>
      <section aria-labelledby="labs-title">
        <h2 id="labs-title">Lab results</h2>
        <TrendCharts resources={record.value} only="laboratory" />
      </section>
    </>
  );
}
