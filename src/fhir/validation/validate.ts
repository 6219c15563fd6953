// FHIR R4 resource validation: the official FHIR JSON schema (patched and precompiled at build time by
// scripts/gen-fhir-validators.mjs) plus the rules the schema cannot express: supported resource types,
// bounded nesting, no control characters, and per-type validation of contained resources and Bundle
// entries (the schema's Resource is a stub). Every failure is an OperationOutcome issue with a path.
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { generatedValidators } from './generated.js';
import { ajvErrorToIssue, issue } from './issues.js';

export type ValidationResult = { ok: true; resource: Resource } | { ok: false; issues: OperationOutcomeIssue[] };

/** Resource types MedLedger stores (keep in sync with SUPPORTED in scripts/gen-fhir-validators.mjs). */
export const SUPPORTED_RESOURCE_TYPES = [
  'Patient',
  'Practitioner',
  'PractitionerRole',
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
  'Binary',
  'Provenance',
  'Consent',
  'AuditEvent',
  'Bundle',
  'OperationOutcome',
] as const;
export type SupportedResourceType = (typeof SUPPORTED_RESOURCE_TYPES)[number];

/** Types accepted only inside `contained` (e.g. the Medication of a MedicationRequest). */
export const CONTAINED_ONLY_RESOURCE_TYPES = [
  'Medication',
  'Device',
  'Location',
  'RelatedPerson',
  'Specimen',
  'Substance',
  'Goal',
] as const;

/** Deepest nesting of objects/arrays accepted (a resource is depth 1). */
export const MAX_DEPTH = 64;
/** Issues reported per validation, at most; the rest are summarised in one more issue. */
export const MAX_ISSUES = 100;

const TOP_LEVEL = new Set<string>(SUPPORTED_RESOURCE_TYPES);
const CONTAINABLE = new Set<string>([...SUPPORTED_RESOURCE_TYPES, ...CONTAINED_ONLY_RESOURCE_TYPES]);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
// C0 controls other than \t \n \r, DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates an untrusted value as a FHIR R4 resource of a supported type. Never throws on bad input. */
export function validateResource(value: unknown): ValidationResult {
  const issues: OperationOutcomeIssue[] = [];
  if (!isObject(value)) {
    issues.push(issue('structure', `a resource must be a JSON object, got ${kindOf(value)}`));
    return { ok: false, issues };
  }
  const type = value['resourceType'];
  const base = typeof type === 'string' && /^[A-Za-z]{1,64}$/.test(type) ? type : 'Resource';
  // Structure first: a value that is not plain, bounded JSON is not handed to the schema validators.
  if (!checkJson(value, base, 1, issues)) return { ok: false, issues: cap(issues) };
  validateAt(value, base, TOP_LEVEL, issues);
  return issues.length === 0 ? { ok: true, resource: value as unknown as Resource } : { ok: false, issues: cap(issues) };
}

function validateAt(res: Json, path: string, allowed: ReadonlySet<string>, issues: OperationOutcomeIssue[]): void {
  const type = res['resourceType'];
  if (type === undefined) {
    issues.push(issue('required', `missing resourceType at ${path}`, `${path}.resourceType`));
    return;
  }
  if (typeof type !== 'string') {
    issues.push(issue('structure', `resourceType must be a string at ${path}`, `${path}.resourceType`));
    return;
  }
  if (!allowed.has(type)) {
    const what = allowed === TOP_LEVEL ? 'supported' : 'supported as a contained resource';
    issues.push(
      issue(
        'not-supported',
        `resource type ${JSON.stringify(type)} is not ${what}; supported: ${[...allowed].join(', ')}`,
        `${path}.resourceType`,
      ),
    );
    return;
  }
  const id = res['id'];
  if (id !== undefined && (typeof id !== 'string' || !ID.test(id))) {
    issues.push(issue('value', `id must be 1-64 characters of A-Z a-z 0-9 - . (got ${kindOf(id)})`, `${path}.id`));
  }
  const validator = generatedValidators()[type];
  if (!validator) throw new Error(`no generated validator for ${type}: regenerate with scripts/gen-fhir-validators.mjs`);
  if (!validator(res)) {
    for (const err of validator.errors ?? []) {
      // The id rule above already reported a bad id.
      if (err.instancePath === '/id' && id !== undefined) continue;
      const i = ajvErrorToIssue(err, path, res);
      if (i) issues.push(i);
    }
  }
  const contained = res['contained'];
  if (Array.isArray(contained)) {
    contained.forEach((c: unknown, i) => {
      if (!isObject(c)) return; // reported by the schema
      const at = `${path}.contained[${i}]`;
      if (c['contained'] !== undefined) {
        issues.push(issue('invariant', 'a contained resource must not contain resources (dom-2)', `${at}.contained`));
      }
      validateAt(c, at, CONTAINABLE, issues);
    });
  }
  if (type === 'Bundle' && Array.isArray(res['entry'])) {
    (res['entry'] as unknown[]).forEach((e, i) => {
      if (isObject(e) && isObject(e['resource'])) validateAt(e['resource'], `${path}.entry[${i}].resource`, TOP_LEVEL, issues);
    });
  }
}

