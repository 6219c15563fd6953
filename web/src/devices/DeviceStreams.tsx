/**
 * A patient's wearable and home-device streams: the registered devices, then one chart per
 * measurement code with samples in the chosen range. The node downsamples (mean, min and max per
 * bucket), so a 30-day range is a few hundred points however many samples it holds. Each series
 * read is decided and logged on the ledger like a FHIR read of the device's Observations.
 * Lazily loaded by the patient portal and the clinician chart.
 */
import { useState } from 'react';
import { ApiFailure } from '../api/http';
import {
  deviceCodes,
  deviceSeries,
  patientDevices,
  type DeviceCodeInfo,
  type DeviceInfo,
  type DeviceSeries,
} from '../api/health-data';
import type { Session } from '../auth/oauth';
import { Busy, ErrorBox } from '../ui/feedback';
import { MEASURES, type Measure } from '../ui/measures';
import { TrendChart, type SpreadPoint } from '../ui/TrendChart';
import { useAsync } from '../ui/useAsync';

const HOUR = 3_600_000;

/** Bucket counts keep every range near 100–200 points: 15-minute, hourly and 4-hourly buckets. */
export const RANGES = [
  { key: '24h', label: '24 hours', ms: 24 * HOUR, points: 96 },
  { key: '7d', label: '7 days', ms: 7 * 24 * HOUR, points: 168 },
  { key: '30d', label: '30 days', ms: 30 * 24 * HOUR, points: 180 },
] as const;
type Range = (typeof RANGES)[number];

/** Shorter names and display units than the LOINC displays and UCUM codes. */
const NAMES: Record<string, { label: string; unit?: string; range?: Measure['range'] }> = {
  '59408-5': { label: 'Oxygen saturation (SpO2)', range: { low: 95 } },
  '55423-8': { label: 'Steps', unit: 'steps' },
  '2339-0': { label: 'Blood glucose' },
};

/** The chart's measure for a device code: the app's own vital sign when it has one (reference range). */
function measureOf(code: DeviceCodeInfo): Measure {
  const known = MEASURES.find((m) => m.loinc === code.code);
  const named = NAMES[code.code];
  const range = known?.range ?? named?.range;
  return {
    key: `device-${code.code}`,
    label: known?.label ?? named?.label ?? code.display,
    loinc: code.code,
    unit: known?.unit ?? named?.unit ?? code.unit,
    ucum: code.unit,
    category: 'vital-signs',
    decimals: 0,
    ...(range && { range }),
  };
}

const when = (t: number | null | undefined) =>
  t === null || t === undefined ? '—' : new Date(t).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

const bucketText = (ms: number) => (ms >= HOUR ? `${ms / HOUR}-hour` : `${Math.round(ms / 60_000)}-minute`);

export default function DeviceStreams({ session, patient, title }: { session: Session; patient: string; title: string }) {
  const devices = useAsync(() => patientDevices(session, patient), [session, patient]);
  return (
    <section aria-labelledby="devices-title" className="device-streams">
      <h2 id="devices-title">{title}</h2>
      {devices.error ? (
        <ErrorBox error={devices.error} onRetry={devices.reload} />
      ) : !devices.value ? (
        <Busy label="Loading devices…" />
      ) : devices.value.length === 0 ? (
        <p data-testid="no-devices">
          No wearable or home device is registered to this record, so there are no device streams to show.
        </p>
      ) : (
        <>
          <DeviceList devices={devices.value} />
          <Streams session={session} patient={patient} />
        </>
      )}
    </section>
  );
}

