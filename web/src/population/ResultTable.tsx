/** Every cell of a population answer as a table; suppressed cells say so instead of showing numbers. */
import type { PopulationAnswer } from '../api/health-data';
import { periodLabel, stratumKey, stratumLabel } from './PopulationChart';

const num = (v: number | null, digits = 0) => (v === null ? '—' : v.toLocaleString('en', { maximumFractionDigits: digits }));

export function ResultTable({ answer }: { answer: PopulationAnswer }) {
  return (
    <div className="table-scroll">
      <table className="log population-table">
        <caption className="sr-only">Population query result per period and stratum</caption>
        <thead>
          <tr>
            <th scope="col">Period</th>
            <th scope="col">Stratum</th>
            <th scope="col">Opted-in</th>
            <th scope="col">Patients</th>
            <th scope="col">Events</th>
            <th scope="col">Rate per 1,000</th>
            <th scope="col">Mean</th>
          </tr>
        </thead>
        <tbody>
          {answer.cells.map((c) => (
            <tr
              key={`${c.period}|${stratumKey(c.stratum)}`}
              className={c.suppressed ? 'suppressed' : undefined}
              data-suppressed={c.suppressed}
            >
              <td>{periodLabel(c.period, answer.interval)}</td>
              <td>{stratumLabel(c.stratum)}</td>
              {c.suppressed ? (
                <td colSpan={5}>
                  <span className="suppressed-label">Suppressed</span> — fewer than {answer.k} patients in this cell or stratum
                </td>
              ) : (
                <>
                  <td>{num(c.population)}</td>
                  <td>{num(c.patients)}</td>
                  <td>{num(c.events)}</td>
                  <td>{num(c.ratePer1000, 1)}</td>
                  {/* A mean needs values from at least k patients. */}
                  <td>{c.mean === null ? '—' : num(c.mean, 2)}</td>
                </>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
