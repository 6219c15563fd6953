/**
 * Population statistics as mergeable partial results (pure).
 *
 * Each custodian turns the facts of ITS opted-in patients into a `PopulationPartial`: per stratum
 * (age band, region, sex — whichever the query groups by) the number of opted-in patients, and per
 * (period, stratum) cell the patients with at least one event, the events, and the exact sum of
 * the values (integer micro-units, so merging is exact, associative and commutative). Partials
 * from several custodians are merged by adding; small-cell suppression (k) is applied only to the
 * merged result, in `finalize`, since a cell that is small at one custodian may not be in total.
 *
 * Counting across custodians adds patients: one person with records at two custodians counts
 * twice (custodians do not share identities; only aggregates leave a node).
 */

export const AGE_BANDS = ['0-17', '18-39', '40-64', '65+'] as const;
export type AgeBand = (typeof AGE_BANDS)[number] | 'unknown';
export const INTERVALS = ['year', 'quarter', 'month', 'week', 'day'] as const;
export type Interval = (typeof INTERVALS)[number];
export const GROUP_BY = ['ageBand', 'region', 'sex'] as const;
export type GroupBy = (typeof GROUP_BY)[number];
/** Smallest cell reported; smaller ones are suppressed. */
export const DEFAULT_K = 10;

export interface AggregateSpec {
  readonly interval: Interval;
  /** Events counted in [from, to), ms since the epoch. */
  readonly from: number;
  readonly to: number;
  readonly groupBy: readonly GroupBy[];
  /** The date ages are computed at. */
  readonly asOf: number;
}

/** What a custodian knows about one opted-in patient, reduced to what a query needs. */
export interface PatientFacts {
  /** FHIR birthDate (YYYY, YYYY-MM or YYYY-MM-DD). */
  readonly birthDate?: string;
  readonly region?: string;
  readonly sex?: string;
  /** Matching events: their time and, for observations, their numeric value. */
  readonly events: readonly { readonly t: number; readonly value?: number }[];
  /**
   * Pre-aggregated values per UTC day (device samples, too many to list one by one): the day's
   * start, the number of values in [from, to) and their sum in micro-units. Every interval is a
   * union of UTC days, so this is exact.
   */
  readonly daily?: readonly { readonly day: number; readonly n: number; readonly sumMicros: bigint }[];
}

export interface PartialCell {
  readonly patients: number;
  readonly events: number;
  /** Patients contributing values, values counted and their sum in micro-units (decimal string of an integer). */
  readonly valuePatients: number;
  readonly values: number;
  readonly sumMicros: string;
}

/** JSON-safe and mergeable: what one custodian contributes. */
export interface PopulationPartial {
  readonly v: 1;
  /** Opted-in patients per stratum key. */
  readonly strata: Readonly<Record<string, number>>;
  /** Per `${periodStart ISO}|${stratum key}`. */
  readonly cells: Readonly<Record<string, PartialCell>>;
}

export const EMPTY_PARTIAL: PopulationPartial = { v: 1, strata: {}, cells: {} };

export function ageBand(birthDate: string | undefined, asOf: number): AgeBand {
  const match = birthDate === undefined ? null : /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(birthDate);
  if (!match) return 'unknown';
  const at = new Date(asOf);
  const [y, m, d] = [Number(match[1]), Number(match[2] ?? 1), Number(match[3] ?? 1)];
  let age = at.getUTCFullYear() - y;
  if (at.getUTCMonth() + 1 < m || (at.getUTCMonth() + 1 === m && at.getUTCDate() < d)) age -= 1;
  if (age < 0) return 'unknown';
  return age < 18 ? '0-17' : age < 40 ? '18-39' : age < 65 ? '40-64' : '65+';
}

/** Start of the UTC calendar period holding `t` (weeks start on Monday). */
export function periodStart(t: number, interval: Interval): number {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (interval) {
    case 'year':
      return Date.UTC(y, 0, 1);
    case 'quarter':
      return Date.UTC(y, m - (m % 3), 1);
    case 'month':
      return Date.UTC(y, m, 1);
    case 'week': {
      const day = Date.UTC(y, m, d.getUTCDate());
      return day - ((d.getUTCDay() + 6) % 7) * 86_400_000;
    }
    case 'day':
      return Date.UTC(y, m, d.getUTCDate());
  }
}

function stratumOf(spec: AggregateSpec, p: PatientFacts): string {
  const parts: string[] = [];
  for (const g of GROUP_BY) {
    if (!spec.groupBy.includes(g)) continue;
    const value = g === 'ageBand' ? ageBand(p.birthDate, spec.asOf) : ((g === 'region' ? p.region : p.sex) ?? 'unknown');
    parts.push(`${g}=${value.replaceAll('|', '/').replaceAll(';', ',')}`);
  }
  return parts.join(';');
}

const toMicros = (value: number): bigint => BigInt(Math.round(value * 1e6));

/** A cell while it is being added up: the sum as a bigint, exact. */
interface CellSum {
  patients: number;
  events: number;
  valuePatients: number;
  values: number;
  sum: bigint;
}

const emptyCell = (): CellSum => ({ patients: 0, events: 0, valuePatients: 0, values: 0, sum: 0n });

