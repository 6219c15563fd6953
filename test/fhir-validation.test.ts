/**
 * FHIR R4 validation (src/fhir/validation) against the precompiled validators generated from the official
 * FHIR JSON schema (scripts/gen-fhir-validators.mjs):
 *
 * - every resource under test/fixtures/fhir/valid/ (realistic R4 resources of every supported type, with
 *   LOINC/SNOMED/RxNorm/CVX codes, choice types, extensions, contained resources, `_x` siblings) passes;
 * - every case under test/fixtures/fhir/invalid/ fails with an issue of the expected code whose
 *   expression names the offending element;
 * - rules beyond the schema: non-object input, depth, control characters, ids, resource types;
 * - random junk never throws; collectReferences finds every Reference.reference.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  MAX_DEPTH,
  SUPPORTED_RESOURCE_TYPES,
  collectReferences,
  validateResource,
  type ValidationResult,
} from '../src/fhir/validation/validate.js';

// dist/test/ → repository root
const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = join(root, 'test', 'fixtures', 'fhir');

function readDir(dir: string): [string, unknown][] {
  return readdirSync(join(fixtures, dir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(join(fixtures, dir, f), 'utf8')) as unknown]);
}

function issuesOf(r: ValidationResult): { code: string; expression: string | undefined; diagnostics: string }[] {
  assert.equal(r.ok, false, 'expected the resource to be rejected');
  if (r.ok) return [];
  return r.issues.map((i) => ({ code: i.code, expression: i.expression?.[0], diagnostics: i.diagnostics ?? '' }));
}

function expectIssue(value: unknown, code: string, expression: string | undefined): string {
  const issues = issuesOf(validateResource(value));
  const hit = issues.find((i) => i.code === code && i.expression === expression);
  assert.ok(hit, `expected ${code} at ${String(expression)}, got ${JSON.stringify(issues)}`);
  for (const i of issues) assert.ok(i.diagnostics.length > 0);
  return hit.diagnostics;
}

const valid = readDir('valid');
const observation = valid.find(([f]) => f === 'observation-1.json')?.[1] as Record<string, unknown>;

describe('FHIR validation: valid corpus', () => {
  it('has at least two fixtures for every supported type', () => {
    for (const type of SUPPORTED_RESOURCE_TYPES) {
      const n = valid.filter(([, r]) => (r as { resourceType: string }).resourceType === type).length;
      assert.ok(n >= 2, `${type}: ${n} fixtures`);
    }
  });
  for (const [file, resource] of valid) {
    it(`accepts ${file}`, () => {
      const r = validateResource(resource);
      assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues, null, 2));
      assert.equal(r.resource, resource);
    });
  }
});

describe('FHIR validation: invalid corpus', () => {
  for (const [file, data] of readDir('invalid')) {
    const c = data as { description: string; expectCode: string; expectExpression: string; resource: unknown };
    it(`rejects ${file}: ${c.description}`, () => {
      expectIssue(c.resource, c.expectCode, c.expectExpression);
    });
  }
});

describe('FHIR validation: messages', () => {
  it('names unknown properties, enums, bad dates and wrong types', () => {
    assert.match(
      expectIssue({ ...observation, foo: 1 }, 'structure', 'Observation.foo'),
      /unknown property "foo" at Observation/,
    );
    assert.match(expectIssue({ ...observation, status: 'x' }, 'value', 'Observation.status'), /status must be one of .*final/);
    assert.match(
      expectIssue({ ...observation, effectiveDateTime: '2024-1-1' }, 'value', 'Observation.effectiveDateTime'),
      /effectiveDateTime is not a valid dateTime/,
    );
    assert.match(expectIssue({ ...observation, code: 'hr' }, 'structure', 'Observation.code'), /must be an object/);
  });
  it('reports every problem, not only the first', () => {
    const issues = issuesOf(validateResource({ ...observation, foo: 1, status: 'x', code: 'hr' }));
    assert.deepEqual(issues.map((i) => i.expression).sort(), ['Observation.code', 'Observation.foo', 'Observation.status']);
  });
});

describe('FHIR validation: rules beyond the schema', () => {
  it('rejects non-objects', () => {
    for (const v of [null, undefined, 1, 'Patient', true, [], [observation]]) expectIssue(v, 'structure', undefined);
  });
  it('rejects nesting deeper than MAX_DEPTH and accepts shallower', () => {
    const nest = (levels: number): Record<string, unknown> => {
      const top: Record<string, unknown> = { url: 'http://example.org/x' };
      let cur = top;
      for (let i = 0; i < levels; i++) {
        const next: Record<string, unknown> = { url: 'http://example.org/x' };
        cur['extension'] = [next];
        cur = next;
      }
      cur['valueString'] = 'leaf';
      return top;
    };
    // resource (1) → extension array (2) → extension (3) → … each extension level adds 2.
    const ok = validateResource({ resourceType: 'Patient', extension: [nest(28)] });
    assert.ok(ok.ok, JSON.stringify(ok));
    const r = issuesOf(validateResource({ resourceType: 'Patient', extension: [nest(MAX_DEPTH)] }));
    assert.ok(r.some((i) => i.code === 'structure' && /nesting deeper/.test(i.diagnostics)));
    // Far deeper than any stack: still a result, not a crash.
    assert.equal(validateResource({ resourceType: 'Patient', extension: [nest(20000)] }).ok, false);
  });
  it('rejects control characters but allows tab, CR, LF', () => {
    const note = (text: string) => ({ ...observation, note: [{ text }] });
    assert.ok(validateResource(note('line 1\r\nline 2\tindented')).ok);
    for (const c of ['\u0000', '\u0007', '\u001b', '\u007f', '\u0085']) {
      expectIssue(note(`a${c}b`), 'value', 'Observation.note[0].text');
    }
  });
  it('checks ids', () => {
    for (const id of ['a', 'A-1.b', '0'.repeat(64)]) assert.ok(validateResource({ ...observation, id }).ok, id);
    for (const id of ['', 'a b', 'a/b', 'a_b', '0'.repeat(65), 7]) expectIssue({ ...observation, id }, 'value', 'Observation.id');
  });
  it('accepts only supported types at the top level, more inside contained', () => {
    expectIssue({ resourceType: 'Medication', code: { text: 'x' } }, 'not-supported', 'Medication.resourceType');
    expectIssue(
      { resourceType: 'Patient', contained: [{ resourceType: 'Account' }] },
      'not-supported',
      'Patient.contained[0].resourceType',
    );
    expectIssue({ resourceType: 'Patient', contained: [{ id: 'x' }] }, 'required', 'Patient.contained[0].resourceType');
    expectIssue({ resourceType: 7 }, 'structure', 'Resource.resourceType');
  });
  it('validates Bundle entries with their own type, nested bundles included', () => {
    const inner = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...observation, status: 'bad' } }] };
    const outer = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: observation }, { resource: inner }] };
    expectIssue(outer, 'value', 'Bundle.entry[1].resource.entry[0].resource.status');
    expectIssue(
      { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Claim' } }] },
      'not-supported',
      'Bundle.entry[0].resource.resourceType',
    );
  });
  it('accepts null entries in `_x` arrays only', () => {
    const name = { family: 'Ng', given: ['A', 'B'], _given: [null, { extension: [{ url: 'http://e.org/q', valueCode: 'CL' }] }] };
    assert.ok(validateResource({ resourceType: 'Patient', name: [name] }).ok);
    expectIssue({ resourceType: 'Patient', name: [{ given: [null] }] }, 'structure', 'Patient.name[0].given[0]');
  });
});

describe('FHIR validation: robustness', () => {
  it('never throws on random junk', () => {
    const junk = fc.oneof(
      fc.anything({ maxDepth: 6 }),
      fc.dictionary(
        fc.constantFrom('resourceType', 'id', 'status', 'code', 'entry', 'contained', 'extension', 'x'),
        fc.anything(),
        {
          maxKeys: 6,
        },
      ),
      fc.record({
        resourceType: fc.constantFrom(...SUPPORTED_RESOURCE_TYPES, 'Medication', 'Nope'),
        id: fc.oneof(fc.string(), fc.integer()),
        status: fc.anything(),
        entry: fc.array(fc.record({ resource: fc.anything() })),
        contained: fc.array(fc.anything()),
      }),
    );
    fc.assert(
      fc.property(junk, (v) => {
        const r = validateResource(v);
        assert.ok(r.ok === true || (r.issues.length > 0 && r.issues.every((i) => i.severity === 'error')));
      }),
      { numRuns: 2000 },
    );
  });
  it('never throws on mutations of valid resources, and reports a path for each', () => {
    const paths = (v: unknown, p: (string | number)[] = []): (string | number)[][] =>
      typeof v === 'object' && v !== null
        ? [p, ...Object.entries(v).flatMap(([k, c]) => paths(c, [...p, Array.isArray(v) ? Number(k) : k]))]
        : [p];
    const values = valid.map(([, r]) => r);
    fc.assert(
      fc.property(fc.constantFrom(...values), fc.nat(), fc.anything({ maxDepth: 2 }), (resource, pick, replacement) => {
        const copy = structuredClone(resource) as Record<string, unknown>;
        const all = paths(copy).filter((p) => p.length > 1);
        const path = all[pick % all.length];
        if (!path) return;
        let parent: unknown = copy;
        for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
        (parent as Record<string | number, unknown>)[path[path.length - 1]!] = replacement;
        const r = validateResource(copy);
        if (!r.ok) assert.ok(r.issues.every((i) => typeof i.diagnostics === 'string'));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('collectReferences', () => {
  it('lists every Reference.reference with its path', () => {
    const mr = valid.find(([f]) => f === 'medreq-2.json')?.[1] as Record<string, unknown>;
    assert.deepEqual(collectReferences(mr), [
      { path: 'MedicationRequest.medicationReference.reference', reference: '#med0310' },
      { path: 'MedicationRequest.subject.reference', reference: 'Patient/pat-2' },
    ]);
    const dr = valid.find(([f]) => f === 'diagreport-1.json')?.[1] as Record<string, unknown>;
    assert.deepEqual(
      collectReferences(dr).map((r) => r.path),
      [
        'DiagnosticReport.subject.reference',
        'DiagnosticReport.performer[0].reference',
        'DiagnosticReport.result[0].reference',
        'DiagnosticReport.result[1].reference',
      ],
    );
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: observation }] };
    assert.deepEqual(
      collectReferences(bundle).map((r) => r.path),
      [
        'Bundle.entry[0].resource.subject.reference',
        'Bundle.entry[0].resource.encounter.reference',
        'Bundle.entry[0].resource.performer[0].reference',
      ],
    );
  });
  it('finds references in extensions and contained resources', () => {
    const p = {
      resourceType: 'Patient',
      extension: [{ url: 'http://e.org/x', valueReference: { reference: 'Organization/o1' } }],
      contained: [{ resourceType: 'Observation', id: 'c', status: 'final', code: { text: 'x' }, subject: { reference: '#' } }],
    };
    assert.deepEqual(collectReferences(p), [
      { path: 'Patient.extension[0].valueReference.reference', reference: 'Organization/o1' },
      { path: 'Patient.contained[0].subject.reference', reference: '#' },
    ]);
  });
});

describe('FHIR validation: speed', () => {
  it('validates an Observation in well under 100 µs', () => {
    for (let i = 0; i < 2000; i++) validateResource(observation);
    const n = 20000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) validateResource(observation);
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    assert.ok(us < 100, `${us.toFixed(1)} µs per Observation`);
  });
});
