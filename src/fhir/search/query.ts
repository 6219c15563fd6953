/**
 * Search parameter parsing: a query string (URLSearchParams or a record) → a typed query AST, or
 * OperationOutcome issues naming the parameter at fault. Repeated parameters AND together;
 * comma-separated values within one parameter OR together. A search larger than SEARCH_LIMITS is
 * refused (`too-costly`) before any of it is parsed. Never throws.
 */
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import {
  findSearchParam,
  getSearchDefinitions,
  type ParamType,
  type SearchDefinitions,
  type SearchParamDef,
} from './definitions.js';
import { normalizeString, parseDateRange } from './values.js';

export type DatePrefix = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'sa' | 'eb' | 'ap';
const PREFIXES: ReadonlySet<string> = new Set(['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'sa', 'eb', 'ap']);

export interface DateValue {
  readonly prefix: DatePrefix;
  /** Inclusive epoch-millisecond range of the search value's precision. */
  readonly low: number;
  readonly high: number;
}
export interface TokenValue {
  /** undefined: any system; null: no system (`|code`). */
  readonly system?: string | null;
  /** undefined: any code (`system|`). */
  readonly code?: string;
}
export interface ReferenceValue {
  readonly type?: string;
  readonly id?: string;
  readonly url?: string;
}
export interface QuantityValue {
  readonly prefix: DatePrefix;
  readonly value: number;
  /** Range implied by the value's precision (5.4 → [5.35, 5.45)); used by eq/ne. */
  readonly low: number;
  readonly high: number;
  readonly system?: string;
  readonly code?: string;
}

interface Base {
  readonly param: string;
}
export type Filter =
  | (Base & { readonly kind: 'string'; readonly modifier: 'default' | 'exact' | 'contains'; readonly values: readonly string[] })
  | (Base & { readonly kind: 'token'; readonly modifier: 'default' | 'not'; readonly values: readonly TokenValue[] })
  | (Base & { readonly kind: 'tokenText'; readonly values: readonly string[] })
  | (Base & { readonly kind: 'reference'; readonly values: readonly ReferenceValue[] })
  | (Base & { readonly kind: 'date'; readonly values: readonly DateValue[] })
  | (Base & { readonly kind: 'quantity'; readonly values: readonly QuantityValue[] })
  | (Base & { readonly kind: 'uri'; readonly modifier: 'default' | 'below'; readonly values: readonly string[] })
  | (Base & { readonly kind: 'missing'; readonly paramType: ParamType; readonly missing: boolean })
  | (Base & { readonly kind: 'id'; readonly values: readonly string[] })
  | (Base & { readonly kind: 'lastUpdated'; readonly values: readonly DateValue[] });

export interface SortRule {
  readonly param: string;
  /** `_id`, `_lastUpdated`, or the type of the parameter sorted on. */
  readonly on: 'id' | 'lastUpdated' | 'string' | 'token' | 'date';
  readonly descending: boolean;
}

export interface IncludeSpec {
  /** Resource type holding the reference. */
  readonly sourceType: string;
  /** Reference parameter code, or '*' for every reference parameter of sourceType (_include only). */
  readonly param: string;
  readonly targetType?: string;
}

export type SummaryMode = 'true' | 'false' | 'text' | 'data' | 'count';
export type TotalMode = 'none' | 'estimate' | 'accurate';

export interface SearchQuery {
  readonly resourceType: string;
  /** AND of filters; each filter ORs its values. */
  readonly filters: readonly Filter[];
  readonly sort: readonly SortRule[];
  readonly count: number;
  readonly offset: number;
  readonly include: readonly IncludeSpec[];
  readonly revinclude: readonly IncludeSpec[];
  readonly summary?: SummaryMode;
  readonly total: TotalMode;
  readonly elements?: readonly string[];
  /** Warnings (unknown parameters under lenient handling, clamped _count…). */
  readonly warnings: readonly OperationOutcomeIssue[];
}

export type ParseResult =
  { readonly ok: true; readonly query: SearchQuery } | { readonly ok: false; readonly issues: readonly OperationOutcomeIssue[] };

export interface ParseOptions {
  /** `Prefer: handling=lenient`: unknown parameters and bad values become warnings and are skipped. */
  readonly lenient?: boolean;
  readonly defaultCount?: number;
  readonly maxCount?: number;
  /** Current time, for the `ap` prefix on dates (defaults to Date.now()). */
  readonly now?: number;
  readonly definitions?: SearchDefinitions;
  /**
   * A filter the server adds to confine the search to one patient's compartment (`patient` or
   * `_id`): parsed with the request's parameters but not counted toward SEARCH_LIMITS, which bound
   * what the client sends.
   */
  readonly compartment?: readonly [name: string, value: string];
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;
export const MAX_OFFSET = 100_000;

/**
 * How big one search may be, checked before any parameter is parsed. Every parameter is one more
 * AND-ed probe and every comma-separated value one more OR-ed predicate, evaluated for each
 * candidate row; SQLite runs a statement to its end on the event loop (better-sqlite3 has no
 * statement timeout), so a search's cost must be bounded by its shape. Well above what clients
 * send (a handful of parameters, an `_id` or code list of a page); over them is 400 `too-costly`.
 */
export const SEARCH_LIMITS = {
  /** Parameter occurrences in one request, repeats and result parameters included. */
  parameters: 32,
  /** Comma-separated values of one parameter (an OR list; also _include, _revinclude, _elements). */
  valuesPerParameter: 100,
  /** Values of all parameters of the request together. */
  values: 200,
  /** Values of `:contains` parameters, together: each is a substring scan that no index serves. */
  containsValues: 10,
  /** Keys of `_sort`: each is a subquery per matching row. */
  sortKeys: 10,
} as const;

/** Parameters that belong to the HTTP layer: accepted and ignored here. */
const IGNORED: ReadonlySet<string> = new Set(['_format', '_pretty']);
const SUMMARY: ReadonlySet<string> = new Set(['true', 'false', 'text', 'data', 'count']);
const TOTAL: ReadonlySet<string> = new Set(['none', 'estimate', 'accurate']);
const TYPE_NAME = /^[A-Z][A-Za-z]{1,63}$/;

/** Opaque page cursor (base64url of the offset), for links that should not expose `_offset`. */
export function encodeCursor(offset: number): string {
  return Buffer.from(`o:${offset}`, 'utf8').toString('base64url');
}
function decodeCursor(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(cursor)) return undefined;
  const m = /^o:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m === null ? undefined : Number(m[1]);
}

/** Splits on unescaped `sep`; backslash escapes are kept for the next stage. */
function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1]!;
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}
const unescape = (s: string): string => s.replace(/\\([\\,|$])/g, '$1');