/** The JSON-safe partial of added-up strata and cells, keys sorted so equal partials serialize equally. */
function partialOf(strata: Readonly<Record<string, number>>, cells: ReadonlyMap<string, CellSum>): PopulationPartial {
  const out: Record<string, PartialCell> = {};
  for (const key of [...cells.keys()].sort()) {
    const { sum, ...counts } = cells.get(key)!;
    out[key] = { ...counts, sumMicros: sum.toString() };
  }
  return { v: 1, strata: sortedRecord(strata), cells: out };
}

/** One custodian's contribution from its opted-in patients. */
export function computePartial(spec: AggregateSpec, patients: readonly PatientFacts[]): PopulationPartial {
  const strata: Record<string, number> = {};
  const cells = new Map<string, CellSum>();
  for (const p of patients) {
    const stratum = stratumOf(spec, p);
    strata[stratum] = (strata[stratum] ?? 0) + 1;
    const seen = new Set<string>();
    const valued = new Set<string>();
    for (const e of p.events) {
      if (e.t < spec.from || e.t >= spec.to) continue;
      const key = `${new Date(periodStart(e.t, spec.interval)).toISOString()}|${stratum}`;
      const cell = cells.get(key) ?? emptyCell();
      if (!seen.has(key)) {
        seen.add(key);
        cell.patients += 1;
      }
      cell.events += 1;
      if (e.value !== undefined && Number.isFinite(e.value)) {
        if (!valued.has(key)) {
          valued.add(key);
          cell.valuePatients += 1;
        }
        cell.values += 1;
        cell.sum += toMicros(e.value);
      }
      cells.set(key, cell);
    }
    for (const d of p.daily ?? []) {
      if (d.n === 0) continue;
      const key = `${new Date(periodStart(d.day, spec.interval)).toISOString()}|${stratum}`;
      const cell = cells.get(key) ?? emptyCell();
      if (!seen.has(key)) {
        seen.add(key);
        cell.patients += 1;
      }
      if (!valued.has(key)) {
        valued.add(key);
        cell.valuePatients += 1;
      }
      cell.events += d.n;
      cell.values += d.n;
      cell.sum += d.sumMicros;
      cells.set(key, cell);
    }
  }
  return partialOf(strata, cells);
}

function sortedRecord<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key]!;
  return out;
}

/** Adds partials (from custodians holding different patients). Exact, associative, commutative. */
export function mergePartials(...partials: readonly PopulationPartial[]): PopulationPartial {
  const strata: Record<string, number> = {};
  const cells = new Map<string, CellSum>();
  for (const p of partials) {
    for (const [key, n] of Object.entries(p.strata)) strata[key] = (strata[key] ?? 0) + n;
    for (const [key, c] of Object.entries(p.cells)) {
      const into = cells.get(key) ?? emptyCell();
      cells.set(key, into);
      into.patients += c.patients;
      into.events += c.events;
      into.valuePatients += c.valuePatients;
      into.values += c.values;
      into.sum += BigInt(c.sumMicros);
    }
  }
  return partialOf(strata, cells);
}

/** A reported cell; counts below k are null and the cell is marked suppressed. */
export interface ResultCell {
  readonly period: string;
  readonly stratum: Readonly<Record<string, string>>;
  /** Opted-in patients in the stratum (the rate's denominator). */
  readonly population: number | null;
  /** Patients with at least one event in the period. */
  readonly patients: number | null;
  readonly events: number | null;
  /** Patients with an event per 1,000 opted-in patients of the stratum. */
  readonly ratePer1000: number | null;
  /** Mean value of the events (observations), when at least k patients contributed values. */
  readonly mean: number | null;
  readonly suppressed: boolean;
}

export interface PopulationResult {
  readonly k: number;
  readonly optedIn: number | null;
  readonly cells: readonly ResultCell[];
  readonly suppressedCells: number;
}

function parseStratum(key: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (key === '') return out;
  for (const part of key.split(';')) {
    const eq = part.indexOf('=');
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/**
 * The publishable result of a merged partial: every count under k is withheld (null), a cell with
 * fewer than k patients or a stratum with fewer than k opted-in patients is marked suppressed and
 * shows no numbers at all (so a rate cannot be back-computed from a small denominator).
 */
export function finalize(partial: PopulationPartial, k = DEFAULT_K): PopulationResult {
  const cells: ResultCell[] = [];
  let suppressedCells = 0;
  for (const [key, c] of Object.entries(partial.cells)) {
    const bar = key.indexOf('|');
    const stratumKey = key.slice(bar + 1);
    const population = partial.strata[stratumKey] ?? 0;
    const suppressed = c.patients < k || population < k;
    if (suppressed) suppressedCells += 1;
    // A mean is reported only when at least k patients contributed values to it.
    const meanOk = !suppressed && c.valuePatients >= k;
    cells.push({
      period: key.slice(0, bar),
      stratum: parseStratum(stratumKey),
      population: suppressed ? null : population,
      patients: suppressed ? null : c.patients,
      events: suppressed ? null : c.events,
      ratePer1000: suppressed ? null : Math.round((c.patients / population) * 1_000_000) / 1000,
      mean: meanOk ? Number(BigInt(c.sumMicros) / BigInt(c.values)) / 1e6 : null,
      suppressed,
    });
  }
  const total = Object.values(partial.strata).reduce((a, b) => a + b, 0);
  return { k, optedIn: total >= k ? total : null, cells, suppressedCells };
}