function DeviceList({ devices }: { devices: readonly DeviceInfo[] }) {
  return (
    <div className="table-scroll">
      <table className="log">
        <caption className="sr-only">Registered devices</caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Status</th>
            <th scope="col">Registered</th>
            <th scope="col">Batches</th>
            <th scope="col">Samples</th>
            <th scope="col">Last sample</th>
          </tr>
        </thead>
        <tbody>
          {devices.map((d) => (
            <tr key={d.id}>
              <td>
                <code>{d.id}</code>
              </td>
              <td>{d.status}</td>
              <td>
                block {d.registeredAt} by <code>{d.registeredBy}</code>
              </td>
              {/* Counts are absent when this reader may not see the device's data. */}
              <td>{d.batches ?? '—'}</td>
              <td>{d.samples?.toLocaleString('en') ?? '—'}</td>
              <td>{when(d.lastSample)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RangePicker({ range, onChange }: { range: Range; onChange: (r: Range) => void }) {
  return (
    <fieldset className="segmented">
      <legend>Range</legend>
      {RANGES.map((r) => (
        <label key={r.key} className="inline">
          <input type="radio" name="device-range" value={r.key} checked={r.key === range.key} onChange={() => onChange(r)} />
          Last {r.label}
        </label>
      ))}
    </fieldset>
  );
}

function Streams({ session, patient }: { session: Session; patient: string }) {
  const [range, setRange] = useState<Range>(RANGES[0]);
  const [refreshed, setRefreshed] = useState(0);
  const streams = useAsync(async () => {
    const codes = await deviceCodes();
    // Ranges end at the next whole hour, so hour-sized buckets need no widening by the node.
    const to = Math.ceil(Date.now() / HOUR) * HOUR;
    const from = to - range.ms;
    const series = await Promise.all(
      codes.map(async (code) => ({
        code,
        series: await deviceSeries(session, patient, { code: code.code, from, to, points: range.points }),
      })),
    );
    return { range, series };
  }, [session, patient, range, refreshed]);

  const refused = streams.error instanceof ApiFailure && streams.error.status === 403;
  return (
    <>
      <div className="row stream-controls">
        <RangePicker range={range} onChange={setRange} />
        <button type="button" className="secondary" onClick={() => setRefreshed((n) => n + 1)}>
          Refresh
        </button>
      </div>
      {refused ? (
        <p className="error" role="alert">
          You may not see this patient&apos;s device data: {(streams.error as ApiFailure).message}. The refusal is logged on the
          ledger.
        </p>
      ) : streams.error ? (
        <ErrorBox error={streams.error} onRetry={streams.reload} />
      ) : !streams.value ? (
        <Busy label={`Loading the last ${range.label} of device data…`} />
      ) : (
        <>
          {/* The previous range stays on screen while the next one loads. */}
          {streams.loading && <Busy label={`Loading the last ${range.label}…`} />}
          <StreamCharts label={streams.value.range.label} series={streams.value.series} />
        </>
      )}
    </>
  );
}

function StreamCharts({ label, series }: { label: string; series: readonly { code: DeviceCodeInfo; series: DeviceSeries }[] }) {
  const withData = series.filter((s) => s.series.samples > 0);
  const without = series.filter((s) => s.series.samples === 0).map((s) => measureOf(s.code).label);
  if (withData.length === 0)
    return (
      <p data-testid="no-samples">No samples in the last {label}. Choose a longer range, or check that the device is sending.</p>
    );
  return (
    <>
      <p className="hint">
        Each line is the mean of a time bucket; the shading around it runs from the bucket&apos;s lowest to its highest value.
        Times are UTC.
      </p>
      <div className="charts">
        {withData.map(({ code, series: s }) => {
          const points: SpreadPoint[] = s.points.map((b) => ({
            time: Date.parse(b.t),
            value: b.mean,
            min: b.min,
            max: b.max,
            n: b.n,
            id: code.code,
          }));
          return (
            <div key={code.code} className="stream" data-code={code.code} data-samples={s.samples}>
              <TrendChart
                measure={measureOf(code)}
                points={points}
                withTime
                gapMs={s.bucketMs * 1.5}
                note={`${s.samples.toLocaleString('en')} samples in ${points.length} ${bucketText(s.bucketMs)} buckets`}
              />
            </div>
          );
        })}
      </div>
      {without.length > 0 && (
        <p className="hint">
          No samples in the last {label}: {without.join(', ')}.
        </p>
      )}
    </>
  );
}
