/**
 * SQL for the search index: a parsed query → SELECT of matching `res` rows (sorted, paged), a
 * count variant, _include/_revinclude look-ups, and the index write statements.
 *
 * Shape of a search: the most selective-looking filter drives (`c.res IN (SELECT res FROM idx_…
 * WHERE type=? AND param=? AND value…)`, served by the value-first index), every other filter is a
 * correlated EXISTS probe on the (res, param, …) index. `Observation?patient=X&code=S|C` thus reads
 * the patient's Observations and probes each for the code. A driver that matches much of the type
 * is not used: the type's rows are then scanned in order with every filter probed (see SearchPlan).
 */
import Database from 'better-sqlite3-multiple-ciphers';
import { FhirError } from '../outcome.js';
import type { IndexEntry } from './extract.js';
import type { DateValue, Filter, IncludeSpec, QuantityValue, SearchQuery, TokenValue } from './query.js';
import { INDEX_TABLES } from './schema.js';
import { normalizeString } from './values.js';
import { visibleSql, type VisibilityFilter } from './visibility.js';

type Db = Database.Database;
export type SqlValue = string | number | null;

export interface BuiltSql {
  readonly sql: string;
  readonly params: SqlValue[];
}

export interface SearchSql {
  /** Selects `res` of one page: LIMIT count + 1 (an extra row means a next page exists). */
  readonly page: BuiltSql;
  /** Selects `n`, the number of matches. */
  readonly count: BuiltSql;
}

/** Highest code point: upper bound for "starts with" ranges under BINARY collation. */
const MAX_CHAR = '\u{10FFFF}';

/** Most included resources per search (as the FHIR spec allows servers to cap). */
export const MAX_INCLUDED = 1000;

interface Cond {
  readonly sql: string;
  readonly params: SqlValue[];
}

function datePred(lo: string, hi: string, v: DateValue): Cond {
  const eq = `(${lo} >= ? AND ${hi} <= ?)`;
  switch (v.prefix) {
    case 'eq':
      return { sql: eq, params: [v.low, v.high] };
    case 'ne':
      return { sql: `NOT ${eq}`, params: [v.low, v.high] };
    case 'gt':
      return { sql: `${hi} > ?`, params: [v.high] };
    case 'lt':
      return { sql: `${lo} < ?`, params: [v.low] };
    case 'ge':
      return { sql: `(${hi} > ? OR ${eq})`, params: [v.high, v.low, v.high] };
    case 'le':
      return { sql: `(${lo} < ? OR ${eq})`, params: [v.low, v.low, v.high] };
    case 'sa':
      return { sql: `${lo} > ?`, params: [v.high] };
    case 'eb':
      return { sql: `${hi} < ?`, params: [v.low] };
    case 'ap':
      return { sql: `(${lo} <= ? AND ${hi} >= ?)`, params: [v.high, v.low] };
  }
}

function quantityPred(v: QuantityValue): Cond {
  let sql: string;
  let params: SqlValue[];
  switch (v.prefix) {
    case 'eq':
      [sql, params] = ['(x.value >= ? AND x.value < ?)', [v.low, v.high]];
      break;
    case 'ne':
      [sql, params] = ['NOT (x.value >= ? AND x.value < ?)', [v.low, v.high]];
      break;
    case 'gt':
    case 'sa':
      [sql, params] = ['x.value > ?', [v.value]];
      break;
    case 'lt':
    case 'eb':
      [sql, params] = ['x.value < ?', [v.value]];
      break;
    case 'ge':
      [sql, params] = ['x.value >= ?', [v.value]];
      break;
    case 'le':
      [sql, params] = ['x.value <= ?', [v.value]];
      break;
    case 'ap':
      [sql, params] = ['(x.value >= ? AND x.value <= ?)', [v.low, v.high]];
      break;
  }
  if (v.system !== undefined) {
    sql += ' AND x.system = ?';
    params.push(v.system);
    if (v.code !== undefined) {
      sql += ' AND x.code = ?';
      params.push(v.code);
    }
  } else if (v.code !== undefined) {
    sql += ' AND (x.code = ? OR x.unit = ?)';
    params.push(v.code, v.code);
  }
  return { sql: `(${sql})`, params };
}

function tokenPred(v: TokenValue): Cond {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  if (v.code !== undefined) {
    parts.push('x.code = ?');
    params.push(v.code);
  }
  if (v.system === null) parts.push('x.system IS NULL');
  else if (v.system !== undefined) {
    parts.push('x.system = ?');
    params.push(v.system);
  }
  return { sql: `(${parts.join(' AND ')})`, params };
}