function splitPrefix(value: string): { prefix: DatePrefix; rest: string; explicit: boolean } {
  const p = value.slice(0, 2);
  if (PREFIXES.has(p) && value.length > 2 && !/^[a-z]/.test(value.slice(2)))
    return { prefix: p as DatePrefix, rest: value.slice(2), explicit: true };
  return { prefix: 'eq', rest: value, explicit: false };
}

const NUMBER_RE = /^[+-]?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** A decimal search value and the half-width of its implied precision. */
export function parseDecimal(s: string): { value: number; half: number } | undefined {
  const m = NUMBER_RE.exec(s);
  if (m === null) return undefined;
  const value = Number(s);
  if (!Number.isFinite(value)) return undefined;
  const decimals = (m[2]?.length ?? 0) - (m[3] === undefined ? 0 : Number(m[3]));
  return { value, half: 0.5 * 10 ** -decimals };
}

/** Values of a comma list (with `escaped`, an escaped comma does not separate), counted up to `max + 1`. */
function countValues(s: string, escaped: boolean, max: number): number {
  let n = 1;
  for (let i = 0; i < s.length && n <= max; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 0x5c && escaped) i++;
    else if (ch === 0x2c) n++;
  }
  return n;
}

/** Result parameters whose value is one item; every other parameter's value is a comma list. */
const SINGLE_VALUED: ReadonlySet<string> = new Set([...IGNORED, '_count', '_offset', '_cursor', '_summary', '_total']);
/** Result parameters whose comma list has no escapes. */
const PLAIN_LISTS: ReadonlySet<string> = new Set(['_include', '_revinclude', '_sort', '_elements']);