/** Plain JSON only (no undefined, functions, NaN, class instances), nesting ≤ MAX_DEPTH, no control chars. */
function checkJson(v: unknown, path: string, depth: number, issues: OperationOutcomeIssue[]): boolean {
  if (issues.length > MAX_ISSUES) return false;
  switch (typeof v) {
    case 'string':
      if (CONTROL.test(v)) {
        issues.push(issue('value', 'strings must not contain control characters other than tab, CR and LF', path));
        return false;
      }
      return true;
    case 'boolean':
      return true;
    case 'number':
      if (Number.isFinite(v)) return true;
      issues.push(issue('structure', `${String(v)} is not a JSON number`, path));
      return false;
    case 'object': {
      if (v === null) return true; // allowed in `_x` arrays; the schema rejects it elsewhere
      if (depth > MAX_DEPTH) {
        issues.push(issue('structure', `nesting deeper than ${MAX_DEPTH} levels`, path));
        return false;
      }
      let ok = true;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) ok = checkJson(v[i], `${path}[${i}]`, depth + 1, issues) && ok;
        return ok;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        issues.push(issue('structure', 'not a plain JSON object', path));
        return false;
      }
      for (const key of Object.keys(v)) {
        if (CONTROL.test(key)) {
          issues.push(issue('structure', 'property names must not contain control characters', path));
          ok = false;
          continue;
        }
        ok = checkJson((v as Json)[key], `${path}.${key}`, depth + 1, issues) && ok;
      }
      return ok;
    }
    default:
      issues.push(issue('structure', `${typeof v} is not a JSON value`, path));
      return false;
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return typeof v;
}

function cap(issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] {
  if (issues.length <= MAX_ISSUES) return issues;
  const rest = issues.length - MAX_ISSUES;
  return [...issues.slice(0, MAX_ISSUES), issue('too-costly', `${rest} more issue(s) not shown`)];
}

/**
 * Every `Reference.reference` in a resource (including contained resources and Bundle entries), with
 * its FHIRPath-like location, e.g. `{ path: 'Observation.subject.reference', reference: 'Patient/123' }`.
 */
export function collectReferences(resource: Resource | Json): { path: string; reference: string }[] {
  const out: { path: string; reference: string }[] = [];
  const root = resource as Json;
  const base = typeof root['resourceType'] === 'string' ? root['resourceType'] : 'Resource';
  const walk = (v: unknown, path: string, depth: number): void => {
    if (typeof v !== 'object' || v === null || depth > MAX_DEPTH) return;
    if (Array.isArray(v)) {
      v.forEach((item: unknown, i) => walk(item, `${path}[${i}]`, depth + 1));
      return;
    }
    for (const [key, child] of Object.entries(v as Json)) {
      if (key === 'reference' && typeof child === 'string') out.push({ path: `${path}.reference`, reference: child });
      else walk(child, `${path}.${key}`, depth + 1);
    }
  };
  walk(root, base, 1);
  return out;
}
