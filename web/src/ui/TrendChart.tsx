/**
 * A line chart of one measure over time, drawn as SVG by hand (no chart library): points, the
 * reference range as a band, out-of-range points marked. The same values are in a table for
 * screen readers and for anyone who wants the numbers. Downsampled device streams pass points
 * with a min/max (drawn as a shaded spread around the mean line), times to the minute, and the
 * bucket length, so the line breaks where no samples arrived instead of bridging the gap.
 */
import type { ReactNode } from 'react';
import { outOfRange, type Measure, type Point } from './measures';

const W = 560;
const H = 200;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };

const fmtDay = (t: number) => new Date(t).toISOString().slice(0, 10);
const fmtMinute = (t: number) => new Date(t).toISOString().slice(0, 16).replace('T', ' ');

/** A point that stands for many samples (a downsampled bucket): value is their mean. */
export interface SpreadPoint extends Point {
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

const isSpread = (p: Point): p is SpreadPoint => 'min' in p && 'max' in p;

export function TrendChart({
  measure,
  points,
  withTime = false,
  gapMs,
  note,
}: {
  measure: Measure;
  points: readonly (Point | SpreadPoint)[];
  /** Show times (UTC, to the minute), not only dates. */
  withTime?: boolean;
  /** Consecutive points further apart than this are not joined. */
  gapMs?: number;
  /** A line under the chart (e.g. how many samples the points stand for). */
  note?: ReactNode;
}) {
  const id = `chart-${measure.key}`;
  if (points.length === 0) return null;
  const fmtDate = withTime ? fmtMinute : fmtDay;
  const spread = points.filter(isSpread);
  const values = points.map((p) => p.value);
  const { low, high } = measure.range ?? {};
  const lo = Math.min(...values, ...spread.map((p) => p.min), low ?? Infinity);
  const hi = Math.max(...values, ...spread.map((p) => p.max), high ?? -Infinity);
  const span = hi - lo || Math.abs(hi) || 1;
  const yMin = lo - span * 0.1;
  const yMax = hi + span * 0.1;
  const t0 = points[0]!.time;
  const t1 = points[points.length - 1]!.time;
  const x = (t: number) => PAD.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - yMin) / (yMax - yMin)) * (H - PAD.top - PAD.bottom);
  const latest = points[points.length - 1]!;
  const joined = (i: number) => i > 0 && (gapMs === undefined || points[i]!.time - points[i - 1]!.time <= gapMs);
  const line = points.map((p, i) => `${joined(i) ? 'L' : 'M'}${x(p.time).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  // One closed shape per unbroken run: along the maxima, back along the minima.
  const spreadPath = runsOf(points, joined)
    .map((run) => run.filter(isSpread))
    .filter((run) => run.length > 0)
    .map((run) => {
      const top = run.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.time).toFixed(1)},${y(p.max).toFixed(1)}`);
      const bottom = [...run].reverse().map((p) => `L${x(p.time).toFixed(1)},${y(p.min).toFixed(1)}`);
      return `${top.join(' ')} ${bottom.join(' ')} Z`;
    })
    .join(' ');
  const dense = points.length > 60;
  const bandTop = y(high ?? yMax);
  const bandBottom = y(low ?? yMin);
  const ticks = [yMin + (yMax - yMin) * 0.1, (yMin + yMax) / 2, yMax - (yMax - yMin) * 0.1];
  return (
    <figure className="chart" aria-labelledby={`${id}-title`} data-measure={measure.key} data-points={points.length}>
      <figcaption id={`${id}-title`}>
        <strong>{measure.label}</strong>{' '}
        <span className="latest">
          latest{isSpread(latest) && ' mean'} {latest.value.toFixed(measure.decimals)} {measure.unit} {withTime ? 'at' : 'on'}{' '}
          {fmtDate(latest.time)}
          {outOfRange(measure, latest.value) && <span className="flag"> (outside the reference range)</span>}
        </span>
        {measure.range && (
          <span className="range">
            {' '}
            · reference{' '}
            {low !== undefined && high !== undefined ? `${low}–${high}` : low !== undefined ? `≥ ${low}` : `≤ ${high}`}{' '}
            {measure.unit}
          </span>
        )}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${measure.label}: ${points.length} values, chart`}>
        {measure.range && (
          <rect
            className="band"
            x={PAD.left}
            width={W - PAD.left - PAD.right}
            y={bandTop}
            height={Math.max(0, bandBottom - bandTop)}
          />
        )}
        {ticks.map((v) => (
          <g key={v}>
            <line className="grid" x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} />
            <text className="tick" x={PAD.left - 6} y={y(v) + 4} textAnchor="end">
              {v.toFixed(measure.decimals)}
            </text>
          </g>
        ))}
        <text className="tick" x={PAD.left} y={H - 8}>
          {fmtDate(t0)}
        </text>
        <text className="tick" x={W - PAD.right} y={H - 8} textAnchor="end">
          {fmtDate(t1)}
        </text>
        {spreadPath && <path className="spread" d={spreadPath} />}
        <path className="line" d={line} />
        {points.map((p) => (
          <circle
            key={`${p.id}-${p.time}`}
            className={outOfRange(measure, p.value) ? 'point out' : 'point'}
            cx={x(p.time)}
            cy={y(p.value)}
            r={dense ? 2 : 3.5}
          >
            <title>
              {isSpread(p)
                ? `${fmtDate(p.time)}: mean ${p.value}, ${p.min}–${p.max} ${measure.unit} (${p.n} samples)`
                : `${fmtDate(p.time)}: ${p.value} ${measure.unit}`}
            </title>
          </circle>
        ))}
      </svg>
      {note && <p className="hint">{note}</p>}
      <details>
        <summary>Values as a table</summary>
        <table>
          <caption className="sr-only">{measure.label} values</caption>
          <thead>
            <tr>
              <th scope="col">{withTime ? 'From (UTC)' : 'Date'}</th>
              <th scope="col">
                {spread.length > 0 ? 'Mean' : 'Value'} ({measure.unit})
              </th>
              {spread.length > 0 && (
                <>
                  <th scope="col">Min</th>
                  <th scope="col">Max</th>
                  <th scope="col">Samples</th>
                </>
              )}
            </tr>
          </thead>
          <tbody>
            {[...points].reverse().map((p) => (
              <tr key={`${p.id}-${p.time}`}>
                <td>{fmtDate(p.time)}</td>
                <td>{p.value}</td>
                {isSpread(p) && (
                  <>
                    <td>{p.min}</td>
                    <td>{p.max}</td>
                    <td>{p.n}</td>
                  </>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** Consecutive points split where `joined(i)` says point i does not continue the line. */
function runsOf<P>(points: readonly P[], joined: (i: number) => boolean): P[][] {
  const runs: P[][] = [];
  points.forEach((p, i) => {
    if (joined(i)) runs[runs.length - 1]!.push(p);
    else runs.push([p]);
  });
  return runs;
}
