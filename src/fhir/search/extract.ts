/**
 * Index extraction: a resource → typed index rows, one per (parameter, value), using the paths
 * compiled in definitions.ts. `_id` and `_lastUpdated` are not rows: they live in the `current`
 * table (see `currentRowOf`).
 */
import type { Resource } from '@medplum/fhirtypes';
import { getSearchDefinitions, type CompiledPath, type SearchDefinitions, type SearchParamDef } from './definitions.js';
import { MAX_INSTANT, MIN_INSTANT, normalizeString, parseDateRange, type DateRange } from './values.js';

export interface StringEntry {
  readonly kind: 'string';
  readonly param: string;
  /** Lower-case, accents stripped: default (starts-with) and :contains matching. */
  readonly norm: string;
  /** The value as written: :exact matching. */
  readonly exact: string;
}
export interface TokenEntry {
  readonly kind: 'token';
  readonly param: string;
  readonly system: string | null;
  readonly code: string | null;
  /** Normalized display / CodeableConcept.text, for :text. */
  readonly text: string | null;
}
export interface ReferenceEntry {
  readonly kind: 'reference';
  readonly param: string;
  /** Target type when known (relative `Type/id`, absolute URL ending in `Type/id`, or Reference.type). */
  readonly targetType: string | null;
  /** Target id of a relative (local) reference; null for absolute URLs, urn:uuid and canonicals. */
  readonly targetId: string | null;
  /** Absolute URL, urn or canonical as written (version suffix kept); null for relative references. */
  readonly url: string | null;
}
export interface DateEntry {
  readonly kind: 'date';
  readonly param: string;
  /** Inclusive epoch-millisecond range covered by the value. */
  readonly low: number;
  readonly high: number;
}
export interface QuantityEntry {
  readonly kind: 'quantity';
  readonly param: string;
  readonly value: number;
  readonly system: string | null;
  readonly code: string | null;
  readonly unit: string | null;
}
export interface UriEntry {
  readonly kind: 'uri';
  readonly param: string;
  readonly uri: string;
}
export type IndexEntry = StringEntry | TokenEntry | ReferenceEntry | DateEntry | QuantityEntry | UriEntry;

/** The `current` table columns derived from a resource (the vault adds `res` and `deleted`). */
export interface CurrentRow {
  readonly type: string;
  readonly id: string;
  /** meta.lastUpdated in epoch milliseconds (0 when absent or malformed). */
  readonly lastUpdated: number;
}

export function currentRowOf(resource: Resource): CurrentRow {
  const lu = resource.meta?.lastUpdated;
  const range = lu === undefined ? undefined : parseDateRange(lu);
  return { type: resource.resourceType, id: resource.id ?? '', lastUpdated: range?.low ?? 0 };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

/** Target type of a Reference value, from `reference` (relative or absolute) or `type`. */
export function referenceTargetType(ref: Obj): string | null {
  const r = ref['reference'];
  if (typeof r === 'string') {
    const parsed = parseReference(r);
    if (parsed.targetType !== null) return parsed.targetType;
  }
  return str(ref['type']);
}

const REL_RE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ABS_RE = /^[a-z][a-z0-9+.-]*:\/\/.*\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Splits a reference string into the columns stored for it. */
export function parseReference(r: string): Omit<ReferenceEntry, 'kind' | 'param'> {
  const rel = REL_RE.exec(r);
  if (rel !== null) return { targetType: rel[1]!, targetId: rel[2]!, url: null };
  const abs = ABS_RE.exec(r);
  if (abs !== null) return { targetType: abs[1]!, targetId: null, url: r };
  return { targetType: null, targetId: null, url: r };
}

/** Follows a compiled path from the resource root, flattening arrays and applying filters. */
function walk(resource: unknown, path: CompiledPath): unknown[] {
  let cur: unknown[] = [resource];
  for (const step of path.steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (!isObj(v)) continue;
      const x = v[step.key];
      if (x === undefined || x === null) continue;
      if (Array.isArray(x)) {
        for (const item of x) if (item !== undefined && item !== null) next.push(item);
      } else next.push(x);
    }
    cur = next;
    if (step.where !== undefined) {
      const { field, value } = step.where;
      cur = cur.filter((v) => isObj(v) && v[field] === value);
    }
    if (step.targetType !== undefined) {
      const t = step.targetType;
      cur = cur.filter((v) => isObj(v) && referenceTargetType(v) === t);
    }
    if (cur.length === 0) return cur;
  }
  return cur;
}

const NAME_PARTS = ['text', 'family', 'given', 'prefix', 'suffix'] as const;
const ADDRESS_PARTS = ['text', 'line', 'city', 'district', 'state', 'postalCode', 'country'] as const;

function pushString(out: IndexEntry[], seen: Set<string>, param: string, v: unknown): void {
  if (typeof v !== 'string' || v.length === 0) return;
  const key = `s\u0000${param}\u0000${v}`;
  if (seen.has(key)) return;
  seen.add(key);
  out.push({ kind: 'string', param, norm: normalizeString(v), exact: v });
}