/** The first of the request's parameters that takes the search past SEARCH_LIMITS, as an issue. */
function overLimits(entries: readonly (readonly [string, string])[]): OperationOutcomeIssue | undefined {
  const L = SEARCH_LIMITS;
  let values = 0;
  let contains = 0;
  for (let i = 0; i < entries.length; i++) {
    const [name, value] = entries[i]!;
    const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
    const refuse = (diagnostics: string): OperationOutcomeIssue => ({
      severity: 'error',
      code: 'too-costly',
      diagnostics,
      expression: [shown],
    });
    if (i >= L.parameters)
      return refuse(`A search takes at most ${L.parameters} parameters; '${shown}' is parameter ${i + 1} (limit: parameters)`);
    if (value === '') continue;
    const n = SINGLE_VALUED.has(name) ? 1 : countValues(value, !PLAIN_LISTS.has(name), L.valuesPerParameter);
    if (n > L.valuesPerParameter)
      return refuse(
        `Search parameter '${shown}' has more than ${L.valuesPerParameter} comma-separated values (limit: values per parameter)`,
      );
    if (name === '_sort' && n > L.sortKeys) return refuse(`_sort has more than ${L.sortKeys} keys (limit: sort keys)`);
    values += n;
    if (values > L.values)
      return refuse(
        `Search parameter '${shown}' takes the search past ${L.values} values in all parameters together (limit: values per search)`,
      );
    if (name.endsWith(':contains')) {
      contains += n;
      if (contains > L.containsValues)
        return refuse(
          `Search parameter '${shown}' takes the search past ${L.containsValues} :contains values (limit: :contains values per search; each is a scan without an index)`,
        );
    }
  }
  return undefined;
}

function toEntries(params: URLSearchParams | Readonly<Record<string, string | readonly string[]>>): [string, string][] {
  const out: [string, string][] = [];
  if (params instanceof URLSearchParams) {
    for (const [k, v] of params) out.push([k, v]);
    return out;
  }
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === 'string') out.push([k, v]);
    else if (Array.isArray(v)) for (const item of v) if (typeof item === 'string') out.push([k, item]);
  }
  return out;
}

class Collector {
  readonly errors: OperationOutcomeIssue[] = [];
  readonly warnings: OperationOutcomeIssue[] = [];
  constructor(private readonly lenient: boolean) {}
  /** A problem with one parameter: an error, or a warning (and the parameter is skipped) when lenient. */
  problem(code: 'not-supported' | 'invalid', name: string, diagnostics: string): void {
    const issue: OperationOutcomeIssue = { severity: this.lenient ? 'warning' : 'error', code, diagnostics, expression: [name] };
    (this.lenient ? this.warnings : this.errors).push(issue);
  }
  /** Always an error (malformed control parameters cannot be skipped safely). */
  error(code: 'not-supported' | 'invalid', name: string, diagnostics: string): void {
    this.errors.push({ severity: 'error', code, diagnostics, expression: [name] });
  }
  warn(code: 'informational' | 'not-supported' | 'invalid', name: string, diagnostics: string): void {
    this.warnings.push({ severity: 'warning', code, diagnostics, expression: [name] });
  }
}

const MODIFIERS: Readonly<Record<ParamType, readonly string[]>> = {
  string: ['exact', 'contains', 'missing'],
  token: ['text', 'not', 'missing'],
  reference: ['missing', '<Type>'],
  date: ['missing'],
  quantity: ['missing'],
  uri: ['below', 'missing'],
};

