/**
 * Population queries and partial results as they travel between nodes (record exchange): read
 * back from untrusted JSON, field by field, so a malformed or hostile partial changes nothing.
 */
import { GROUP_BY, INTERVALS, type PartialCell, type PopulationPartial } from './aggregate.js';
import { POPULATION_PURPOSES, POPULATION_TYPES, PopulationError, type PopulationQuery } from './service.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const invalid = (what: string): PopulationError => new PopulationError('population.invalid', `${what} is malformed`);
const count = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(what);
  return v;
};
const oneOf = <T extends string>(v: unknown, allowed: readonly T[], what: string): T => {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw invalid(what);
  return v as T;
};

export function readQuery(value: unknown): PopulationQuery {
  if (!isObject(value)) throw invalid('the query');
  const { purpose, type, code, interval, from, to, groupBy, asOf } = value;
  if (typeof code !== 'string' || code.length === 0 || code.length > 200 || /[,\s]/.test(code)) throw invalid('query.code');
  if (!Array.isArray(groupBy) || groupBy.length > GROUP_BY.length) throw invalid('query.groupBy');
  const groups = groupBy.map((g) => oneOf(g, GROUP_BY, 'query.groupBy'));
  if (new Set(groups).size !== groups.length) throw invalid('query.groupBy');
  const query: PopulationQuery = {
    purpose: oneOf(purpose, POPULATION_PURPOSES, 'query.purpose'),
    type: oneOf(type, POPULATION_TYPES, 'query.type'),
    code,
    interval: oneOf(interval, INTERVALS, 'query.interval'),
    from: count(from, 'query.from'),
    to: count(to, 'query.to'),
    groupBy: groups,
    asOf: count(asOf, 'query.asOf'),
  };
  if (query.to <= query.from) throw invalid('query.from/to');
  return query;
}

const MAX_KEYS = 100_000;

export function readPartial(value: unknown): PopulationPartial {
  if (!isObject(value) || value['v'] !== 1 || !isObject(value['strata']) || !isObject(value['cells']))
    throw invalid('the partial');
  const strata: Record<string, number> = {};
  const strataEntries = Object.entries(value['strata']);
  const cellEntries = Object.entries(value['cells']);
  if (strataEntries.length > MAX_KEYS || cellEntries.length > MAX_KEYS) throw invalid('the partial (too large)');
  for (const [key, n] of strataEntries) strata[key] = count(n, `strata[${key}]`);
  const cells: Record<string, PartialCell> = {};
  for (const [key, c] of cellEntries) {
    if (!isObject(c) || typeof c['sumMicros'] !== 'string' || !/^-?[0-9]{1,40}$/.test(c['sumMicros']))
      throw invalid(`cells[${key}]`);
    if (!key.includes('|') || strata[key.slice(key.indexOf('|') + 1)] === undefined) throw invalid(`cells[${key}] (no stratum)`);
    cells[key] = {
      patients: count(c['patients'], `cells[${key}].patients`),
      events: count(c['events'], `cells[${key}].events`),
      valuePatients: count(c['valuePatients'], `cells[${key}].valuePatients`),
      values: count(c['values'], `cells[${key}].values`),
      sumMicros: c['sumMicros'],
    };
  }
  return { v: 1, strata, cells };
}