function or(conds: Cond[]): Cond {
  if (conds.length === 1) return conds[0]!;
  return { sql: `(${conds.map((c) => c.sql).join(' OR ')})`, params: conds.flatMap((c) => c.params) };
}

interface IndexFilter {
  readonly table: string;
  readonly param: string;
  /** Row predicate on alias `x`; undefined = any row (for :missing). */
  readonly pred?: Cond;
  /** Resources with NO matching row match (:not, :missing=true). */
  readonly negate: boolean;
  /** Lower drives first; undefined = never drives. */
  readonly rank?: number;
}

function indexFilter(f: Filter): IndexFilter | Cond {
  switch (f.kind) {
    case 'id':
      return { sql: `c.id IN (${f.values.map(() => '?').join(', ')})`, params: [...f.values] };
    case 'lastUpdated':
      return or(f.values.map((v) => datePred('c.last_updated', 'c.last_updated', v)));
    case 'missing':
      return { table: INDEX_TABLES[f.paramType], param: f.param, negate: f.missing };
    case 'string': {
      const conds = f.values.map((v): Cond => {
        if (f.modifier === 'exact') return { sql: '(x.norm = ? AND x.exact = ?)', params: [normalizeString(v), v] };
        if (f.modifier === 'contains') return { sql: 'instr(x.norm, ?) > 0', params: [v] };
        return { sql: '(x.norm >= ? AND x.norm < ?)', params: [v, v + MAX_CHAR] };
      });
      const rank = f.modifier === 'exact' ? 2 : f.modifier === 'default' ? 6 : undefined;
      return { table: 'idx_string', param: f.param, pred: or(conds), negate: false, ...(rank !== undefined ? { rank } : {}) };
    }
    case 'tokenText':
      return {
        table: 'idx_token',
        param: f.param,
        pred: or(f.values.map((v) => ({ sql: '(x.text >= ? AND x.text < ?)', params: [v, v + MAX_CHAR] }))),
        negate: false,
        rank: 8,
      };
    case 'token': {
      const allCodes = f.values.every((v) => v.code !== undefined);
      return {
        table: 'idx_token',
        param: f.param,
        pred: or(f.values.map(tokenPred)),
        negate: f.modifier === 'not',
        ...(f.modifier === 'not' ? {} : { rank: allCodes ? 1 : 7 }),
      };
    }
    case 'reference':
      return {
        table: 'idx_reference',
        param: f.param,
        pred: or(
          f.values.map((v): Cond => {
            if (v.url !== undefined) return { sql: 'x.url = ?', params: [v.url] };
            if (v.type !== undefined) return { sql: '(x.target_id = ? AND x.target_type = ?)', params: [v.id ?? '', v.type] };
            return { sql: 'x.target_id = ?', params: [v.id ?? ''] };
          }),
        ),
        negate: false,
        rank: 0,
      };
    case 'date':
      return {
        table: 'idx_date',
        param: f.param,
        pred: or(f.values.map((v) => datePred('x.low', 'x.high', v))),
        negate: false,
        rank: 4,
      };
    case 'quantity':
      return { table: 'idx_quantity', param: f.param, pred: or(f.values.map(quantityPred)), negate: false, rank: 5 };
    case 'uri':
      return {
        table: 'idx_uri',
        param: f.param,
        pred: or(
          f.values.map((v) =>
            f.modifier === 'below'
              ? { sql: '(x.uri >= ? AND x.uri < ?)', params: [v, v + MAX_CHAR] }
              : { sql: 'x.uri = ?', params: [v] },
          ),
        ),
        negate: false,
        rank: 3,
      };
  }
}

/** The filters of a query: plain conditions on `current`, index filters, and whether `_id` is among them. */
function splitFilters(query: SearchQuery): { conds: Cond[]; idx: IndexFilter[]; hasId: boolean } {
  const conds: Cond[] = [];
  const idx: IndexFilter[] = [];
  let hasId = false;
  for (const f of query.filters) {
    const r = indexFilter(f);
    if ('sql' in r) {
      conds.push(r);
      hasId ||= f.kind === 'id';
    } else idx.push(r);
  }
  return { conds, idx, hasId };
}

