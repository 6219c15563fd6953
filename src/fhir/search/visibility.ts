/**
 * The access decision as an SQL predicate on `current` rows, so searches, totals, paging,
 * includes, history and $everything filter hidden records before counting — never after.
 * Built from an access search scope (src/access/visibility.ts); a resource about no patient
 * (Organization, Practitioner…) is directory data and always visible.
 */
import type { SqlValue } from './sql.js';

export type VisibilityFilter = {
  /** Pseudonyms of the patients whose records are visible (self, consent, emergency). */
  readonly patients: readonly string[];
  /**
   * The custodian's treatment rule at this node: every record it holds (`all`), records with a
   * version by this author, or none.
   */
  readonly treatment: 'all' | 'none' | { readonly author: string };
};

/** The JSON parameter of each patient list, made once per filter however many queries use it. */
const patientsJson = new WeakMap<readonly string[], string>();

/** `(alias.patient IS NULL OR …)` with its parameters. */
export function visibleSql(alias: string, filter: VisibilityFilter): { sql: string; params: SqlValue[] } {
  if (filter.treatment === 'all') return { sql: '1', params: [] };
  const parts = [`${alias}.patient IS NULL`, `${alias}.patient IN (SELECT value FROM json_each(?))`];
  let json = patientsJson.get(filter.patients);
  if (json === undefined) patientsJson.set(filter.patients, (json = JSON.stringify(filter.patients)));
  const params: SqlValue[] = [json];
  if (filter.treatment !== 'none') {
    parts.push(`EXISTS (SELECT 1 FROM versions av WHERE av.res = ${alias}.res AND av.author = ?)`);
    params.push(filter.treatment.author);
  }
  return { sql: `(${parts.join(' OR ')})`, params };
}

/** The patients of each filter as a set, made once per filter however many rows it is asked about. */
const patientSets = new WeakMap<readonly string[], ReadonlySet<string>>();

/**
 * The twin of {@link visibleSql} for one row already read: no patient, a visible patient, or
 * (`authored`) a version by the treatment rule's author.
 */
export function rowVisible(
  row: { readonly res: number; readonly patient: string | null },
  filter: VisibilityFilter,
  authored: (res: number, author: string) => boolean,
): boolean {
  if (filter.treatment === 'all' || row.patient === null) return true;
  let patients = patientSets.get(filter.patients);
  if (patients === undefined) patientSets.set(filter.patients, (patients = new Set(filter.patients)));
  if (patients.has(row.patient)) return true;
  return filter.treatment !== 'none' && authored(row.res, filter.treatment.author);
}
