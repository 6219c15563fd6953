/**
 * FHIR search (src/fhir/search/): parameter table, extraction, parsing, and end-to-end searches
 * against an in-memory SQLite index compared with a plain in-test filter over the same resources.
 */
import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import fc from 'fast-check';
import Database from 'better-sqlite3-multiple-ciphers';
import type {
  AllergyIntolerance,
  CarePlan,
  Condition,
  DiagnosticReport,
  DocumentReference,
  Encounter,
  Immunization,
  MedicationRequest,
  Observation,
  Organization,
  Patient,
  Practitioner,
  Procedure,
  Provenance,
  Resource,
} from '@medplum/fhirtypes';
import {
  IndexWriter,
  SEARCH_DDL,
  SEARCH_RESOURCE_TYPES,
  BROAD_DRIVER_ROWS,
  buildSearchSql,
  choosePlan,
  currentRowOf,
  encodeCursor,
  extractIndexEntries,
  getSearchDefinitions,
  parseDateRange,
  parseSearch,
  runSearch,
  supportedSearchParams,
  type IndexEntry,
  type SearchQuery,
} from '../src/fhir/search/index.js';

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const UCUM = 'http://unitsofmeasure.org';

// ---------------------------------------------------------------------------------------------
// Deterministic synthetic data
// ---------------------------------------------------------------------------------------------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAMILIES = ['Müller', 'Smith', 'García', 'Nguyen', 'Okafor', 'Smithson', "O'Brien", 'Ångström'];
const GIVENS = ['Anna', 'José', 'Li', 'Chloé', 'Sam', 'Ann', 'Jean-Luc'];
const CITIES = ['Zürich', 'Boston', 'Lagos', 'São Paulo'];
const CODES = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', ucum: '/min' },
  { code: '8480-6', display: 'Systolic blood pressure', unit: 'mmHg', ucum: 'mm[Hg]' },
  { code: '29463-7', display: 'Body weight', unit: 'kg', ucum: 'kg' },
  { code: '2339-0', display: 'Glucose', unit: 'mg/dL', ucum: 'mg/dL' },
];
const STATUSES = ['final', 'amended', 'preliminary'] as const;

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function makeData(): Resource[] {
  const r = rng(42);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const out: Resource[] = [];
  const updated = (i: number): { lastUpdated: string } => ({
    lastUpdated: `2024-0${1 + (i % 9)}-${pad(1 + (i % 28))}T${pad(i % 24)}:00:00.000Z`,
  });
  out.push({
    resourceType: 'Organization',
    id: 'org1',
    meta: updated(0),
    name: 'General Hospital',
    alias: ['GH'],
    active: true,
    identifier: [{ system: 'urn:oid:1.2.3', value: 'ORG-1' }],
    address: [{ city: 'Boston', state: 'MA', country: 'US' }],
  } satisfies Organization);
  for (let i = 0; i < 5; i++)
    out.push({
      resourceType: 'Practitioner',
      id: `pr${i}`,
      meta: updated(i),
      name: [{ family: pick(FAMILIES), given: [pick(GIVENS)], prefix: ['Dr.'] }],
      gender: i % 2 === 0 ? 'female' : 'male',
      telecom: [{ system: 'email', value: `pr${i}@gh.example` }],
    } satisfies Practitioner);
  for (let i = 0; i < 30; i++) {
    const p: Patient = {
      resourceType: 'Patient',
      id: `p${i}`,
      meta: updated(i),
      identifier: [{ system: 'urn:mrn', value: `MRN${1000 + i}` }],
      active: i % 7 !== 0,
      name: [{ use: 'official', family: FAMILIES[i % FAMILIES.length]!, given: [GIVENS[i % GIVENS.length]!, 'Q'] }],
      gender: (['male', 'female', 'other'] as const)[i % 3]!,
      address: [{ line: [`${i} Main St`], city: CITIES[i % CITIES.length]!, postalCode: `0${2100 + i}` }],
      telecom: [
        { system: 'phone', value: `555-01${pad(i)}` },
        ...(i % 2 === 0 ? [{ system: 'email' as const, value: `p${i}@mail.example` }] : []),
      ],
      managingOrganization: { reference: 'Organization/org1' },
      generalPractitioner: [{ reference: `Practitioner/pr${i % 5}` }],
    };
    if (i % 5 !== 3) p.birthDate = i % 4 === 0 ? `19${50 + i}` : `19${50 + i}-${pad(1 + (i % 12))}-${pad(1 + (i % 28))}`;
    out.push(p);
  }
  for (let i = 0; i < 60; i++)
    out.push({
      resourceType: 'Encounter',
      id: `e${i}`,
      meta: updated(i),
      status: i % 3 === 0 ? 'in-progress' : 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: i % 2 ? 'AMB' : 'IMP' },
      subject: { reference: `Patient/p${i % 30}` },
      participant: [{ individual: { reference: `Practitioner/pr${i % 5}` } }],
      period: {
        start: `2023-${pad(1 + (i % 12))}-10T08:00:00Z`,
        ...(i % 4 === 0 ? {} : { end: `2023-${pad(1 + (i % 12))}-12T08:00:00Z` }),
      },
      serviceProvider: { reference: 'Organization/org1' },
      ...(i % 5 === 0 ? { length: { value: 30 + i, unit: 'min', system: UCUM, code: 'min' } } : {}),
    } satisfies Encounter);
  for (let i = 0; i < 300; i++) {
    const c = pick(CODES);
    const year = 2020 + (i % 5);
    const dateKind = i % 6;
    const o: Observation = {
      resourceType: 'Observation',
      id: `o${i}`,
      meta: updated(i),
      status: pick(STATUSES),
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: LOINC, code: c.code, display: c.display }], text: c.display },
      subject: { reference: i % 50 === 49 ? `Group/g1` : `Patient/p${i % 30}` },
      encounter: { reference: `Encounter/e${i % 60}` },
      performer: [{ reference: `Practitioner/pr${i % 5}` }],
    };
    if (dateKind === 0) o.effectiveDateTime = `${year}`;
    else if (dateKind === 1) o.effectiveDateTime = `${year}-${pad(1 + (i % 12))}`;
    else if (dateKind === 2) o.effectiveDateTime = `${year}-${pad(1 + (i % 12))}-${pad(1 + (i % 28))}`;
    else if (dateKind === 3) o.effectiveDateTime = `${year}-${pad(1 + (i % 12))}-${pad(1 + (i % 28))}T${pad(i % 24)}:15:00+02:00`;
    else if (dateKind === 4)
      o.effectivePeriod = { start: `${year}-03-01T00:00:00Z`, ...(i % 12 === 4 ? {} : { end: `${year}-03-05T00:00:00Z` }) };
    if (i % 10 !== 7) o.valueQuantity = { value: Math.round(r() * 2000) / 10, unit: c.unit, system: UCUM, code: c.ucum };
    else o.valueString = 'Too high to measure';
    out.push(o);
  }
  for (let i = 0; i < 40; i++)
    out.push({
      resourceType: 'Condition',
      id: `c${i}`,
      meta: updated(i),
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: i % 4 ? 'active' : 'resolved' }],
      },
      code: {
        coding: [
          { system: SNOMED, code: i % 2 ? '44054006' : '38341003', display: i % 2 ? 'Diabetes mellitus type 2' : 'Hypertension' },
        ],
      },
      subject: { reference: `Patient/p${i % 30}` },
      ...(i % 3 === 0
        ? { onsetDateTime: `2019-0${1 + (i % 9)}-01` }
        : i % 3 === 1
          ? { onsetAge: { value: 40 + i, unit: 'a', system: UCUM, code: 'a' } }
          : {}),
      recordedDate: `2021-0${1 + (i % 9)}-15`,
    } satisfies Condition);
  for (let i = 0; i < 15; i++) {
    out.push({
      resourceType: 'AllergyIntolerance',
      id: `a${i}`,
      meta: updated(i),
      patient: { reference: `Patient/p${i}` },
      code: { coding: [{ system: SNOMED, code: '91936005', display: 'Penicillin allergy' }] },
      criticality: i % 2 ? 'high' : 'low',
      reaction: [{ manifestation: [{ text: 'Hives' }], severity: 'mild' }],
    } satisfies AllergyIntolerance);
    out.push({
      resourceType: 'MedicationRequest',
      id: `m${i}`,
      meta: updated(i),
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '860975' }] },
      subject: { reference: `Patient/p${i}` },
      requester: { reference: `Practitioner/pr${i % 5}` },
      authoredOn: `2022-05-${pad(1 + i)}`,
    } satisfies MedicationRequest);
    out.push({
      resourceType: 'Immunization',
      id: `im${i}`,
      meta: updated(i),
      status: 'completed',
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '208' }] },
      patient: { reference: `Patient/p${i}` },
      occurrenceDateTime: `2021-0${1 + (i % 9)}-03`,
      lotNumber: `LOT-${i}`,
    } satisfies Immunization);
    out.push({
      resourceType: 'Procedure',
      id: `pc${i}`,
      meta: updated(i),
      status: 'completed',
      code: { coding: [{ system: SNOMED, code: '80146002', display: 'Appendectomy' }] },
      subject: { reference: `Patient/p${i}` },
      performedPeriod: { start: '2020-01-01T10:00:00Z', end: '2020-01-01T12:00:00Z' },
    } satisfies Procedure);
    out.push({
      resourceType: 'DiagnosticReport',
      id: `dr${i}`,
      meta: updated(i),
      status: 'final',
      code: { coding: [{ system: LOINC, code: '58410-2', display: 'CBC panel' }] },
      subject: { reference: `Patient/p${i}` },
      result: [{ reference: `Observation/o${i}` }],
      issued: `2022-02-0${1 + (i % 9)}T10:00:00Z`,
    } satisfies DiagnosticReport);
    out.push({
      resourceType: 'DocumentReference',
      id: `d${i}`,
      meta: updated(i),
      status: 'current',
      type: { coding: [{ system: LOINC, code: '34133-9', display: 'Summary of episode note' }] },
      subject: { reference: `Patient/p${i}` },
      description: `Discharge summary ${i}`,
      content: [{ attachment: { contentType: 'application/pdf', url: `https://docs.example/d${i}.pdf` } }],
    } satisfies DocumentReference);
    out.push({
      resourceType: 'CarePlan',
      id: `cp${i}`,
      meta: updated(i),
      status: 'active',
      intent: 'plan',
      subject: { reference: `Patient/p${i}` },
      period: { start: '2023-01-01' },
      addresses: [{ reference: `Condition/c${i}` }],
    } satisfies CarePlan);
  }
  for (let i = 0; i < 20; i++)
    out.push({
      resourceType: 'Provenance',
      id: `pv${i}`,
      meta: updated(i),
      target: [{ reference: `Observation/o${i}` }, ...(i < 5 ? [{ reference: `Patient/p${i}` }] : [])],
      recorded: `2024-02-${pad(1 + i)}T09:30:00Z`,
      agent: [{ who: { reference: `Practitioner/pr${i % 5}` } }],
    } satisfies Provenance);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------

