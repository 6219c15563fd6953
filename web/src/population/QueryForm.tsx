/** The analyst's question: purpose, what to count (with presets), the periods and the strata. */
import { useState, type FormEvent } from 'react';
import type { GroupBy, Interval, PopulationQuery, Purpose, QueryType } from '../api/health-data';

/** Codes worth a click; the demo data holds all of them (heart rate also from wearables). */
export const PRESETS: readonly { label: string; type: QueryType; code: string }[] = [
  { label: 'Diabetes mellitus type 2 (SNOMED CT 44054006)', type: 'Condition', code: 'http://snomed.info/sct|44054006' },
  { label: 'Hypertension (SNOMED CT 38341003)', type: 'Condition', code: 'http://snomed.info/sct|38341003' },
  { label: 'Asthma (SNOMED CT 195967001)', type: 'Condition', code: 'http://snomed.info/sct|195967001' },
  { label: 'Heart rate (LOINC 8867-4, with wearables)', type: 'Observation', code: 'http://loinc.org|8867-4' },
  { label: 'Systolic blood pressure (LOINC 8480-6)', type: 'Observation', code: 'http://loinc.org|8480-6' },
  { label: 'HbA1c (LOINC 4548-4)', type: 'Observation', code: 'http://loinc.org|4548-4' },
];
const OTHER = 'other';

const INTERVALS: readonly { value: Interval; label: string }[] = [
  { value: 'year', label: 'Year' },
  { value: 'quarter', label: 'Quarter' },
  { value: 'month', label: 'Month' },
  { value: 'week', label: 'Week' },
  { value: 'day', label: 'Day' },
];

const GROUPS: readonly { value: GroupBy; label: string }[] = [
  { value: 'ageBand', label: 'Age band' },
  { value: 'region', label: 'Region' },
  { value: 'sex', label: 'Sex' },
];

const nextYear = () => `${new Date().getUTCFullYear() + 1}-01-01`;

export function QueryForm({ busy, onRun }: { busy: boolean; onRun: (query: PopulationQuery) => void }) {
  const [purpose, setPurpose] = useState<Purpose>('HRESCH');
  const [preset, setPreset] = useState(PRESETS[0]!.code);
  const [type, setType] = useState<QueryType>(PRESETS[0]!.type);
  const [otherCode, setOtherCode] = useState('');
  const [interval, setEvery] = useState<Interval>('year');
  const [from, setFrom] = useState('2019-01-01');
  const [to, setTo] = useState(nextYear);
  const [groupBy, setGroupBy] = useState<GroupBy[]>([]);
  const [problem, setProblem] = useState<string>();

  const choosePreset = (value: string) => {
    setPreset(value);
    const chosen = PRESETS.find((p) => p.code === value);
    if (chosen) setType(chosen.type);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const code = preset === OTHER ? otherCode.trim() : preset;
    // The node checks all of this too; saying it here saves a logged query.
    if (!/^[^,\s]+$/.test(code)) return setProblem('Give one code, e.g. http://loinc.org|8867-4 (no spaces or commas).');
    if (!from || !to || Date.parse(from) >= Date.parse(to)) return setProblem('“From” must be a date before “To”.');
    setProblem(undefined);
    onRun({ purpose, type, code, interval, from, to, groupBy });
  };

  return (
    <form className="population-form" onSubmit={submit} noValidate>
      <fieldset className="segmented">
        <legend>Purpose (the patients’ opt-in consent)</legend>
        <label className="inline">
          <input type="radio" name="purpose" checked={purpose === 'HRESCH'} onChange={() => setPurpose('HRESCH')} />
          Research (HRESCH)
        </label>
        <label className="inline">
          <input type="radio" name="purpose" checked={purpose === 'PUBHLTH'} onChange={() => setPurpose('PUBHLTH')} />
          Public health (PUBHLTH)
        </label>
      </fieldset>
      <div className="row">
        <div>
          <label htmlFor="pop-code">What to count</label>
          <select id="pop-code" value={preset} onChange={(e) => choosePreset(e.target.value)}>
            {PRESETS.map((p) => (
              <option key={p.code} value={p.code}>
                {p.label}
              </option>
            ))}
            <option value={OTHER}>Another code…</option>
          </select>
        </div>
        <div>
          <label htmlFor="pop-type">Resource type</label>
          <select id="pop-type" value={type} onChange={(e) => setType(e.target.value as QueryType)}>
            <option value="Condition">Condition (onsets)</option>
            <option value="Observation">Observation (measurements)</option>
          </select>
        </div>
      </div>
      {preset === OTHER && (
        <>
          <label htmlFor="pop-other">Code (system|code)</label>
          <input
            id="pop-other"
            value={otherCode}
            placeholder="http://loinc.org|59408-5"
            onChange={(e) => setOtherCode(e.target.value)}
            autoComplete="off"
          />
        </>
      )}
      <div className="row">
        <div>
          <label htmlFor="pop-interval">Per</label>
          <select id="pop-interval" value={interval} onChange={(e) => setEvery(e.target.value as Interval)}>
            {INTERVALS.map((i) => (
              <option key={i.value} value={i.value}>
                {i.label}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="pop-from">From</label>
          <input id="pop-from" type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </div>
        <div>
          <label htmlFor="pop-to">To (not included)</label>
          <input id="pop-to" type="date" value={to} onChange={(e) => setTo(e.target.value)} />
        </div>
      </div>
      <fieldset className="segmented">
        <legend>Group by</legend>
        {GROUPS.map((g) => (
          <label key={g.value} className="inline">
            <input
              type="checkbox"
              checked={groupBy.includes(g.value)}
              onChange={(e) => setGroupBy((list) => (e.target.checked ? [...list, g.value] : list.filter((v) => v !== g.value)))}
            />
            {g.label}
          </label>
        ))}
      </fieldset>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Running…' : 'Run query'}
      </button>
    </form>
  );
}
