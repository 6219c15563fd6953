/**
 * A population answer over time as hand-drawn SVG (like TrendChart): periods along x, one line
 * per stratum. A suppressed cell (fewer than k patients) has no number to plot, so it is marked
 * on the axis with a hollow grey square instead, and the line breaks there rather than
 * bridging it. The numbers are in the table beside it (ResultTable).
 */
import type { Interval, PopulationAnswer, PopulationCell } from '../api/health-data';

export type Metric = 'patients' | 'ratePer1000' | 'mean';
export const METRICS: readonly { value: Metric; label: string }[] = [
  { value: 'patients', label: 'Patients' },
  { value: 'ratePer1000', label: 'Rate per 1,000 opted-in' },
  { value: 'mean', label: 'Mean value' },
];

const W = 640;
const H = 240;
const PAD = { left: 52, right: 28, top: 12, bottom: 30 };
/** Distinguishable colours (and dash patterns, for anyone who cannot tell them apart). */
const COLOURS = ['#0b4f7c', '#c2410c', '#1b6b34', '#7e22ce', '#a4161a', '#0f766e', '#854d0e', '#334155'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

export const stratumKey = (s: Readonly<Record<string, string>>) =>
  Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');

const GROUP_NAMES: Record<string, string> = { ageBand: 'age', region: 'region', sex: 'sex' };
export const stratumLabel = (s: Readonly<Record<string, string>>) =>
  Object.keys(s).length === 0
    ? 'Everyone opted in'
    : Object.entries(s)
        .map(([k, v]) => `${GROUP_NAMES[k] ?? k} ${v}`)
        .join(', ');

export function periodLabel(period: string, interval: Interval): string {
  const d = new Date(period);
  if (interval === 'year') return String(d.getUTCFullYear());
  if (interval === 'quarter') return `${d.getUTCFullYear()} Q${Math.floor(d.getUTCMonth() / 3) + 1}`;
  if (interval === 'month') return period.slice(0, 7);
  return period.slice(0, 10);
}

export function PopulationChart({ answer, metric }: { answer: PopulationAnswer; metric: Metric }) {
  const periods = [...new Set(answer.cells.map((c) => c.period))].sort();
  const strata = [...new Map(answer.cells.map((c) => [stratumKey(c.stratum), c.stratum])).entries()];
  const cellAt = new Map(answer.cells.map((c) => [`${c.period}|${stratumKey(c.stratum)}`, c]));
  const valueOf = (c: PopulationCell | undefined) => (c && !c.suppressed ? c[metric] : null);
  const values = answer.cells.map(valueOf).filter((v): v is number => v !== null);
  const metricLabel = METRICS.find((m) => m.value === metric)!.label;
  if (periods.length === 0) return null;

  const yMax = (Math.max(0, ...values) || 1) * 1.1;
  const x = (i: number) => PAD.left + (periods.length === 1 ? 0.5 : i / (periods.length - 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - v / yMax) * (H - PAD.top - PAD.bottom);
  const base = H - PAD.bottom;
  const ticks = [0, yMax / 2, yMax / 1.1];
  // At most about eight period labels, evenly spread.
  const every = Math.max(1, Math.ceil(periods.length / 8));
  const digits = metric === 'patients' ? 0 : 1;

  return (
    <figure className="chart population-chart" aria-labelledby="population-chart-title" data-metric={metric}>
      <figcaption id="population-chart-title">
        <strong>{metricLabel}</strong> per {answer.interval}
        {values.length === 0 && <span className="hint"> — no cell has a reportable value for this measure</span>}
      </figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${metricLabel} per ${answer.interval}, ${strata.length} ${strata.length === 1 ? 'line' : 'lines'}, ${answer.suppressedCells} suppressed cells marked on the axis`}
      >
        {ticks.map((v) => (
          <g key={v}>
            <line className="grid" x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} />
            <text className="tick" x={PAD.left - 6} y={y(v) + 4} textAnchor="end">
              {v.toFixed(digits)}
            </text>
          </g>
        ))}
        {periods.map(
          (p, i) =>
            (i % every === 0 || i === periods.length - 1) && (
              <text key={p} className="tick" x={x(i)} y={H - 10} textAnchor="middle">
                {periodLabel(p, answer.interval)}
              </text>
            ),
        )}
        {strata.map(([key], s) => {
          const colour = COLOURS[s % COLOURS.length]!;
          const dash = DASHES[Math.floor(s / COLOURS.length) % DASHES.length] || undefined;
          let d = '';
          let drawing = false;
          periods.forEach((p, i) => {
            const v = valueOf(cellAt.get(`${p}|${key}`));
            if (v === null) {
              drawing = false;
              return;
            }
            d += `${drawing ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
            drawing = true;
          });
          return (
            <g key={key} data-stratum={key}>
              <path d={d} fill="none" stroke={colour} strokeWidth={2} strokeDasharray={dash} />
              {periods.map((p, i) => {
                const cell = cellAt.get(`${p}|${key}`);
                if (!cell) return null;
                if (cell.suppressed)
                  return (
                    <rect key={p} className="suppressed-mark" x={x(i) - 4} y={base - 4 - s * 3} width={8} height={8}>
                      <title>{`${periodLabel(p, answer.interval)}, ${stratumLabel(cell.stratum)}: suppressed (fewer than ${answer.k})`}</title>
                    </rect>
                  );
                const v = cell[metric];
                return (
                  v !== null && (
                    <circle key={p} cx={x(i)} cy={y(v)} r={3.5} fill={colour}>
                      <title>{`${periodLabel(p, answer.interval)}, ${stratumLabel(cell.stratum)}: ${v}`}</title>
                    </circle>
                  )
                );
              })}
            </g>
          );
        })}
      </svg>
      <ul className="legend">
        {strata.map(([key, stratum], s) => (
          <li key={key}>
            <svg width="28" height="10" aria-hidden="true">
              <line
                x1="0"
                x2="28"
                y1="5"
                y2="5"
                stroke={COLOURS[s % COLOURS.length]}
                strokeWidth={3}
                strokeDasharray={DASHES[Math.floor(s / COLOURS.length) % DASHES.length] || undefined}
              />
            </svg>{' '}
            {stratumLabel(stratum)}
          </li>
        ))}
        {answer.suppressedCells > 0 && (
          <li>
            <svg width="28" height="10" aria-hidden="true">
              <rect className="suppressed-mark" x="10" y="1" width="8" height="8" />
            </svg>{' '}
            suppressed cell (fewer than {answer.k} patients)
          </li>
        )}
      </ul>
    </figure>
  );
}