describe('definitions', () => {
  it('loads quickly and lists every required type', () => {
    const defs = getSearchDefinitions();
    assert.ok(defs.loadMs < 1000, `load took ${defs.loadMs} ms`);
    for (const t of SEARCH_RESOURCE_TYPES) {
      const codes = supportedSearchParams(t).map((p) => p.code);
      assert.ok(codes.includes('_id') && codes.includes('_lastUpdated'), t);
    }
    const obs = supportedSearchParams('Observation').map((p) => p.code);
    for (const c of ['code', 'patient', 'subject', 'date', 'value-quantity', 'status', 'category', 'value-string'])
      assert.ok(obs.includes(c), c);
    const pat = supportedSearchParams('Patient').map((p) => p.code);
    for (const c of ['name', 'family', 'given', 'birthdate', 'identifier', 'email', 'phone', 'address-city', 'gender'])
      assert.ok(pat.includes(c), c);
    const prov = supportedSearchParams('Provenance').map((p) => p.code);
    for (const c of ['target', 'agent', 'recorded']) assert.ok(prov.includes(c), c);
    // unsupported ones are not listed
    assert.ok(!pat.includes('phonetic') && !pat.includes('deceased'));
    assert.ok(!obs.includes('code-value-quantity'));
    assert.ok(defs.droppedParams.some((d) => d.code === 'code-value-quantity'));
  });

  it('compiles choice elements, as-casts and resolve() filters to plain paths', () => {
    const obs = getSearchDefinitions().byType.get('Observation')!;
    assert.deepEqual(
      obs.get('date')!.paths.map((p) => p.steps[0]!.key),
      ['effectiveDateTime', 'effectivePeriod', 'effectiveTiming', 'effectiveInstant'],
    );
    assert.deepEqual(obs.get('value-quantity')!.paths, [{ steps: [{ key: 'valueQuantity' }], valueType: 'Quantity' }]);
    assert.deepEqual(obs.get('patient')!.paths, [{ steps: [{ key: 'subject', targetType: 'Patient' }], valueType: 'Reference' }]);
    assert.deepEqual(
      obs.get('value-string')!.paths.map((p) => p.steps.map((s) => s.key).join('.')),
      ['valueString', 'valueCodeableConcept.text'],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------------------------

const rows = (entries: IndexEntry[], param: string): IndexEntry[] => entries.filter((e) => e.param === param);

describe('extraction', () => {
  it('dates cover their precision', () => {
    assert.deepEqual(parseDateRange('2024'), { low: Date.UTC(2024, 0, 1), high: Date.UTC(2025, 0, 1) - 1 });
    assert.deepEqual(parseDateRange('2024-02'), { low: Date.UTC(2024, 1, 1), high: Date.UTC(2024, 2, 1) - 1 });
    assert.deepEqual(parseDateRange('2024-02-29'), { low: Date.UTC(2024, 1, 29), high: Date.UTC(2024, 2, 1) - 1 });
    assert.equal(parseDateRange('2023-02-29'), undefined);
    assert.deepEqual(parseDateRange('2024-01-01T10:00:00+02:00'), {
      low: Date.UTC(2024, 0, 1, 8),
      high: Date.UTC(2024, 0, 1, 8) + 999,
    });
    assert.deepEqual(parseDateRange('2024-01-01T10:00Z'), {
      low: Date.UTC(2024, 0, 1, 10),
      high: Date.UTC(2024, 0, 1, 10, 1) - 1,
    });
    assert.deepEqual(parseDateRange('2024-01-01T10:00:00.5Z'), {
      low: Date.UTC(2024, 0, 1, 10, 0, 0, 500),
      high: Date.UTC(2024, 0, 1, 10, 0, 0, 599),
    });
    for (const bad of ['', '24', '2024-13', '2024-1-1', '2024-01-01T25:00Z', 'x2024', '2024-01-01T10:00:00+15:00'])
      assert.equal(parseDateRange(bad), undefined, bad);
  });

  it('Patient: every name and address part, tokens, references, dates', () => {
    const p: Patient = {
      resourceType: 'Patient',
      id: 'x',
      meta: { lastUpdated: '2024-05-01T00:00:00Z', tag: [{ system: 'urn:t', code: 'demo' }] },
      name: [{ family: 'Ångström', given: ['José', 'Q'], text: 'José Ångström', prefix: ['Dr'] }],
      address: [{ line: ['1 Rue Été'], city: 'Zürich', postalCode: '8000', country: 'CH' }],
      telecom: [
        { system: 'email', value: 'j@x.example' },
        { system: 'phone', value: '555' },
      ],
      identifier: [{ system: 'urn:mrn', value: 'M1' }],
      gender: 'male',
      active: true,
      birthDate: '1970-06',
      generalPractitioner: [{ reference: 'Practitioner/pr1' }, { reference: 'https://other.example/fhir/Practitioner/9' }],
    };
    const e = extractIndexEntries(p);
    assert.deepEqual(
      rows(e, 'name').map((x) => (x.kind === 'string' ? x.norm : '')),
      ['jose angstrom', 'angstrom', 'jose', 'q', 'dr'],
    );
    assert.deepEqual(
      rows(e, 'family').map((x) => (x.kind === 'string' ? [x.norm, x.exact] : [])),
      [['angstrom', 'Ångström']],
    );
    assert.deepEqual(
      rows(e, 'address').map((x) => (x.kind === 'string' ? x.norm : '')),
      ['1 rue ete', 'zurich', '8000', 'ch'],
    );
    assert.deepEqual(rows(e, 'email'), [{ kind: 'token', param: 'email', system: 'email', code: 'j@x.example', text: null }]);
    assert.deepEqual(rows(e, 'phone'), [{ kind: 'token', param: 'phone', system: 'phone', code: '555', text: null }]);
    assert.equal(rows(e, 'telecom').length, 2);
    assert.deepEqual(rows(e, 'active'), [{ kind: 'token', param: 'active', system: null, code: 'true', text: null }]);
    assert.deepEqual(rows(e, '_tag'), [{ kind: 'token', param: '_tag', system: 'urn:t', code: 'demo', text: null }]);
    assert.deepEqual(rows(e, 'birthdate'), [
      { kind: 'date', param: 'birthdate', low: Date.UTC(1970, 5, 1), high: Date.UTC(1970, 6, 1) - 1 },
    ]);
    assert.deepEqual(rows(e, 'general-practitioner'), [
      { kind: 'reference', param: 'general-practitioner', targetType: 'Practitioner', targetId: 'pr1', url: null },
      {
        kind: 'reference',
        param: 'general-practitioner',
        targetType: 'Practitioner',
        targetId: null,
        url: 'https://other.example/fhir/Practitioner/9',
      },
    ]);
    assert.equal(rows(e, '_id').length, 0, '_id lives in current');
    assert.deepEqual(currentRowOf(p), { type: 'Patient', id: 'x', lastUpdated: Date.UTC(2024, 4, 1) });
  });

  it('Observation: code, patient vs subject, Period, quantity, value-string from CodeableConcept.text', () => {
    const o: Observation = {
      resourceType: 'Observation',
      id: 'o',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }], text: 'HR' },
      subject: { reference: 'Group/g' },
      effectivePeriod: { start: '2024-01-01' },
      valueQuantity: { value: 72, unit: 'beats/min', system: UCUM, code: '/min' },
      component: [{ code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueCodeableConcept: { text: 'odd' } }],
    };
    const e = extractIndexEntries(o);
    assert.deepEqual(rows(e, 'code'), [
      { kind: 'token', param: 'code', system: LOINC, code: '8867-4', text: 'heart rate' },
      { kind: 'token', param: 'code', system: null, code: null, text: 'hr' },
    ]);
    assert.equal(rows(e, 'patient').length, 0, 'subject is a Group, not a Patient');
    assert.equal(rows(e, 'subject').length, 1);
    assert.deepEqual(rows(e, 'date'), [{ kind: 'date', param: 'date', low: Date.UTC(2024, 0, 1), high: 8_640_000_000_000_000 }]);
    assert.deepEqual(rows(e, 'value-quantity'), [
      { kind: 'quantity', param: 'value-quantity', value: 72, system: UCUM, code: '/min', unit: 'beats/min' },
    ]);
    assert.deepEqual(
      rows(e, 'combo-code').map((x) => (x.kind === 'token' ? x.code : '')),
      ['8867-4', null, '8480-6'],
    );
    assert.equal(rows(e, 'component-value-concept').length, 1);
  });

  it('every synthetic resource extracts without throwing, at a measured cost', () => {
    const data = makeData();
    for (const r of data) extractIndexEntries(r); // warm-up
    const reps = 20;
    const t0 = performance.now();
    let n = 0;
    for (let k = 0; k < reps; k++) for (const r of data) n += extractIndexEntries(r).length;
    const us = ((performance.now() - t0) * 1000) / (reps * data.length);
    console.log(`  extraction: ${us.toFixed(1)} µs/resource, ${(n / reps / data.length).toFixed(1)} rows/resource`);
    for (const t of SEARCH_RESOURCE_TYPES)
      assert.ok(
        data.some((r) => r.resourceType === t),
        t,
      );
  });
});

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

function ok(type: string, qs: string, lenient = false): SearchQuery {
  const r = parseSearch(type, new URLSearchParams(qs), { lenient, now: Date.UTC(2025, 0, 1) });
  if (!r.ok) assert.fail(`${qs}: ${JSON.stringify(r.issues)}`);
  return r.query;
}
function bad(type: string, qs: string, code: 'invalid' | 'not-supported', mention: string): void {
  const r = parseSearch(type, new URLSearchParams(qs));
  assert.equal(r.ok, false, qs);
  if (r.ok) return;
  assert.ok(
    r.issues.some((i) => i.code === code && i.severity === 'error' && (i.diagnostics ?? '').includes(mention)),
    `${qs}: ${JSON.stringify(r.issues)}`,
  );
}

describe('parseSearch', () => {
  it('every date prefix', () => {
    for (const p of ['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'sa', 'eb', 'ap']) {
      const q = ok('Observation', `date=${p}2024-03`);
      const f = q.filters[0]!;
      assert.equal(f.kind, 'date');
      if (f.kind === 'date') assert.equal(f.values[0]!.prefix, p);
    }
    const q = ok('Observation', 'date=2024');
    assert.deepEqual(q.filters[0], {
      kind: 'date',
      param: 'date',
      values: [{ prefix: 'eq', low: Date.UTC(2024, 0, 1), high: Date.UTC(2025, 0, 1) - 1 }],
    });
  });

  it('tokens: system|code, |code, system|, code, :text, :not, :missing', () => {
    assert.deepEqual(ok('Observation', 'code=http://loinc.org|8867-4,|x,urn:s|,y').filters[0], {
      kind: 'token',
      param: 'code',
      modifier: 'default',
      values: [{ system: LOINC, code: '8867-4' }, { system: null, code: 'x' }, { system: 'urn:s' }, { code: 'y' }],
    });
    assert.deepEqual(ok('Observation', 'code:text=Héart').filters[0], { kind: 'tokenText', param: 'code', values: ['heart'] });
    assert.equal(ok('Observation', 'status:not=final').filters[0]!.kind, 'token');
    assert.deepEqual(ok('Observation', 'value-quantity:missing=true').filters[0], {
      kind: 'missing',
      param: 'value-quantity',
      paramType: 'quantity',
      missing: true,
    });
    assert.deepEqual(ok('Patient', 'identifier=urn:mrn|A\\|B').filters[0], {
      kind: 'token',
      param: 'identifier',
      modifier: 'default',
      values: [{ system: 'urn:mrn', code: 'A|B' }],
    });
  });

  it('strings, references, quantities, uri', () => {
    assert.deepEqual(ok('Patient', 'name=JOSÉ').filters[0], {
      kind: 'string',
      param: 'name',
      modifier: 'default',
      values: ['jose'],
    });
    assert.deepEqual(ok('Patient', 'family:exact=Müller').filters[0], {
      kind: 'string',
      param: 'family',
      modifier: 'exact',
      values: ['Müller'],
    });
    assert.deepEqual(ok('Patient', 'name:contains=mi').filters[0], {
      kind: 'string',
      param: 'name',
      modifier: 'contains',
      values: ['mi'],
    });
    assert.deepEqual(ok('Observation', 'subject=Patient/p1,p2,https://x.example/fhir/Patient/3').filters[0], {
      kind: 'reference',
      param: 'subject',
      values: [{ type: 'Patient', id: 'p1' }, { id: 'p2' }, { url: 'https://x.example/fhir/Patient/3' }],
    });
    assert.deepEqual(ok('Observation', 'subject:Patient=p1').filters[0], {
      kind: 'reference',
      param: 'subject',
      values: [{ id: 'p1', type: 'Patient' }],
    });
    const q = ok('Observation', 'value-quantity=ge5.4|http://unitsofmeasure.org|mg').filters[0]!;
    assert.equal(q.kind, 'quantity');
    if (q.kind === 'quantity') {
      assert.equal(q.values[0]!.prefix, 'ge');
      assert.equal(q.values[0]!.value, 5.4);
      assert.equal(q.values[0]!.system, UCUM);
      assert.ok(Math.abs(q.values[0]!.low - 5.35) < 1e-9);
    }
    assert.equal(ok('DocumentReference', 'location:below=https://docs.example/').filters[0]!.kind, 'uri');
  });

  it('control parameters', () => {
    const q = ok(
      'Observation',
      '_count=5&_offset=10&_sort=-date,_id&_include=Observation:patient&_include=Observation:*&_revinclude=Provenance:target&_total=accurate&_elements=id,code',
    );
    assert.equal(q.count, 5);
    assert.equal(q.offset, 10);
    assert.deepEqual(q.sort, [
      { param: 'date', on: 'date', descending: true },
      { param: '_id', on: 'id', descending: false },
    ]);
    assert.deepEqual(q.include, [
      { sourceType: 'Observation', param: 'patient' },
      { sourceType: 'Observation', param: '*' },
    ]);
    assert.deepEqual(q.revinclude, [{ sourceType: 'Provenance', param: 'target' }]);
    assert.equal(q.total, 'accurate');
    assert.deepEqual(q.elements, ['id', 'code']);
    assert.equal(ok('Observation', '').count, 20);
    assert.equal(ok('Observation', '_summary=count').summary, 'count');
    const clamped = ok('Observation', '_count=5000');
    assert.equal(clamped.count, 1000);
    assert.equal(clamped.warnings.length, 1);
    assert.equal(ok('Observation', `_cursor=${encodeCursor(40)}`).offset, 40);
    assert.equal(ok('Observation', 'code=&_format=json').filters.length, 0, 'empty values are ignored');
  });

  it('reports bad input with the parameter named', () => {
    bad('Observation', 'foo=bar', 'not-supported', "'foo'");
    bad('Observation', 'subject.name=x', 'not-supported', 'Chained');
    bad('Observation', 'date=2024-13-01', 'invalid', 'date');
    bad('Observation', 'date=xx2024', 'invalid', 'date');
    bad('Observation', 'date=2024-01-01T10:00:00+15:00', 'invalid', 'date');
    bad('Observation', 'value-quantity=abc', 'invalid', 'not a number');
    bad('Observation', 'value-quantity=5|x', 'invalid', 'value-quantity');
    bad('Observation', 'code:below=x', 'not-supported', ':below');
    bad('Observation', 'code:missing=maybe', 'invalid', ':missing');
    bad('Observation', 'code=a|b|c', 'invalid', "'|'");
    bad('Observation', 'code=|', 'invalid', 'neither');
    bad('Observation', 'subject=a b', 'invalid', 'reference');
    bad('Observation', 'subject:Foo=x', 'invalid', 'target type');
    bad('Observation', 'patient=Group/1', 'invalid', 'target type');
    bad('Patient', 'name:text=x', 'not-supported', ':text');
    bad('Observation', '_count=-1', 'invalid', '_count');
    bad('Observation', '_count=1&_count=2', 'invalid', 'only once');
    bad('Observation', '_offset=x', 'invalid', '_offset');
    bad('Observation', '_cursor=!!', 'invalid', 'cursor');
    bad('Observation', '_sort=foo', 'invalid', 'foo');
    bad('Observation', '_sort=value-quantity', 'not-supported', 'value-quantity');
    bad('Observation', '_include=Patient:organization', 'invalid', 'source type');
    bad('Observation', '_include=Observation:code', 'invalid', 'not a reference');
    bad('Observation', '_include=Observation', 'invalid', 'SourceType:param');
    bad('Observation', '_revinclude=Provenance:agent', 'invalid', 'cannot refer to Observation');
    bad('Observation', '_include:iterate=Observation:patient', 'not-supported', 'one level');
    bad('Observation', '_summary=maybe', 'invalid', '_summary');
    bad('Observation', '_total=all', 'invalid', '_total');
    bad('Observation', '_id=a/b', 'invalid', 'id');
    bad('Basic', 'code=x', 'not-supported', 'Basic');
  });

  it('lenient handling turns unknown parameters into warnings', () => {
    const q = ok('Observation', 'foo=bar&code=x&date=junk', true);
    assert.equal(q.filters.length, 1);
    assert.equal(q.warnings.length, 2);
    assert.ok(q.warnings.every((w) => w.severity === 'warning'));
  });

  it('never throws on arbitrary input', () => {
    const names = fc.oneof(
      fc.string(),
      fc.constantFrom(
        'code',
        'date',
        'subject',
        'name',
        'value-quantity',
        '_count',
        '_sort',
        '_include',
        '_revinclude',
        'code:text',
        'name:exact',
        '_offset',
        '_cursor',
        '__proto__',
        'constructor',
      ),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(names, fc.string())),
        fc.constantFrom('Observation', 'Patient', 'Nope', ''),
        fc.boolean(),
        (pairs, type, lenient) => {
          const sp = new URLSearchParams();
          for (const [k, v] of pairs) sp.append(k, v);
          const r = parseSearch(type, sp, { lenient });
          assert.equal(typeof r.ok, 'boolean');
          if (r.ok) buildSearchSql(r.query);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// End to end on SQLite
// ---------------------------------------------------------------------------------------------

type Pred = (r: Resource) => boolean;
const asObs = (r: Resource): Observation => r as Observation;
const d = (s: string): { low: number; high: number } => parseDateRange(s)!;

describe('search end to end (SQLite)', () => {
  const db = new Database(':memory:');
  const data = makeData();
  const byRes = new Map<number, Resource>();
  const deleted = new Set(['o13', 'p29']);

  before(() => {
    db.exec(SEARCH_DDL);
    const writer = new IndexWriter(db);
    const insCurrent = db.prepare('INSERT INTO current (type, id, last_updated, deleted) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (const r of data) {
        const cur = currentRowOf(r);
        const res = Number(insCurrent.run(cur.type, cur.id, cur.lastUpdated, deleted.has(cur.id) ? 1 : 0).lastInsertRowid);
        byRes.set(res, r);
        writer.replace(res, cur.type, extractIndexEntries(r));
      }
      // replace is idempotent
      const first = [...byRes.keys()][0]!;
      writer.replace(first, byRes.get(first)!.resourceType, extractIndexEntries(byRes.get(first)!));
    })();
  });

  const live = (type: string): Resource[] => data.filter((r) => r.resourceType === type && !deleted.has(r.id!));
  const ids = (rs: number[]): string[] => rs.map((x) => `${byRes.get(x)!.resourceType}/${byRes.get(x)!.id!}`);
  function search(type: string, qs: string): ReturnType<typeof runSearch> {
    const r = parseSearch(type, new URLSearchParams(qs), { now: Date.UTC(2025, 0, 1) });
    if (!r.ok) assert.fail(`${qs}: ${JSON.stringify(r.issues)}`);
    return runSearch(db, r.query);
  }
  function check(type: string, qs: string, pred: Pred, minExpected = 1): void {
    const got = ids(search(type, `${qs}&_count=1000`).matches).sort();
    const want = live(type)
      .filter(pred)
      .map((r) => `${r.resourceType}/${r.id!}`)
      .sort();
    assert.deepEqual(got, want, qs);
    assert.ok(want.length >= minExpected, `${qs}: only ${want.length} expected matches — weak test`);
  }

  const obsDate = (o: Observation): { low: number; high: number } | undefined => {
    if (o.effectiveDateTime !== undefined) return d(o.effectiveDateTime);
    if (o.effectivePeriod !== undefined)
      return {
        low: d(o.effectivePeriod.start!).low,
        high: o.effectivePeriod.end === undefined ? 8_640_000_000_000_000 : d(o.effectivePeriod.end).high,
      };
    return undefined;
  };
  const dateMatch = (t: { low: number; high: number } | undefined, prefix: string, s: { low: number; high: number }): boolean => {
    if (t === undefined) return false;
    const eq = t.low >= s.low && t.high <= s.high;
    switch (prefix) {
      case 'eq':
        return eq;
      case 'ne':
        return !eq;
      case 'gt':
        return t.high > s.high;
      case 'lt':
        return t.low < s.low;
      case 'ge':
        return t.high > s.high || eq;
      case 'le':
        return t.low < s.low || eq;
      case 'sa':
        return t.low > s.high;
      case 'eb':
        return t.high < s.low;
      default:
        throw new Error(prefix);
    }
  };

  it('token: code forms, :text, :not, :missing', () => {
    const hasCode = (o: Observation, sys: string | undefined, code: string): boolean =>
      (o.code.coding ?? []).some((c) => c.code === code && (sys === undefined || c.system === sys));
    check('Observation', 'code=http://loinc.org|8867-4', (r) => hasCode(asObs(r), LOINC, '8867-4'));
    check(
      'Observation',
      'code=8480-6,2339-0',
      (r) => hasCode(asObs(r), undefined, '8480-6') || hasCode(asObs(r), undefined, '2339-0'),
    );
    check('Observation', 'code=|8480-6', () => false, 0);
    check('Observation', 'code=http://loinc.org|', () => true);
    check('Observation', 'code:text=heart', (r) => asObs(r).code.text === 'Heart rate');
    check('Observation', 'code:text=BODY W', (r) => asObs(r).code.text === 'Body weight');
    check('Observation', 'status=final', (r) => asObs(r).status === 'final');
    check('Observation', 'status:not=final', (r) => asObs(r).status !== 'final');
    check('Observation', 'status=final&status=amended', () => false, 0);
    check('Patient', 'gender=female,other', (r) => (r as Patient).gender !== 'male');
    check('Patient', 'active=false', (r) => (r as Patient).active === false);
    check('Patient', 'identifier=urn:mrn|MRN1005', (r) => r.id === 'p5');
    check('Patient', 'email:missing=true', (r) => !(r as Patient).telecom?.some((t) => t.system === 'email'));
    check('Patient', 'email:missing=false', (r) => (r as Patient).telecom?.some((t) => t.system === 'email') === true);
    check('Patient', 'phone=555-0107', (r) => r.id === 'p7');
    check('Condition', 'clinical-status=resolved&code=http://snomed.info/sct|38341003', (r) => {
      const c = r as Condition;
      return c.clinicalStatus?.coding?.[0]?.code === 'resolved' && c.code?.coding?.[0]?.code === '38341003';
    });
    check('Patient', '_id=p1,p2,p29', (r) => r.id === 'p1' || r.id === 'p2');
  });

  it('string: default, :exact, :contains, accents, :missing', () => {
    const names = (r: Resource): string[] => (r as Patient).name?.flatMap((n) => [n.family ?? '', ...(n.given ?? [])]) ?? [];
    const norm = (s: string): string =>
      s
        .normalize('NFD')
        .replace(/[\u0300-\u036f]/g, '')
        .toLowerCase();
    check('Patient', 'family=smith', (r) =>
      names(r)
        .slice(0, 1)
        .some((n) => norm(n).startsWith('smith')),
    );
    check('Patient', 'family:exact=Smith', (r) => (r as Patient).name?.[0]?.family === 'Smith');
    check('Patient', 'family:exact=smith', () => false, 0);
    check('Patient', 'name=jose', (r) => names(r).some((n) => norm(n).startsWith('jose')));
    check('Patient', 'name=ANGSTR', (r) => names(r).some((n) => norm(n).startsWith('angstr')));
    check('Patient', 'name:contains=ar', (r) => names(r).some((n) => norm(n).includes('ar')));
    check('Patient', 'name=ann,li', (r) => names(r).some((n) => norm(n).startsWith('ann') || norm(n).startsWith('li')));
    check('Patient', 'address-city=sao', (r) => (r as Patient).address?.[0]?.city === 'São Paulo');
    check('Patient', 'address=zur', (r) => (r as Patient).address?.[0]?.city === 'Zürich');
    check('Patient', 'name=jean-luc&family=okafor', (r) => names(r).includes('Jean-Luc') && names(r)[0] === 'Okafor', 0);
    check('Organization', 'name=gh', (r) => r.id === 'org1');
    check('Observation', 'value-string=too', (r) => asObs(r).valueString !== undefined);
    check('DocumentReference', 'description:contains=summary 1', (r) =>
      ((r as DocumentReference).description ?? '').includes('summary 1'),
    );
  });

  it('reference: Type/id, id, :Type, absolute URL, resolve() filter', () => {
    check('Observation', 'subject=Patient/p3', (r) => asObs(r).subject?.reference === 'Patient/p3');
    check('Observation', 'patient=p3', (r) => asObs(r).subject?.reference === 'Patient/p3');
    check('Observation', 'subject:Patient=p3,p4', (r) =>
      ['Patient/p3', 'Patient/p4'].includes(asObs(r).subject?.reference ?? ''),
    );
    check('Observation', 'subject=Group/g1', (r) => asObs(r).subject?.reference === 'Group/g1');
    check('Observation', 'patient:missing=true', (r) => !(asObs(r).subject?.reference ?? '').startsWith('Patient/'));
    check(
      'Patient',
      'general-practitioner=Practitioner/pr2',
      (r) => (r as Patient).generalPractitioner?.[0]?.reference === 'Practitioner/pr2',
    );
    check('Encounter', 'practitioner=pr1&status=finished', (r) => {
      const e = r as Encounter;
      return e.participant?.[0]?.individual?.reference === 'Practitioner/pr1' && e.status === 'finished';
    });
    check('Provenance', 'target=Observation/o3', (r) => r.id === 'pv3');
    check('Provenance', 'agent=Practitioner/pr0', (r) => (r as Provenance).agent[0]!.who.reference === 'Practitioner/pr0');
    check('DiagnosticReport', 'result=Observation/o4', (r) => r.id === 'dr4');
    check('CarePlan', 'condition=Condition/c2', (r) => r.id === 'cp2');
    check('MedicationRequest', 'patient=Patient/p1&requester=Practitioner/pr1', (r) => r.id === 'm1');
    check('Immunization', 'patient=Patient/p2&vaccine-code=208', (r) => r.id === 'im2');
    check('AllergyIntolerance', 'patient=p3&criticality=high', (r) => r.id === 'a3');
    check('Procedure', 'subject=p4&code=80146002', (r) => r.id === 'pc4');
    check('DocumentReference', 'patient=p5&contenttype=application/pdf', (r) => r.id === 'd5');
    check('DocumentReference', 'location=https://docs.example/d6.pdf', (r) => r.id === 'd6');
    check('DocumentReference', 'location:below=https://docs.example/d1', (r) => (r.id ?? '').startsWith('d1'));
  });

  it('date: every prefix, precision, periods, _lastUpdated', () => {
    for (const prefix of ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb'])
      for (const value of ['2022', '2022-03', '2021-03-02', '2023-03-01T00:00:00Z']) {
        const expectSome = !(prefix === 'eq' && value.length > 7);
        check('Observation', `date=${prefix}${value}`, (r) => dateMatch(obsDate(asObs(r)), prefix, d(value)), expectSome ? 1 : 0);
      }
    check(
      'Observation',
      'date=ge2021&date=lt2023',
      (r) => dateMatch(obsDate(asObs(r)), 'ge', d('2021')) && dateMatch(obsDate(asObs(r)), 'lt', d('2023')),
    );
    check('Observation', 'date:missing=true', (r) => obsDate(asObs(r)) === undefined);
    check('Patient', 'birthdate=1954', (r) => ((r as Patient).birthDate ?? '').startsWith('1954'));
    check('Patient', 'birthdate=lt1960-06-01', (r) => {
      const b = (r as Patient).birthDate;
      return b !== undefined && d(b).low < d('1960-06-01').low;
    });
    check('Encounter', 'date=ge2023-06-10', (r) => {
      const p = (r as Encounter).period!;
      return dateMatch({ low: d(p.start!).low, high: p.end === undefined ? 8.64e15 : d(p.end).high }, 'ge', d('2023-06-10'));
    });
    check('Provenance', 'recorded=2024-02-03', (r) => r.id === 'pv2');
    check('Observation', '_lastUpdated=ge2024-09', (r) => (r.meta?.lastUpdated ?? '') >= '2024-09');
    check('Observation', '_lastUpdated=2024-03-05', (r) => (r.meta?.lastUpdated ?? '').startsWith('2024-03-05'));
    check('Condition', 'onset-date=2019-04', (r) => ((r as Condition).onsetDateTime ?? '').startsWith('2019-04'));
    // ap: within 10 % of the distance to "now" (2025-01-01)
    const res = search('Observation', 'date=ap2024-06-15&_count=1000').matches;
    assert.ok(res.length > 0);
  });

  it('quantity: prefixes, precision, system|code, ||unit', () => {
    const v = (r: Resource): number | undefined => asObs(r).valueQuantity?.value;
    check('Observation', 'value-quantity=gt100', (r) => (v(r) ?? -1) > 100);
    check(
      'Observation',
      'value-quantity=lt50|http://unitsofmeasure.org|kg',
      (r) => (v(r) ?? 1e9) < 50 && asObs(r).valueQuantity?.code === 'kg',
    );
    check('Observation', 'value-quantity=ge100||mmHg', (r) => (v(r) ?? -1) >= 100 && asObs(r).valueQuantity?.unit === 'mmHg');
    check('Observation', 'value-quantity=le10', (r) => (v(r) ?? 1e9) <= 10);
    const some = v(data.find((r) => r.resourceType === 'Observation' && v(r) !== undefined && !deleted.has(r.id!))!)!;
    check('Observation', `value-quantity=${some}`, (r) => v(r) !== undefined && Math.abs(v(r)! - some) < 0.05 + 1e-9);
    check('Observation', `value-quantity=ne${some}`, (r) => v(r) !== undefined && Math.abs(v(r)! - some) >= 0.05 + 1e-9);
    check('Observation', 'value-quantity=1e2', (r) => v(r) !== undefined && v(r)! >= 50 && v(r)! < 150);
    check('Observation', 'value-quantity:missing=true', (r) => v(r) === undefined);
    check('Encounter', 'length=ge50', (r) => ((r as Encounter).length?.value ?? 0) >= 50);
    check('Condition', 'onset-age=lt50', (r) => ((r as Condition).onsetAge?.value ?? 99) < 50);
  });

  it('sorting and paging', () => {
    const all = live('Observation');
    // _sort=_id
    const got = ids(search('Observation', '_sort=-_id&_count=1000').matches);
    assert.deepEqual(
      got,
      all
        .map((r) => `Observation/${r.id!}`)
        .sort()
        .reverse(),
    );
    // date ascending, missing last
    const byDate = search('Observation', 'patient=p2&_sort=date&_count=1000').matches.map((x) => byRes.get(x)!);
    const lows = byDate.map((r) => obsDate(asObs(r))?.low ?? Infinity);
    assert.deepEqual(
      lows,
      [...lows].sort((a, b) => a - b),
    );
    // _lastUpdated descending
    const lu = search('Observation', '_sort=-_lastUpdated&_count=1000').matches.map(
      (x) => currentRowOf(byRes.get(x)!).lastUpdated,
    );
    assert.deepEqual(
      lu,
      [...lu].sort((a, b) => b - a),
    );
    // sort on a string and a token param
    const fam = search('Patient', '_sort=family&_count=1000').matches.map((x) => (byRes.get(x) as Patient).name![0]!.family!);
    const n = (s: string): string =>
      s
        .normalize('NFD')
        .replace(/[\u0300-\u036f]/g, '')
        .toLowerCase();
    assert.deepEqual(fam.map(n), fam.map(n).sort());
    const st = search('Observation', '_sort=-status&_count=1000').matches.map((x) => asObs(byRes.get(x)!).status);
    assert.deepEqual(st, [...st].sort().reverse());
    // paging: pages concatenate to the full list, no overlap
    const full = search('Observation', 'code=8867-4&_sort=date,_id&_count=1000').matches;
    const paged: number[] = [];
    let offset = 0;
    for (let guard = 0; guard < 100; guard++) {
      const page = search('Observation', `code=8867-4&_sort=date,_id&_count=7&_offset=${offset}`);
      paged.push(...page.matches);
      if (page.nextOffset === undefined) break;
      assert.equal(page.matches.length, 7);
      offset = page.nextOffset;
    }
    assert.deepEqual(paged, full);
    const t = search('Observation', 'code=8867-4&_total=accurate&_count=3');
    assert.equal(t.total, full.length);
    assert.equal(t.matches.length, 3);
    const c = search('Observation', 'code=8867-4&_summary=count');
    assert.equal(c.total, full.length);
    assert.equal(c.matches.length, 0);
    assert.deepEqual(search('Observation', '_count=0').matches, []);
  });

  it('_include and _revinclude (one level)', () => {
    const r1 = search('Observation', '_id=o3,o4&_include=Observation:patient&_include=Observation:performer');
    assert.deepEqual(ids(r1.matches).sort(), ['Observation/o3', 'Observation/o4']);
    assert.deepEqual(ids(r1.included).sort(), ['Patient/p3', 'Patient/p4', 'Practitioner/pr3', 'Practitioner/pr4']);
    const r2 = search('Observation', '_id=o3&_include=Observation:*');
    assert.deepEqual(ids(r2.included).sort(), ['Encounter/e3', 'Patient/p3', 'Practitioner/pr3']);
    const r3 = search('Observation', '_id=o3&_include=Observation:subject:Group');
    assert.deepEqual(r3.included, []);
    const r4 = search('Observation', '_id=o3,o5,o13&_revinclude=Provenance:target&_revinclude=DiagnosticReport:result');
    assert.deepEqual(ids(r4.included).sort(), [
      'DiagnosticReport/dr3',
      'DiagnosticReport/dr5',
      'Provenance/pv3',
      'Provenance/pv5',
    ]);
    const r5 = search('Patient', '_id=p1&_revinclude=Observation:patient&_revinclude=Provenance:target');
    const want = live('Observation')
      .filter((r) => asObs(r).subject?.reference === 'Patient/p1')
      .map((r) => `Observation/${r.id!}`);
    assert.deepEqual(ids(r5.included).sort(), [...want, 'Provenance/pv1'].sort());
    // deleted targets are not included
    const r6 = search('Observation', '_id=o29&_include=Observation:patient');
    assert.deepEqual(r6.included, []);
  });

  it('patient + code is driven by the reference index', () => {
    const r = parseSearch('Observation', new URLSearchParams('patient=p1&code=http://loinc.org|8867-4'));
    assert.ok(r.ok);
    if (!r.ok) return;
    const built = buildSearchSql(r.query);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${built.page.sql}`).all(...built.page.params) as { detail: string }[])
      .map((p) => p.detail)
      .join('\n');
    assert.match(plan, /idx_reference_value/);
    assert.doesNotMatch(plan, /SCAN c\b/);
  });
});

describe('search plans', () => {
  // One common code (more rows than BROAD_DRIVER_ROWS), one rare code, 60 patients.
  const db = new Database(':memory:');
  const COMMON = '8867-4';
  const RARE = '4548-4';
  const n = BROAD_DRIVER_ROWS + 400;
  before(() => {
    db.exec(SEARCH_DDL);
    const writer = new IndexWriter(db);
    const ins = db.prepare('INSERT INTO current (type, id, last_updated, deleted) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const o: Observation = {
          resourceType: 'Observation',
          id: `o${i}`,
          meta: { lastUpdated: new Date(Date.UTC(2024, 0, 1) + ((i * 7919) % n) * 1000).toISOString() },
          status: i % 5 === 0 ? 'amended' : 'final',
          code: { coding: [{ system: LOINC, code: i % 20 === 0 ? RARE : COMMON }] },
          subject: { reference: `Patient/p${i % 60}` },
          effectiveDateTime: new Date(Date.UTC(2020, 0, 1) + ((i * 104729) % n) * 3_600_000).toISOString(),
        };
        const cur = currentRowOf(o);
        const res = Number(ins.run(cur.type, cur.id, cur.lastUpdated, i % 97 === 0 ? 1 : 0).lastInsertRowid);
        writer.replace(res, cur.type, extractIndexEntries(o));
      }
    })();
  });
  const parse = (qs: string): SearchQuery => {
    const r = parseSearch('Observation', new URLSearchParams(qs), { now: Date.UTC(2025, 0, 1) });
    if (!r.ok) assert.fail(JSON.stringify(r.issues));
    return r.query;
  };

  it('drives by a filter that matches few rows and scans past one that matches many', () => {
    assert.equal(choosePlan(db, parse(`patient=p7&code=${LOINC}|${COMMON}`)), 'driven');
    assert.equal(choosePlan(db, parse(`code=${LOINC}|${RARE}`)), 'driven');
    assert.equal(choosePlan(db, parse(`code=${LOINC}|${COMMON}`)), 'scan');
    const plan = (qs: string, which: 'driven' | 'scan'): string => {
      const built = buildSearchSql(parse(qs), undefined, which);
      return (db.prepare(`EXPLAIN QUERY PLAN ${built.page.sql}`).all(...built.page.params) as { detail: string }[])
        .map((p) => p.detail)
        .join('\n');
    };
    // Driven: current by primary key only, never a scan of the type.
    const driven = plan(`patient=p7&code=${LOINC}|${COMMON}`, 'driven');
    assert.match(driven, /USING INTEGER PRIMARY KEY/);
    assert.doesNotMatch(driven, /current_type/);
    // Scan: the type's rows in res order, so the page ends the scan (no sort of every match).
    const scan = plan(`code=${LOINC}|${COMMON}`, 'scan');
    assert.match(scan, /current_type_res/);
    assert.doesNotMatch(scan, /TEMP B-TREE/);
  });

  it('both plans return the same pages and totals', () => {
    const queries = [
      `patient=p7&code=${LOINC}|${COMMON}`,
      `code=${LOINC}|${COMMON}&_count=17&_offset=34`,
      `code=${LOINC}|${RARE}&_total=accurate`,
      `status=amended&code=${LOINC}|${COMMON}&_total=accurate&_count=50`,
      `patient=p3,p4&date=ge2020-03-01&_sort=-date&_count=10`,
      `code=${LOINC}|${COMMON}&_sort=_lastUpdated&_count=25&_offset=100`,
      `patient=Patient/p10&status:not=final`,
    ];
    for (const qs of queries) {
      const query = parse(qs);
      const run = (which: 'driven' | 'scan') => {
        const built = buildSearchSql(query, undefined, which);
        return {
          page: db
            .prepare(built.page.sql)
            .pluck()
            .all(...built.page.params),
          total: db
            .prepare(built.count.sql)
            .pluck()
            .get(...built.count.params),
        };
      };
      const driven = run('driven');
      assert.ok(driven.page.length > 0, qs);
      assert.deepEqual(run('scan'), driven, qs);
    }
  });
});
