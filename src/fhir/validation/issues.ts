// Turns ajv errors from the generated FHIR validators into OperationOutcome issues with FHIRPath-like
// expressions (`Observation.component[0].code`) and messages a person can act on.
import type { ErrorObject } from 'ajv';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

type IssueCode = OperationOutcomeIssue['code'];

export function issue(code: IssueCode, diagnostics: string, expression?: string): OperationOutcomeIssue {
  return expression === undefined
    ? { severity: 'error', code, diagnostics }
    : { severity: 'error', code, diagnostics, expression: [expression] };
}

/** Appends a JSON Pointer (`/component/0/code`) to a FHIRPath-like base (`Observation`). */
export function pointerToPath(base: string, pointer: string): string {
  if (pointer === '') return base;
  let path = base;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^(0|[1-9][0-9]*)$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return path;
}

/** The last named element of a path, for messages: `Observation.component[0].code` → `code`. */
function leaf(path: string): string {
  const m = /([^.[\]]+)(\[\d+\])*$/.exec(path);
  return m?.[1] ?? path;
}

// The FHIR primitive type behind each pattern in the schema, for "is not a valid dateTime".
const PATTERN_TYPES: Record<string, string> = {
  '^[A-Za-z0-9\\-\\.]{1,64}$': 'id (1-64 of A-Z a-z 0-9 - .)',
  '^[ \\r\\n\\t\\S]+$': 'string (non-empty; no whitespace other than space, tab, CR, LF)',
  '^\\S*$': 'uri (no whitespace)',
  '^[^\\s]+(\\s[^\\s]+)*$': 'code (no leading, trailing or repeated whitespace)',
  '^urn:oid:[0-2](\\.(0|[1-9][0-9]*))+$': 'oid (urn:oid:…)',
  '^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$': 'uuid (urn:uuid:…, lower case)',
  '^(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+$': 'base64Binary',
  '^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?$': 'time (hh:mm:ss)',
  '\\S': 'xhtml (non-empty)',
  '^-?([0]|([1-9][0-9]*))$': 'integer64',
};
function patternType(pattern: string): string {
  const known = PATTERN_TYPES[pattern];
  if (known) return known;
  if (pattern.includes('T([01][0-9]|2[0-3])')) {
    return pattern.includes(')?)?)?$')
      ? 'dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)'
      : 'instant (YYYY-MM-DDThh:mm:ss with time zone)';
  }
  if (pattern.startsWith('^([0-9]([0-9]([0-9][1-9]')) return 'date (YYYY, YYYY-MM or YYYY-MM-DD)';
  return `value matching ${pattern}`;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'an object (a complex element)',
  array: 'an array',
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean (true or false)',
};

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

function valueAt(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

/** One ajv error → one issue (or none, for wrapper errors whose cause is reported separately). */
export function ajvErrorToIssue(err: ErrorObject, base: string, root: unknown): OperationOutcomeIssue | undefined {
  const path = pointerToPath(base, err.instancePath);
  const name = leaf(path);
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties': {
      const prop = String(p['additionalProperty']);
      return issue('structure', `unknown property "${prop}" at ${path}`, `${path}.${prop}`);
    }
    case 'required':
    case 'fhirRequired': {
      const prop = String(p['missingProperty']);
      return issue('required', `missing required element "${prop}" at ${path}`, `${path}.${prop}`);
    }
    case 'fhirChoice': {
      const variants = String(p['variants']).split(', ');
      const obj = valueAt(root, err.instancePath) as Record<string, unknown> | undefined;
      const present = variants.filter((v) => obj?.[v] !== undefined);
      return issue(
        'structure',
        `only one of ${String(p['choice'])}[x] may be present at ${path}, found ${present.join(', ')}`,
        `${path}.${present[1] ?? present[0] ?? String(p['choice'])}`,
      );
    }
    case 'enum': {
      const allowed = (p['allowedValues'] as unknown[]).map(String);
      const got = describe(valueAt(root, err.instancePath));
      return issue('value', `${name} must be one of ${allowed.join(', ')}; got ${got}`, path);
    }
    case 'const':
      return issue('value', `${name} must be ${JSON.stringify(p['allowedValue'])}`, path);
    case 'pattern':
      return issue(
        'value',
        `${name} is not a valid ${patternType(String(p['pattern']))}: ${describe(valueAt(root, err.instancePath))}`,
        path,
      );
    case 'type': {
      // The `null` branch of a `_x` array entry (null or an Element): the Element branch reports instead.
      if (err.schemaPath.endsWith('/anyOf/0/type') && p['type'] === 'null') return undefined;
      const want = String(p['type']);
      const got = describe(valueAt(root, err.instancePath));
      return issue('structure', `${name} must be ${TYPE_WORDS[want] ?? want}, got ${got}`, path);
    }
    case 'minimum':
    case 'maximum': {
      const op = err.keyword === 'minimum' ? '>=' : '<=';
      return issue('value', `${name} must be ${op} ${String(p['limit'])}`, path);
    }
    case 'minItems':
      return issue('structure', `${name} must not be an empty array`, path);
    case 'minProperties':
      return issue('structure', `${name} must not be an empty object`, path);
    case 'anyOf':
      // `_x` array entries: null or an Element; the Element branch's errors say what is wrong.
      return undefined;
    default:
      return issue('invalid', `${name}: ${err.message ?? err.keyword}`, path);
  }
}