/** The index filter that would drive the search: the best-ranked positive one (none with `_id`). */
function driverOf({ idx, hasId }: { idx: readonly IndexFilter[]; hasId: boolean }): IndexFilter | undefined {
  if (hasId) return undefined;
  let driver: IndexFilter | undefined;
  for (const f of idx)
    if (f.rank !== undefined && !f.negate && f.pred !== undefined && (driver === undefined || f.rank < driver.rank!)) driver = f;
  return driver;
}

/**
 * How `current` is reached: `driven` — through the driving filter's matches, by primary key (the
 * right plan when it matches few rows, e.g. one patient's Observations); `scan` — the type's rows
 * in res order, every filter probed, stopping at the page's end (right when the filter matches
 * much of the type, e.g. status=final). SQLite cannot tell the two apart without statistics and
 * then scans a million rows to serve one patient, so the plan is chosen here and forced: the
 * unary + takes the type index out of a driven plan's choices.
 */
export type SearchPlan = 'driven' | 'scan';

function whereClause(query: SearchQuery, plan: SearchPlan): Cond {
  const split = splitFilters(query);
  const driver = plan === 'driven' ? driverOf(split) : undefined;
  const conds: Cond[] = [
    { sql: `${driver ? '+' : ''}c.type = ? AND c.deleted = 0`, params: [query.resourceType] },
    ...split.conds,
  ];
  for (const f of split.idx) {
    const pred = f.pred === undefined ? '' : ` AND ${f.pred.sql}`;
    const pp = f.pred?.params ?? [];
    if (f === driver)
      conds.push({
        sql: `c.res IN (SELECT x.res FROM ${f.table} x WHERE x.type = ? AND x.param = ?${pred})`,
        params: [query.resourceType, f.param, ...pp],
      });
    else
      conds.push({
        sql: `${f.negate ? 'NOT ' : ''}EXISTS (SELECT 1 FROM ${f.table} x WHERE x.res = c.res AND x.param = ?${pred})`,
        params: [f.param, ...pp],
      });
  }
  return { sql: conds.map((c) => c.sql).join('\n  AND '), params: conds.flatMap((c) => c.params) };
}

/** A driving filter matching at least this many index rows is scanned past rather than driven by. */
export const BROAD_DRIVER_ROWS = 2000;

/** Chooses the plan by counting the driver's index rows, up to BROAD_DRIVER_ROWS (one index range read). */
export function choosePlan(db: Db, query: SearchQuery): SearchPlan {
  const driver = driverOf(splitFilters(query));
  if (!driver) return 'driven';
  const pred = driver.pred === undefined ? '' : ` AND ${driver.pred.sql}`;
  const { n } = db
    .prepare(
      `SELECT count(*) AS n FROM (SELECT 1 FROM ${driver.table} x WHERE x.type = ? AND x.param = ?${pred} LIMIT ${BROAD_DRIVER_ROWS})`,
    )
    .get(query.resourceType, driver.param, ...(driver.pred?.params ?? [])) as { n: number };
  return n < BROAD_DRIVER_ROWS ? 'driven' : 'scan';
}

function orderBy(query: SearchQuery): Cond {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  for (const s of query.sort) {
    const dir = s.descending ? 'DESC' : 'ASC';
    const agg = s.descending ? 'max' : 'min';
    switch (s.on) {
      case 'id':
        parts.push(`c.id ${dir}`);
        break;
      case 'lastUpdated':
        parts.push(`c.last_updated ${dir}`);
        break;
      case 'date':
        parts.push(
          `(SELECT ${agg}(${s.descending ? 'high' : 'low'}) FROM idx_date WHERE res = c.res AND param = ?) ${dir} NULLS LAST`,
        );
        params.push(s.param);
        break;
      case 'string':
        parts.push(`(SELECT ${agg}(norm) FROM idx_string WHERE res = c.res AND param = ?) ${dir} NULLS LAST`);
        params.push(s.param);
        break;
      case 'token':
        parts.push(`(SELECT ${agg}(code) FROM idx_token WHERE res = c.res AND param = ?) ${dir} NULLS LAST`);
        params.push(s.param);
        break;
    }
  }
  parts.push('c.res ASC');
  return { sql: parts.join(', '), params };
}

/** SQL selecting the page of matching `res` ids (and the total count) for a parsed query. */
export function buildSearchSql(query: SearchQuery, visibility?: VisibilityFilter, plan: SearchPlan = 'driven'): SearchSql {
  const where = withVisibility(whereClause(query, plan), 'c', visibility);
  const order = orderBy(query);
  return {
    page: {
      sql: `SELECT c.res AS res FROM current c\nWHERE ${where.sql}\nORDER BY ${order.sql}\nLIMIT ? OFFSET ?`,
      params: [...where.params, ...order.params, query.count + 1, query.offset],
    },
    count: { sql: `SELECT count(*) AS n FROM current c\nWHERE ${where.sql}`, params: [...where.params] },
  };
}