/** Parses one parameter occurrence into a filter, or reports and returns undefined. */
function parseFilter(
  def: SearchParamDef,
  name: string,
  modifier: string | undefined,
  raw: string,
  c: Collector,
  now: number,
): Filter | undefined {
  const param = def.code;
  const bad = (why: string): undefined => {
    c.problem('invalid', name, `Invalid value for search parameter '${name}': ${why}`);
    return undefined;
  };
  if (modifier === 'missing') {
    if (raw !== 'true' && raw !== 'false') return bad(`':missing' takes true or false, not '${raw}'`);
    if (def.special !== undefined) {
      c.problem('not-supported', name, `Modifier ':missing' is not supported for '${param}'`);
      return undefined;
    }
    return { kind: 'missing', param, paramType: def.type, missing: raw === 'true' };
  }
  const isTypeModifier = def.type === 'reference' && modifier !== undefined && TYPE_NAME.test(modifier);
  if (modifier !== undefined && !isTypeModifier && !MODIFIERS[def.type].includes(modifier)) {
    c.problem(
      'not-supported',
      name,
      `Modifier ':${modifier}' is not supported for ${def.type} parameter '${param}' (supported: ${MODIFIERS[def.type].join(', ')})`,
    );
    return undefined;
  }
  if (isTypeModifier && def.targets.length > 0 && !def.targets.includes(modifier) && !def.targets.includes('Resource'))
    return bad(`'${modifier}' is not a target type of '${param}' (targets: ${def.targets.join(', ')})`);
  const parts = splitEscaped(raw, ',').filter((p) => p.length > 0);
  if (parts.length === 0) return bad('empty value');

  if (def.special === 'id') {
    if (modifier !== undefined) {
      c.problem('not-supported', name, `Modifier ':${modifier}' is not supported for '_id'`);
      return undefined;
    }
    const ids = parts.map(unescape);
    for (const id of ids) if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return bad(`'${id}' is not a valid resource id`);
    return { kind: 'id', param, values: ids };
  }

  switch (def.type) {
    case 'string': {
      const values = parts.map(unescape);
      if (modifier === 'exact') return { kind: 'string', param, modifier: 'exact', values };
      return {
        kind: 'string',
        param,
        modifier: modifier === 'contains' ? 'contains' : 'default',
        values: values.map(normalizeString),
      };
    }
    case 'token': {
      if (modifier === 'text') return { kind: 'tokenText', param, values: parts.map((p) => normalizeString(unescape(p))) };
      const values: TokenValue[] = [];
      for (const p of parts) {
        const sc = splitEscaped(p, '|');
        if (sc.length === 1) values.push({ code: unescape(sc[0]!) });
        else if (sc.length === 2) {
          const system = unescape(sc[0]!);
          const code = unescape(sc[1]!);
          if (system === '' && code === '') return bad(`'${p}' has neither system nor code`);
          values.push({ system: system === '' ? null : system, ...(code === '' ? {} : { code }) });
        } else return bad(`'${p}' has more than one unescaped '|'`);
      }
      return { kind: 'token', param, modifier: modifier === 'not' ? 'not' : 'default', values };
    }
    case 'reference': {
      const values: ReferenceValue[] = [];
      for (const p0 of parts) {
        const p = unescape(p0);
        let m: RegExpExecArray | null;
        if ((m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(p))) {
          if (isTypeModifier && m[1] !== modifier) return bad(`'${p}' does not match the type modifier ':${modifier}'`);
          if (def.targets.length > 0 && !def.targets.includes(m[1]!) && !def.targets.includes('Resource'))
            return bad(`'${m[1]!}' is not a target type of '${param}'`);
          values.push({ type: m[1]!, id: m[2]! });
        } else if (/^[A-Za-z0-9\-.]{1,64}$/.test(p)) values.push({ id: p, ...(isTypeModifier ? { type: modifier } : {}) });
        else if (/^[a-z][a-z0-9+.-]*:\S+$/.test(p)) values.push({ url: p });
        else return bad(`'${p}' is not a reference (Type/id, id or absolute URL)`);
      }
      return { kind: 'reference', param, values };
    }
    case 'date': {
      const values: DateValue[] = [];
      for (const p of parts) {
        const { prefix, rest } = splitPrefix(p);
        const range = parseDateRange(rest);
        if (range === undefined) return bad(`'${p}' is not a date ([prefix]YYYY[-MM[-DD[Thh:mm[:ss[.sss]][Z|±hh:mm]]]])`);
        if (prefix === 'ap') {
          const gap = Math.max(Math.abs(now - range.low), Math.abs(now - range.high)) * 0.1;
          values.push({ prefix, low: Math.floor(range.low - gap), high: Math.ceil(range.high + gap) });
        } else values.push({ prefix, ...range });
      }
      return def.special === 'lastUpdated' ? { kind: 'lastUpdated', param, values } : { kind: 'date', param, values };
    }
    case 'quantity': {
      const values: QuantityValue[] = [];
      for (const p of parts) {
        const { prefix, rest } = splitPrefix(p);
        const pieces = splitEscaped(rest, '|');
        if (pieces.length !== 1 && pieces.length !== 3) return bad(`'${p}' must be [prefix]number or [prefix]number|system|code`);
        const num = parseDecimal(pieces[0]!);
        if (num === undefined) return bad(`'${pieces[0]!}' is not a number`);
        const system = pieces[1] === undefined ? '' : unescape(pieces[1]);
        const code = pieces[2] === undefined ? '' : unescape(pieces[2]);
        const spread = prefix === 'ap' ? Math.abs(num.value) * 0.1 : num.half;
        values.push({
          prefix,
          value: num.value,
          low: num.value - spread,
          high: num.value + spread,
          ...(system === '' ? {} : { system }),
          ...(code === '' ? {} : { code }),
        });
      }
      return { kind: 'quantity', param, values };
    }
    case 'uri':
      return { kind: 'uri', param, modifier: modifier === 'below' ? 'below' : 'default', values: parts.map(unescape) };
  }
}