function pushToken(
  out: IndexEntry[],
  seen: Set<string>,
  param: string,
  system: string | null,
  code: string | null,
  text: string | null,
): void {
  if (system === null && code === null && text === null) return;
  const norm = text === null ? null : normalizeString(text);
  const key = `t\u0000${param}\u0000${system ?? ''}\u0000${code ?? ''}\u0000${norm ?? ''}`;
  if (seen.has(key)) return;
  seen.add(key);
  out.push({ kind: 'token', param, system, code, text: norm });
}

function pushDate(out: IndexEntry[], param: string, range: DateRange | undefined): void {
  if (range !== undefined) out.push({ kind: 'date', param, low: range.low, high: range.high });
}

function periodRange(p: Obj): DateRange | undefined {
  const s = str(p['start']);
  const e = str(p['end']);
  if (s === null && e === null) return undefined;
  const low = s === null ? MIN_INSTANT : parseDateRange(s)?.low;
  const high = e === null ? MAX_INSTANT : parseDateRange(e)?.high;
  if (low === undefined || high === undefined) return undefined;
  return { low, high };
}

function extractValue(out: IndexEntry[], seen: Set<string>, def: SearchParamDef, valueType: string, v: unknown): void {
  const param = def.code;
  switch (def.type) {
    case 'string':
      if (valueType === 'HumanName' || valueType === 'Address') {
        if (!isObj(v)) return;
        for (const part of valueType === 'HumanName' ? NAME_PARTS : ADDRESS_PARTS) {
          const x = v[part];
          if (Array.isArray(x)) for (const item of x) pushString(out, seen, param, item);
          else pushString(out, seen, param, x);
        }
      } else pushString(out, seen, param, v);
      return;
    case 'token':
      if (typeof v === 'string') pushToken(out, seen, param, null, v.length > 0 ? v : null, null);
      else if (typeof v === 'boolean') pushToken(out, seen, param, null, v ? 'true' : 'false', null);
      else if (!isObj(v)) return;
      else if (valueType === 'CodeableConcept') {
        const codings = v['coding'];
        if (Array.isArray(codings))
          for (const c of codings) if (isObj(c)) pushToken(out, seen, param, str(c['system']), str(c['code']), str(c['display']));
        const text = str(v['text']);
        if (text !== null) pushToken(out, seen, param, null, null, text);
      } else if (valueType === 'Coding') pushToken(out, seen, param, str(v['system']), str(v['code']), str(v['display']));
      else if (valueType === 'Identifier') {
        const type = v['type'];
        pushToken(out, seen, param, str(v['system']), str(v['value']), isObj(type) ? str(type['text']) : null);
      } else if (valueType === 'ContactPoint') pushToken(out, seen, param, str(v['system']), str(v['value']), null);
      return;
    case 'reference': {
      let r: string | null;
      let declaredType: string | null = null;
      if (typeof v === 'string') r = str(v);
      else if (isObj(v)) {
        r = str(v['reference']);
        declaredType = str(v['type']);
      } else return;
      if (r === null || r.startsWith('#')) return; // contained references are not indexed
      const parsed = parseReference(r);
      out.push({ kind: 'reference', param, ...parsed, targetType: parsed.targetType ?? declaredType });
      return;
    }
    case 'date':
      if (typeof v === 'string') pushDate(out, param, parseDateRange(v));
      else if (!isObj(v)) return;
      else if (valueType === 'Period') pushDate(out, param, periodRange(v));
      else if (valueType === 'Timing') {
        const events = v['event'];
        if (Array.isArray(events)) for (const e of events) if (typeof e === 'string') pushDate(out, param, parseDateRange(e));
        const repeat = v['repeat'];
        const bounds = isObj(repeat) ? repeat['boundsPeriod'] : undefined;
        if (isObj(bounds)) pushDate(out, param, periodRange(bounds));
      }
      return;
    case 'quantity': {
      if (!isObj(v)) return;
      const value = v['value'];
      if (typeof value !== 'number' || !Number.isFinite(value)) return;
      out.push({ kind: 'quantity', param, value, system: str(v['system']), code: str(v['code']), unit: str(v['unit']) });
      return;
    }
    case 'uri':
      if (typeof v === 'string' && v.length > 0) out.push({ kind: 'uri', param, uri: v });
      return;
  }
}

/** All index rows of a resource (empty for resource types without compiled parameters). */
export function extractIndexEntries(resource: Resource, defs: SearchDefinitions = getSearchDefinitions()): IndexEntry[] {
  const params = defs.byType.get(resource.resourceType);
  const out: IndexEntry[] = [];
  if (params === undefined) return out;
  const seen = new Set<string>();
  for (const def of params.values()) {
    if (def.special !== undefined) continue;
    for (const path of def.paths) {
      const values = walk(resource, path);
      for (const v of values) extractValue(out, seen, def, path.valueType, v);
    }
  }
  return out;
}