/** Adds the visibility predicate on `alias` to a WHERE clause. */
function withVisibility(where: BuiltSql, alias: string, visibility: VisibilityFilter | undefined): BuiltSql {
  if (!visibility) return where;
  const visible = visibleSql(alias, visibility);
  return { sql: `(${where.sql}) AND ${visible.sql}`, params: [...where.params, ...visible.params] };
}

/** SQL finding the resources referenced by `spec` from the given res ids (params: JSON array of res ids). */
export function includeSql(
  spec: IncludeSpec,
  resIds: readonly number[],
  limit = MAX_INCLUDED,
  visibility?: VisibilityFilter,
): BuiltSql {
  const params: SqlValue[] = [JSON.stringify(resIds), spec.sourceType];
  let sql =
    'SELECT DISTINCT t.res AS res FROM idx_reference r JOIN current t ON t.type = r.target_type AND t.id = r.target_id\n' +
    'WHERE r.res IN (SELECT value FROM json_each(?)) AND r.type = ? AND t.deleted = 0';
  if (spec.param !== '*') {
    sql += ' AND r.param = ?';
    params.push(spec.param);
  }
  if (spec.targetType !== undefined) {
    sql += ' AND r.target_type = ?';
    params.push(spec.targetType);
  }
  if (visibility) {
    const visible = visibleSql('t', visibility);
    sql += ` AND ${visible.sql}`;
    params.push(...visible.params);
  }
  sql += '\nORDER BY t.res LIMIT ?';
  params.push(limit);
  return { sql, params };
}

/** SQL finding the resources of `spec.sourceType` whose `spec.param` refers to one of the given res ids. */
export function revincludeSql(
  spec: IncludeSpec,
  resIds: readonly number[],
  limit = MAX_INCLUDED,
  visibility?: VisibilityFilter,
): BuiltSql {
  const visible = visibility ? visibleSql('s', visibility) : { sql: '1', params: [] };
  return {
    sql:
      'SELECT DISTINCT s.res AS res FROM current m\n' +
      'JOIN idx_reference r ON r.type = ? AND r.param = ? AND r.target_id = m.id AND r.target_type = m.type\n' +
      'JOIN current s ON s.res = r.res AND s.deleted = 0\n' +
      `WHERE m.res IN (SELECT value FROM json_each(?)) AND ${visible.sql}\nORDER BY s.res LIMIT ?`,
    params: [spec.sourceType, spec.param, JSON.stringify(resIds), ...visible.params, limit],
  };
}

export interface SearchResult {
  /** Matching res ids of this page, in order. */
  readonly matches: number[];
  /** Included and revincluded res ids (distinct, excluding matches). */
  readonly included: number[];
  /** Total matches when `_total=accurate`/`estimate` or `_summary=count`. */
  readonly total?: number;
  /** Offset of the next page, when there is one. */
  readonly nextOffset?: number;
}

/**
 * Runs a parsed query: page, optional total, then one level of include/revinclude — all of it
 * within `visibility` when given (matches, total and includes alike).
 */
export function runSearch(db: Db, query: SearchQuery, visibility?: VisibilityFilter): SearchResult {
  try {
    return runSearchStatements(db, query, visibility);
  } catch (error) {
    throw tooLargeForSqlite(error) ?? error;
  }
}

/**
 * SQLite's own bounds on one statement (expression depth 1000, bound variables, string length)
 * that SEARCH_LIMITS keeps a search within: should one still be hit, the search is too large —
 * the client's 400, not the server's 500. Any other error is left as it is.
 */
const SQLITE_TOO_LARGE =
  /^(Expression tree is too large|too many SQL variables|string or blob too big|parser stack overflow|too many terms in compound SELECT)/;

function tooLargeForSqlite(error: unknown): FhirError | undefined {
  if (!(error instanceof Database.SqliteError)) return undefined;
  if ((error.code !== 'SQLITE_ERROR' && error.code !== 'SQLITE_TOOBIG') || !SQLITE_TOO_LARGE.test(error.message))
    return undefined;
  return FhirError.of(
    400,
    'too-costly',
    `The search is too large for the database (${error.message}): use fewer search parameters or values`,
  );
}