function parseInteger(v: string): number | undefined {
  return /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/** Parses the search parameters of a `GET [type]?…` request. */
export function parseSearch(
  resourceType: string,
  params: URLSearchParams | Readonly<Record<string, string | readonly string[]>>,
  options: ParseOptions = {},
): ParseResult {
  try {
    return parseSearchUnsafe(resourceType, params, options);
  } catch (e) {
    return {
      ok: false,
      issues: [{ severity: 'error', code: 'exception', diagnostics: `Search parameters could not be parsed: ${String(e)}` }],
    };
  }
}

function parseSearchUnsafe(
  resourceType: string,
  params: URLSearchParams | Readonly<Record<string, string | readonly string[]>>,
  options: ParseOptions,
): ParseResult {
  const defs = options.definitions ?? getSearchDefinitions();
  const c = new Collector(options.lenient === true);
  if (!defs.byType.has(resourceType))
    return {
      ok: false,
      issues: [{ severity: 'error', code: 'not-supported', diagnostics: `Search on ${resourceType} is not supported` }],
    };
  const maxCount = options.maxCount ?? MAX_COUNT;
  const now = options.now ?? Date.now();
  let count = options.defaultCount ?? DEFAULT_COUNT;
  let offset = 0;
  let summary: SummaryMode | undefined;
  let total: TotalMode = 'none';
  let elements: string[] | undefined;
  const filters: Filter[] = [];
  const sort: SortRule[] = [];
  const include: IncludeSpec[] = [];
  const revinclude: IncludeSpec[] = [];
  const seenControl = new Set<string>();
  const sent = toEntries(params);
  const tooCostly = overLimits(sent);
  if (tooCostly !== undefined) return { ok: false, issues: [tooCostly] };
  const entries = options.compartment ? [...sent, options.compartment] : sent;

  const once = (name: string): boolean => {
    if (seenControl.has(name)) {
      c.error('invalid', name, `Search parameter '${name}' may appear only once`);
      return false;
    }
    seenControl.add(name);
    return true;
  };

  for (const [name, value] of entries) {
    if (value === '') continue; // FHIR: parameters with empty values are ignored
    if (IGNORED.has(name)) continue;
    switch (name) {
      case '_count': {
        if (!once(name)) continue;
        const n = parseInteger(value);
        if (n === undefined) c.error('invalid', name, `_count must be a non-negative integer, not '${value}'`);
        else if (n > maxCount) {
          count = maxCount;
          c.warn('informational', name, `_count ${n} exceeds the maximum; using ${maxCount}`);
        } else count = n;
        continue;
      }
      case '_offset':
      case '_cursor': {
        if (!once('_offset')) continue;
        const n = name === '_offset' ? parseInteger(value) : decodeCursor(value);
        if (n === undefined || n > MAX_OFFSET)
          c.error(
            'invalid',
            name,
            name === '_offset' ? `_offset must be an integer 0..${MAX_OFFSET}, not '${value}'` : `Invalid page cursor`,
          );
        else offset = n;
        continue;
      }
      case '_summary':
        if (!once(name)) continue;
        if (SUMMARY.has(value)) summary = value as SummaryMode;
        else c.error('invalid', name, `_summary must be one of true, false, text, data, count — not '${value}'`);
        continue;
      case '_total':
        if (!once(name)) continue;
        if (TOTAL.has(value)) total = value as TotalMode;
        else c.error('invalid', name, `_total must be none, estimate or accurate — not '${value}'`);
        continue;
      case '_elements': {
        if (!once(name)) continue;
        const list = value.split(',').map((s) => s.trim());
        if (list.some((e) => !/^[A-Za-z][A-Za-z0-9]{0,63}$/.test(e)))
          c.error('invalid', name, `_elements must be a comma list of element names`);
        else elements = list;
        continue;
      }
      case '_sort':
        if (!once(name)) continue;
        for (const item of value.split(',')) {
          const descending = item.startsWith('-');
          const code = descending ? item.slice(1) : item;
          const def = findSearchParam(resourceType, code, defs);
          if (def === undefined) {
            c.error('invalid', name, `Cannot sort on '${code}': not a search parameter of ${resourceType}`);
            continue;
          }
          const on: SortRule['on'] | undefined =
            def.special === 'id'
              ? 'id'
              : def.special === 'lastUpdated'
                ? 'lastUpdated'
                : def.type === 'string' || def.type === 'token' || def.type === 'date'
                  ? def.type
                  : undefined;
          if (on === undefined) c.error('not-supported', name, `Sorting on ${def.type} parameter '${code}' is not supported`);
          else sort.push({ param: code, on, descending });
        }
        continue;
      case '_include':
      case '_revinclude':
        for (const v of value.split(',')) {
          const spec = parseInclude(resourceType, name, v, defs, c);
          if (spec !== undefined) (name === '_include' ? include : revinclude).push(spec);
        }
        continue;
    }
    if (
      name === '_include:iterate' ||
      name === '_revinclude:iterate' ||
      name === '_include:recurse' ||
      name === '_revinclude:recurse'
    ) {
      c.problem('not-supported', name, `${name} is not supported (one level of _include/_revinclude only)`);
      continue;
    }
    const colon = name.indexOf(':');
    const code = colon < 0 ? name : name.slice(0, colon);
    const modifier = colon < 0 ? undefined : name.slice(colon + 1);
    if (code.includes('.')) {
      c.problem('not-supported', name, `Chained search parameter '${name}' is not supported`);
      continue;
    }
    const def = findSearchParam(resourceType, code, defs);
    if (def === undefined) {
      c.problem('not-supported', name, `Unknown or unsupported search parameter '${code}' for ${resourceType}`);
      continue;
    }
    const f = parseFilter(def, name, modifier, value, c, now);
    if (f !== undefined) filters.push(f);
  }
  if (c.errors.length > 0) return { ok: false, issues: [...c.errors, ...c.warnings] };
  return {
    ok: true,
    query: {
      resourceType,
      filters,
      sort,
      count,
      offset,
      include,
      revinclude,
      ...(summary !== undefined ? { summary } : {}),
      total,
      ...(elements !== undefined ? { elements } : {}),
      warnings: c.warnings,
    },
  };
}

function parseInclude(
  resourceType: string,
  name: '_include' | '_revinclude',
  value: string,
  defs: SearchDefinitions,
  c: Collector,
): IncludeSpec | undefined {
  const parts = value.split(':');
  const [sourceType, param, targetType] = parts;
  if (parts.length < 2 || parts.length > 3 || sourceType === undefined || param === undefined || param === '') {
    c.problem('invalid', name, `${name} must be SourceType:param[:TargetType], not '${value}'`);
    return undefined;
  }
  if (name === '_include' && sourceType !== resourceType) {
    c.problem('invalid', name, `${name}=${value}: the source type must be ${resourceType} (one level only)`);
    return undefined;
  }
  if (!defs.byType.has(sourceType)) {
    c.problem('not-supported', name, `${name}=${value}: ${sourceType} is not searchable here`);
    return undefined;
  }
  if (targetType !== undefined && !TYPE_NAME.test(targetType)) {
    c.problem('invalid', name, `${name}=${value}: '${targetType}' is not a resource type`);
    return undefined;
  }
  if (param === '*') {
    if (name === '_revinclude') {
      c.problem('not-supported', name, `_revinclude with '*' is not supported`);
      return undefined;
    }
    return { sourceType, param, ...(targetType !== undefined ? { targetType } : {}) };
  }
  const def = findSearchParam(sourceType, param, defs);
  if (def === undefined || def.type !== 'reference') {
    c.problem('invalid', name, `${name}=${value}: '${param}' is not a reference parameter of ${sourceType}`);
    return undefined;
  }
  const reachable = (t: string): boolean =>
    def.targets.length === 0 || def.targets.includes(t) || def.targets.includes('Resource');
  if (targetType !== undefined && !reachable(targetType)) {
    c.problem('invalid', name, `${name}=${value}: '${param}' cannot refer to ${targetType}`);
    return undefined;
  }
  if (name === '_revinclude' && (!reachable(resourceType) || (targetType !== undefined && targetType !== resourceType))) {
    c.problem('invalid', name, `${name}=${value}: '${sourceType}.${param}' cannot refer to ${resourceType}`);
    return undefined;
  }
  return { sourceType, param, ...(targetType !== undefined ? { targetType } : {}) };
}
