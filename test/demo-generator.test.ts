/**
 * The synthetic demo data generator (src/demo/): determinism (same seed → byte-identical JSON, no
 * Math.random / Date.now), bundle shape (transaction, urn:uuid fullUrls, POST requests), references
 * that resolve inside the bundle or to the PUT organization/practitioners, Observations coded in LOINC
 * with UCUM quantities, dates in range and in order, clinical plausibility, and FHIR R4 validity of
 * every resource through src/fhir/validation/validate.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, Encounter, MedicationRequest, Observation, Resource } from '@medplum/fhirtypes';
import { ANTIHYPERTENSIVES, LABS, MEDICATIONS, SYSTEMS, VITALS } from '../src/demo/catalog.js';
import { DEMO_ORGANIZATION_ID, generateDemo, type DemoData } from '../src/demo/generator.js';
import { Random } from '../src/demo/random.js';
import { validateResource } from '../src/fhir/validation/validate.js';

const t0 = performance.now();
const demo: DemoData = generateDemo();
const elapsedMs = performance.now() - t0;

const WINDOW_START = Date.parse('2019-01-01T00:00:00Z');
const WINDOW_END = Date.parse('2026-10-31T23:59:59Z');
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DATE_TIME_TZ = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const resourcesOf = (bundle: Bundle): Resource[] => (bundle.entry ?? []).map((e) => e.resource as Resource);
const ofType = <T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] =>
  resourcesOf(bundle).filter((r): r is T => r.resourceType === type);
const codeOf = (r: { code?: { coding?: { code?: string }[] } }): string | undefined => r.code?.coding?.[0]?.code;

/** Every `reference` string anywhere inside a value. */
function references(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) references(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else references(v, out);
    }
  }
  return out;
}

/** Every dateTime-like string (keys ending in DateTime/On/Date, start, end, issued, recorded, created…). */
function dateTimes(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) dateTimes(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) out.push(v);
      else if (k !== 'data') dateTimes(v, out);
    }
  }
  return out;
}

describe('demo random source', () => {
  it('is deterministic per seed and stays in range', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const seqA = Array.from({ length: 200 }, () => a.int(-5, 5));
    assert.deepEqual(
      seqA,
      Array.from({ length: 200 }, () => b.int(-5, 5)),
    );
    assert.notDeepEqual(
      seqA,
      Array.from({ length: 200 }, () => c.int(-5, 5)),
    );
    assert.ok(seqA.every((x) => x >= -5 && x <= 5));
    const r = new Random(7);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      assert.ok(f >= 0 && f < 1);
    }
    assert.match(r.uuid(), UUID_V4);
    assert.deepEqual([...r.shuffle([1, 2, 3, 4, 5])].sort(), [1, 2, 3, 4, 5]);
    const normals = Array.from({ length: 4000 }, () => r.normal(10, 2));
    const mean = normals.reduce((s, x) => s + x, 0) / normals.length;
    const sd = Math.sqrt(normals.reduce((s, x) => s + (x - mean) ** 2, 0) / normals.length);
    assert.ok(Math.abs(mean - 10) < 0.15 && Math.abs(sd - 2) < 0.15, `normal(10, 2): mean ${mean}, sd ${sd}`);
    assert.equal(
      r.weighted([
        ['never', 0],
        ['always', 1],
      ]),
      'always',
    );
    assert.throws(() => new Random(1.5), RangeError);
  });
});