function runSearchStatements(db: Db, query: SearchQuery, visibility?: VisibilityFilter): SearchResult {
  const built = buildSearchSql(query, visibility, choosePlan(db, query));
  const wantTotal = query.total !== 'none' || query.summary === 'count';
  const total = wantTotal ? (db.prepare(built.count.sql).get(...built.count.params) as { n: number }).n : undefined;
  if (query.summary === 'count') return { matches: [], included: [], ...(total !== undefined ? { total } : {}) };
  const rows = db
    .prepare(built.page.sql)
    .pluck()
    .all(...built.page.params) as number[];
  const hasMore = rows.length > query.count;
  const matches = hasMore ? rows.slice(0, query.count) : rows;
  const included: number[] = [];
  if (matches.length > 0 && (query.include.length > 0 || query.revinclude.length > 0)) {
    const seen = new Set(matches);
    const add = (b: BuiltSql): void => {
      for (const r of db
        .prepare(b.sql)
        .pluck()
        .all(...b.params) as number[])
        if (!seen.has(r) && included.length < MAX_INCLUDED) {
          seen.add(r);
          included.push(r);
        }
    };
    for (const spec of query.include) add(includeSql(spec, matches, MAX_INCLUDED, visibility));
    for (const spec of query.revinclude) add(revincludeSql(spec, matches, MAX_INCLUDED, visibility));
  }
  return {
    matches,
    included,
    ...(total !== undefined ? { total } : {}),
    ...(hasMore ? { nextOffset: query.offset + query.count } : {}),
  };
}

/** Statement texts for index maintenance. */
export const INDEX_WRITE_SQL = {
  delete: Object.values(INDEX_TABLES).map((t) => `DELETE FROM ${t} WHERE res = ?`),
  string: 'INSERT INTO idx_string (res, type, param, norm, exact) VALUES (?, ?, ?, ?, ?)',
  token: 'INSERT INTO idx_token (res, type, param, system, code, text) VALUES (?, ?, ?, ?, ?, ?)',
  reference: 'INSERT INTO idx_reference (res, type, param, target_type, target_id, url) VALUES (?, ?, ?, ?, ?, ?)',
  date: 'INSERT INTO idx_date (res, type, param, low, high) VALUES (?, ?, ?, ?, ?)',
  quantity: 'INSERT INTO idx_quantity (res, type, param, value, system, code, unit) VALUES (?, ?, ?, ?, ?, ?, ?)',
  uri: 'INSERT INTO idx_uri (res, type, param, uri) VALUES (?, ?, ?, ?)',
} as const;

/**
 * Prepared index writes for one database. Call `replace` inside the transaction that writes the
 * resource version (it deletes the resource's old rows first); `remove` when a resource is deleted
 * or erased.
 */
export class IndexWriter {
  private readonly deletes: Database.Statement[];
  private readonly inserts: { readonly [K in IndexEntry['kind']]: Database.Statement };

  constructor(db: Db) {
    this.deletes = INDEX_WRITE_SQL.delete.map((s) => db.prepare(s));
    this.inserts = {
      string: db.prepare(INDEX_WRITE_SQL.string),
      token: db.prepare(INDEX_WRITE_SQL.token),
      reference: db.prepare(INDEX_WRITE_SQL.reference),
      date: db.prepare(INDEX_WRITE_SQL.date),
      quantity: db.prepare(INDEX_WRITE_SQL.quantity),
      uri: db.prepare(INDEX_WRITE_SQL.uri),
    };
  }

  remove(res: number): void {
    for (const d of this.deletes) d.run(res);
  }

  /** Inserts the rows of a new resource (no delete first). */
  insert(res: number, type: string, entries: readonly IndexEntry[]): void {
    const ins = this.inserts;
    for (const e of entries) {
      switch (e.kind) {
        case 'string':
          ins.string.run(res, type, e.param, e.norm, e.exact);
          break;
        case 'token':
          ins.token.run(res, type, e.param, e.system, e.code, e.text);
          break;
        case 'reference':
          ins.reference.run(res, type, e.param, e.targetType, e.targetId, e.url);
          break;
        case 'date':
          ins.date.run(res, type, e.param, e.low, e.high);
          break;
        case 'quantity':
          ins.quantity.run(res, type, e.param, e.value, e.system, e.code, e.unit);
          break;
        case 'uri':
          ins.uri.run(res, type, e.param, e.uri);
          break;
      }
    }
  }

  replace(res: number, type: string, entries: readonly IndexEntry[]): void {
    this.remove(res);
    this.insert(res, type, entries);
  }
}