describe('demo generator', () => {
  it('is deterministic: same seed gives identical JSON, another seed differs', (t) => {
    t.diagnostic(`generated ${demo.patients.length} patients in ${elapsedMs.toFixed(0)} ms`);
    const again = generateDemo();
    assert.deepEqual(again, demo);
    assert.equal(JSON.stringify(again), JSON.stringify(demo));
    const other = generateDemo({ seed: 7 });
    assert.notEqual(JSON.stringify(other.patients), JSON.stringify(demo.patients));
    // A smaller set with the same seed is a prefix: patients do not depend on how many follow.
    const few = generateDemo({ patients: 3 });
    assert.equal(JSON.stringify(few.patients), JSON.stringify(demo.patients.slice(0, 3)));
  });

  it('never calls Math.random or Date.now', () => {
    const random = Math.random;
    const now = Date.now;
    Math.random = () => {
      throw new Error('Math.random called');
    };
    Date.now = () => {
      throw new Error('Date.now called');
    };
    try {
      const d = generateDemo({ patients: 5, seed: 99 });
      assert.equal(d.patients.length, 5);
    } finally {
      Math.random = random;
      Date.now = now;
    }
  });

  it('is fast enough for first start', () => {
    assert.ok(elapsedMs < 5000, `50 patients took ${elapsedMs.toFixed(0)} ms`);
  });

  it('rejects bad options', () => {
    assert.throws(() => generateDemo({ endDate: '2026-02-30' }), RangeError);
    assert.throws(() => generateDemo({ endDate: 'yesterday' }), RangeError);
    assert.throws(() => generateDemo({ patients: -1 }), RangeError);
    assert.throws(() => generateDemo({ startYear: 2030 }), RangeError);
  });

  it('creates one organization, several clinicians and 50 patients of plausible size', (t) => {
    assert.equal(demo.organization.id, DEMO_ORGANIZATION_ID);
    assert.ok(demo.practitioners.length >= 3);
    assert.deepEqual(
      demo.practitioners.map((p) => p.id),
      demo.practitioners.map((_, i) => `demo-prac-${i + 1}`),
    );
    assert.equal(demo.patients.length, 50);
    const sizes = demo.patients.map((p) => p.bundle.entry?.length ?? 0).sort((a, b) => a - b);
    const median = sizes[sizes.length >> 1] as number;
    t.diagnostic(`entries per patient: min ${sizes[0]}, median ${median}, max ${sizes[sizes.length - 1]}`);
    assert.ok((sizes[0] as number) >= 20, `smallest history has ${sizes[0]} entries`);
    assert.ok((sizes[sizes.length - 1] as number) <= 450, `largest history has ${sizes[sizes.length - 1]} entries`);
    assert.ok(median >= 50 && median <= 300, `median history has ${median} entries`);
    const ages = demo.patients.map((p) => (WINDOW_END - Date.parse(`${p.patient.birthDate}T00:00:00Z`)) / (365.25 * 86_400_000));
    assert.ok(ages.every((a) => a >= 0 && a <= 96.1));
    assert.ok(ages.some((a) => a < 18) && ages.some((a) => a >= 65), 'children and elderly are both present');
    const mrns = demo.patients.map((p) => p.patient.identifier?.find((i) => i.system === SYSTEMS.mrn)?.value);
    assert.equal(new Set(mrns).size, mrns.length);
    assert.ok(mrns.every((m) => typeof m === 'string'));
  });

  it('emits transaction bundles with unique urn:uuid fullUrls and POST requests', () => {
    const seen = new Set<string>();
    for (const { patient, bundle } of demo.patients) {
      assert.equal(bundle.resourceType, 'Bundle');
      assert.equal(bundle.type, 'transaction');
      const entries = bundle.entry ?? [];
      assert.equal(entries[0]?.resource, patient, 'the Patient is the first entry');
      assert.equal(entries.filter((e) => e.resource?.resourceType === 'Patient').length, 1);
      for (const e of entries) {
        const uuid = e.fullUrl?.replace(/^urn:uuid:/, '') ?? '';
        assert.match(uuid, UUID_V4);
        assert.ok(!seen.has(uuid), `duplicate uuid ${uuid}`);
        seen.add(uuid);
        assert.deepEqual(e.request, { method: 'POST', url: e.resource?.resourceType });
        assert.equal((e.resource as { id?: string }).id, undefined, 'POSTed resources carry no id');
      }
    }
  });

  it('resolves every reference to a bundle entry, the organization or a practitioner', () => {
    const external = new Set([`Organization/${demo.organization.id}`, ...demo.practitioners.map((p) => `Practitioner/${p.id}`)]);
    for (const r of references([demo.organization, ...demo.practitioners])) assert.ok(external.has(r), r);
    for (const { bundle } of demo.patients) {
      const local = new Set((bundle.entry ?? []).map((e) => e.fullUrl));
      const patientUrl = bundle.entry?.[0]?.fullUrl as string;
      for (const r of references(bundle)) assert.ok(local.has(r) || external.has(r), `unresolved reference ${r}`);
      for (const res of resourcesOf(bundle)) {
        if (res.resourceType === 'Patient') continue;
        const subject =
          (res as { subject?: { reference?: string }; patient?: { reference?: string } }).subject ??
          (res as { patient?: { reference?: string } }).patient;
        assert.equal(subject?.reference, patientUrl, `${res.resourceType} points at its patient`);
      }
    }
  });

  it('codes every Observation in LOINC with a UCUM quantity, category, subject, encounter and time', () => {
    const categories = new Set(['vital-signs', 'laboratory']);
    for (const { bundle } of demo.patients) {
      for (const o of ofType<Observation>(bundle, 'Observation')) {
        assert.equal(o.status, 'final');
        assert.equal(o.code.coding?.[0]?.system, SYSTEMS.loinc);
        assert.match(o.code.coding?.[0]?.code ?? '', /^\d{1,7}-\d$/);
        const cat = o.category?.[0]?.coding?.[0];
        assert.equal(cat?.system, 'http://terminology.hl7.org/CodeSystem/observation-category');
        assert.ok(categories.has(cat?.code ?? ''));
        assert.ok(o.subject?.reference?.startsWith('urn:uuid:'));
        assert.ok(o.encounter?.reference?.startsWith('urn:uuid:'));
        assert.match(o.effectiveDateTime ?? '', DATE_TIME_TZ);
        const quantities = o.component ? o.component.map((c) => c.valueQuantity) : [o.valueQuantity];
        assert.ok(quantities.length > 0);
        for (const q of quantities) {
          assert.equal(q?.system, SYSTEMS.ucum);
          assert.ok(typeof q?.code === 'string' && q.code.length > 0);
          assert.ok(typeof q?.value === 'number' && Number.isFinite(q.value));
        }
        if (cat?.code === 'laboratory') {
          const interp = o.interpretation?.[0]?.coding?.[0];
          assert.equal(interp?.system, 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation');
          const range = o.referenceRange?.[0];
          assert.ok(range?.high !== undefined);
          const v = o.valueQuantity?.value as number;
          const expected =
            v > (range.high.value as number) ? 'H' : range.low !== undefined && v < (range.low.value as number) ? 'L' : 'N';
          assert.equal(interp?.code, expected);
        }
      }
    }
  });

  it('keeps dates in the window, with timezones, and in order', () => {
    for (const { patient, bundle } of demo.patients) {
      const birth = Date.parse(`${patient.birthDate}T00:00:00Z`);
      for (const s of dateTimes(bundle)) assert.match(s, DATE_TIME_TZ);
      const encounters = new Map<string, Encounter>();
      let previous = -Infinity;
      for (const e of bundle.entry ?? []) {
        if (e.resource?.resourceType !== 'Encounter') continue;
        const enc = e.resource;
        encounters.set(e.fullUrl as string, enc);
        const start = Date.parse(enc.period?.start as string);
        const end = Date.parse(enc.period?.end as string);
        assert.ok(
          start >= WINDOW_START && end <= WINDOW_END,
          `encounter ${enc.period?.start}..${enc.period?.end} outside the window`,
        );
        assert.ok(start >= birth && start <= end);
        assert.ok(start >= previous, 'encounters are emitted in chronological order');
        previous = start;
      }
      for (const res of resourcesOf(bundle)) {
        const encRef = (res as { encounter?: { reference?: string } }).encounter?.reference;
        const when =
          res.resourceType === 'Observation' || res.resourceType === 'DiagnosticReport'
            ? res.effectiveDateTime
            : res.resourceType === 'Immunization'
              ? res.occurrenceDateTime
              : res.resourceType === 'MedicationRequest'
                ? res.authoredOn
                : res.resourceType === 'Condition'
                  ? res.recordedDate
                  : undefined;
        if (encRef === undefined || when === undefined) continue;
        const enc = encounters.get(encRef);
        assert.ok(enc, `${res.resourceType} encounter ${encRef} is an Encounter entry`);
        const t = Date.parse(when);
        assert.ok(
          t >= Date.parse(enc.period?.start as string) && t <= Date.parse(enc.period?.end as string),
          `${res.resourceType} at ${when} outside its encounter`,
        );
        if (res.resourceType === 'Condition' && res.onsetDateTime !== undefined) {
          assert.ok(
            Date.parse(res.onsetDateTime) <= t && Date.parse(res.onsetDateTime) >= birth,
            'onset between birth and recording',
          );
          if (res.abatementDateTime !== undefined) assert.ok(Date.parse(res.abatementDateTime) >= Date.parse(res.onsetDateTime));
        }
      }
    }
  });

  it('is clinically plausible', () => {
    const rx = (key: keyof typeof MEDICATIONS) => MEDICATIONS[key].code;
    const antihypertensives = new Set(ANTIHYPERTENSIVES.map(rx));
    const statins = new Set([rx('atorvastatin'), rx('simvastatin')]);
    let diabetics = 0;
    let hypertensives = 0;
    let ldlDrops = 0;
    let ldlRises = 0;
    for (const { bundle } of demo.patients) {
      const conditions = new Set(
        ofType<{ resourceType: 'Condition'; code?: { coding?: { code?: string }[] } } & Resource>(bundle, 'Condition').map(
          codeOf,
        ),
      );
      const meds = ofType<MedicationRequest>(bundle, 'MedicationRequest');
      const medCodes = new Set(meds.map((m) => m.medicationCodeableConcept?.coding?.[0]?.code));
      const obs = ofType<Observation>(bundle, 'Observation');
      const values = (code: string) =>
        obs
          .filter((o) => codeOf(o) === code)
          .map((o) => [Date.parse(o.effectiveDateTime as string), o.valueQuantity?.value as number] as const);
      const problems = resourcesOf(bundle)
        .filter((r) => r.resourceType === 'Condition' && r.category?.[0]?.coding?.[0]?.code === 'problem-list-item')
        .map((r) => codeOf(r as { code?: { coding?: { code?: string }[] } }));
      assert.equal(new Set(problems).size, problems.length, 'each chronic condition is recorded once');
      assert.ok(problems.length <= 4, `${problems.length} chronic conditions`);
      if (conditions.has('44054006')) {
        diabetics++;
        const a1c = values(LABS.hba1c.code);
        assert.ok(a1c.length > 0, 'diabetics have HbA1c results');
        assert.ok(
          a1c.some(([, v]) => v >= 6.5),
          'diabetics have an elevated HbA1c at some point',
        );
        assert.ok(medCodes.has(rx('metformin')));
      } else {
        for (const [, v] of values(LABS.hba1c.code)) assert.ok(v < 6.5, `non-diabetic HbA1c ${v}`);
      }
      if (conditions.has('38341003')) {
        hypertensives++;
        assert.ok(
          [...medCodes].some((c) => antihypertensives.has(c ?? '')),
          'hypertensives have an antihypertensive',
        );
      }
      if (conditions.has('55822004'))
        assert.ok(
          [...medCodes].some((c) => statins.has(c ?? '')),
          'hyperlipidemia is treated with a statin',
        );
      if (conditions.has('709044004'))
        assert.ok(
          values(LABS.egfr.code).some(([, v]) => v < 60),
          'CKD shows a reduced eGFR',
        );
      const statinStart = meds
        .filter((m) => statins.has(m.medicationCodeableConcept?.coding?.[0]?.code ?? ''))
        .map((m) => Date.parse(m.authoredOn as string))[0];
      if (statinStart !== undefined) {
        const ldl = values(LABS.ldl.code);
        const before = ldl.filter(([t]) => t < statinStart).map(([, v]) => v);
        const after = ldl.filter(([t]) => t > statinStart + 30 * 86_400_000).map(([, v]) => v);
        if (before.length > 0 && after.length > 0) {
          if (Math.max(...after) < Math.min(...before)) ldlDrops++;
          else ldlRises++;
        }
      }
      // BMI agrees with the weight and height of the same encounter.
      const byEncounter = new Map<string, Map<string, number>>();
      for (const o of obs) {
        const m = byEncounter.get(o.encounter?.reference as string) ?? new Map<string, number>();
        m.set(codeOf(o) as string, o.valueQuantity?.value as number);
        byEncounter.set(o.encounter?.reference as string, m);
      }
      for (const m of byEncounter.values()) {
        const [w, h, bmi] = [m.get(VITALS.weight.code), m.get(VITALS.height.code), m.get(VITALS.bmi.code)];
        if (w !== undefined && h !== undefined && bmi !== undefined)
          assert.ok(Math.abs(bmi - w / (h / 100) ** 2) < 0.15, `BMI ${bmi} vs ${w} kg / ${h} cm`);
      }
      // Diagnostic reports reference their observations, which are laboratory results.
      const byUrl = new Map((bundle.entry ?? []).map((e) => [e.fullUrl, e.resource]));
      for (const report of ofType<{ resourceType: 'DiagnosticReport'; result?: { reference?: string }[] } & Resource>(
        bundle,
        'DiagnosticReport',
      )) {
        assert.ok((report.result?.length ?? 0) > 0);
        for (const r of report.result ?? []) {
          const o = byUrl.get(r.reference) as Observation | undefined;
          assert.equal(o?.resourceType, 'Observation');
          assert.equal(o?.category?.[0]?.coding?.[0]?.code, 'laboratory');
        }
      }
    }
    assert.ok(diabetics > 0 && hypertensives > 0, `${diabetics} diabetics, ${hypertensives} hypertensives`);
    assert.ok(ldlDrops >= ldlRises, `LDL fell after a statin for ${ldlDrops} patients, not for ${ldlRises}`);
  });

  it('includes notes as base64 text/plain attachments', () => {
    let notes = 0;
    for (const { bundle } of demo.patients) {
      for (const doc of ofType<
        { resourceType: 'DocumentReference'; content: { attachment: { contentType?: string; data?: string } }[] } & Resource
      >(bundle, 'DocumentReference')) {
        notes++;
        const att = doc.content[0]?.attachment;
        assert.ok(att?.contentType?.startsWith('text/plain'));
        const text = Buffer.from(att?.data ?? '', 'base64').toString('utf8');
        assert.match(text, /synthetic demo record/);
        assert.equal(Buffer.from(text, 'utf8').toString('base64'), att?.data);
      }
    }
    assert.ok(notes > 0);
  });

  it('other seeds and windows: valid, resolvable, inside the window', () => {
    for (const options of [
      { seed: 1, patients: 20 },
      { seed: -5, patients: 20, startYear: 2015, endDate: '2020-06-30' },
      { seed: 2 ** 40, patients: 10, startYear: 2025, endDate: '2025-03-01' },
    ]) {
      const d = generateDemo(options);
      assert.equal(d.patients.length, options.patients);
      const lo = Date.UTC(options.startYear ?? 2019, 0, 1);
      const hi = Date.parse(`${options.endDate ?? '2026-10-31'}T23:59:59Z`);
      const external = new Set([`Organization/${d.organization.id}`, ...d.practitioners.map((p) => `Practitioner/${p.id}`)]);
      for (const { bundle } of d.patients) {
        const result = validateResource(bundle);
        assert.ok(result.ok, JSON.stringify(!result.ok && result.issues.slice(0, 3)));
        const local = new Set((bundle.entry ?? []).map((e) => e.fullUrl));
        for (const r of references(bundle)) assert.ok(local.has(r) || external.has(r), `unresolved reference ${r}`);
        for (const enc of ofType<Encounter>(bundle, 'Encounter')) {
          const start = Date.parse(enc.period?.start as string);
          const end = Date.parse(enc.period?.end as string);
          assert.ok(
            start >= lo && end <= hi && start <= end,
            `${JSON.stringify(options)}: ${enc.period?.start}..${enc.period?.end}`,
          );
        }
      }
    }
  });

  it('produces valid FHIR R4 (validateResource) for every resource and bundle', () => {
    const failures: string[] = [];
    const check = (r: unknown, where: string) => {
      const result = validateResource(r);
      if (!result.ok) failures.push(`${where}: ${JSON.stringify(result.issues.slice(0, 3))}`);
    };
    check(demo.organization, 'Organization');
    for (const p of demo.practitioners) check(p, `Practitioner/${p.id}`);
    demo.patients.forEach(({ bundle }, i) => {
      check(bundle, `patient ${i} bundle`);
      for (const e of bundle.entry ?? []) check(e.resource, `patient ${i} ${e.resource?.resourceType} ${e.fullUrl}`);
    });
    assert.deepEqual(failures.slice(0, 5), []);
  });
});
