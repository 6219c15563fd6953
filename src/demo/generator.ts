/**
 * Deterministic generator of synthetic FHIR R4 demo data: one organization, a few clinicians and
 * about fifty patients with multi-year histories. No real persons; no wall clock; no Math.random —
 * every choice comes from a seeded {@link Random}, so the same options give byte-identical output.
 *
 * Each patient's history is a FHIR `transaction` Bundle whose entries are POSTed with `urn:uuid:`
 * fullUrls (references between entries use them); the organization and practitioners are returned
 * separately with fixed client ids (`demo-org-1`, `demo-prac-N`) for the loader to PUT first, and
 * the bundles reference them as `Organization/<id>` / `Practitioner/<id>`.
 *
 * The clinical model is simple but coherent: chronic conditions by age-dependent prevalence, their
 * first-line medications (with the occasional side-effect switch), visit frequency rising with
 * disease burden, vitals and labs drawn from per-patient physiology that responds to disease and
 * treatment (blood pressure falls after an antihypertensive, LDL after a statin, HbA1c after
 * metformin, eGFR declines in CKD), immunizations by age and season, occasional emergency visits and
 * admissions with notes.
 */
import type {
  AllergyIntolerance,
  Bundle,
  BundleEntry,
  CarePlan,
  CodeableConcept,
  Coding,
  Condition,
  DiagnosticReport,
  DocumentReference,
  Encounter,
  Immunization,
  MedicationRequest,
  Observation,
  ObservationComponent,
  Organization,
  Patient,
  Practitioner,
  Procedure,
  Quantity,
  Resource,
} from '@medplum/fhirtypes';
import {
  ACUTE_PROBLEMS,
  ALLERGIES,
  ANTIHYPERTENSIVES,
  CHILD_SCHEDULE,
  CHRONIC_CONDITIONS,
  CITIES,
  DOCUMENT_TYPES,
  EMERGENCY_PROBLEMS,
  ENCOUNTER_CLASSES,
  ENCOUNTER_TYPES,
  FAMILY_NAMES,
  GIVEN_NAMES_FEMALE,
  GIVEN_NAMES_MALE,
  INTERPRETATIONS,
  LABS,
  MEDICATIONS,
  MIDDLE_INITIALS,
  OBSERVATION_CATEGORIES,
  PANELS,
  PROCEDURES,
  SPECIALTIES,
  STREET_NAMES,
  SYSTEMS,
  VACCINES,
  VITALS,
  type AcuteProblem,
  type ChronicCondition,
  type ChronicKey,
  type Code,
  type LabKey,
  type MedicationKey,
  type ObservationCode,
  type PanelKey,
  type VaccineKey,
} from './catalog.js';
import { Random } from './random.js';

export interface DemoOptions {
  /** Seed of the random source (default 20190101). */
  seed?: number;
  /** Number of patients (default 50). */
  patients?: number;
  /** First calendar year of the histories (default 2019). */
  startYear?: number;
  /** Last day of the histories, YYYY-MM-DD (default 2026-10-31). */
  endDate?: string;
}

export interface PatientHistory {
  /** The Patient resource (also the first entry of the bundle). */
  patient: Patient;
  /** A FHIR transaction Bundle: the Patient and its whole history, POSTed with urn:uuid fullUrls. */
  bundle: Bundle;
}

export interface DemoData {
  /** To be PUT first (client id {@link DEMO_ORGANIZATION_ID}). */
  organization: Organization & { id: string };
  /** To be PUT after the organization (client ids `demo-prac-N`). */
  practitioners: (Practitioner & { id: string })[];
  patients: PatientHistory[];
}

export const DEMO_ORGANIZATION_ID = 'demo-org-1';
export const DEMO_DEFAULTS = { seed: 20190101, patients: 50, startYear: 2019, endDate: '2026-10-31' } as const;

/** A literal reference (assignable to every typed FHIR Reference). */
interface Ref {
  reference: string;
  display?: string;
}

const DAY = 86_400_000;
const YEAR = 365.25 * DAY;
const MINUTE = 60_000;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/** ISO dateTime with a timezone (UTC), seconds precision. */
const dateTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** ISO instant (same format; FHIR instant requires seconds and zone). */
const instant = dateTime;
const dateOnly = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const round = (x: number, decimals: number): number => {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
};
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
const coding = (system: string, c: Code): Coding => ({ system, code: c.code, display: c.display });
const concept = (system: string, c: Code, text?: string): CodeableConcept => ({
  coding: [coding(system, c)],
  text: text ?? c.display,
});
const quantity = (value: number, oc: ObservationCode): Quantity => ({
  value: round(value, oc.decimals),
  unit: oc.unit,
  system: SYSTEMS.ucum,
  code: oc.ucum,
});
const asciiFold = (s: string): string =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
/** UTF-8 text → base64, without Buffer (works in browsers too). */
function base64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] as number;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    const n = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    out += alphabet.charAt((n >> 18) & 63) + alphabet.charAt((n >> 12) & 63);
    out += b === undefined ? '=' : alphabet.charAt((n >> 6) & 63);
    out += c === undefined ? '=' : alphabet.charAt(n & 63);
  }
  return out;
}

/** Child height (cm) and BMI medians by age in years, interpolated (roughly CDC growth charts). */
const CHILD_HEIGHT: readonly (readonly [number, number, number])[] = [
  // age, male, female
  [0, 50, 49],
  [0.5, 67, 65],
  [1, 76, 74],
  [2, 87, 86],
  [3, 95, 94],
  [4, 103, 101],
  [6, 116, 115],
  [8, 128, 127],
  [10, 138, 138],
  [12, 149, 151],
  [14, 164, 160],
  [16, 173, 163],
  [18, 176, 163],
];
const CHILD_BMI: readonly (readonly [number, number])[] = [
  [0, 13.5],
  [0.5, 17.2],
  [1, 17.5],
  [2, 16.5],
  [5, 15.5],
  [8, 16.0],
  [11, 17.8],
  [14, 19.5],
  [18, 21.8],
];
function interpolate(table: readonly (readonly number[])[], x: number, col: number): number {
  const first = table[0] as readonly number[];
  if (x <= (first[0] as number)) return first[col] as number;
  for (let i = 1; i < table.length; i++) {
    const hi = table[i] as readonly number[];
    const lo = table[i - 1] as readonly number[];
    if (x <= (hi[0] as number)) {
      const t = (x - (lo[0] as number)) / ((hi[0] as number) - (lo[0] as number));
      return (lo[col] as number) + t * ((hi[col] as number) - (lo[col] as number));
    }
  }
  return (table[table.length - 1] as readonly number[])[col] as number;
}

// ---------------------------------------------------------------------------------------------
// Organization and practitioners
// ---------------------------------------------------------------------------------------------

interface Clinician {
  resource: Practitioner & { id: string };
  specialty: (typeof SPECIALTIES)[number];
  ref: Ref;
  name: string;
}

function makeOrganization(): Organization & { id: string } {
  return {
    resourceType: 'Organization',
    id: DEMO_ORGANIZATION_ID,
    identifier: [{ system: SYSTEMS.orgId, value: 'RIVERBEND-HEALTH' }],
    active: true,
    type: [concept(SYSTEMS.organizationType, { code: 'prov', display: 'Healthcare Provider' })],
    name: 'Riverbend Community Health (demo)',
    telecom: [
      { system: 'phone', value: '555-555-0100', use: 'work' },
      { system: 'url', value: 'https://riverbend-health.example.org' },
    ],
    address: [
      {
        use: 'work',
        type: 'physical',
        line: ['100 Harbor Street'],
        city: 'Riverbend',
        state: 'ZZ',
        postalCode: '99001',
        country: 'US',
      },
    ],
  };
}

function makeClinicians(rng: Random): Clinician[] {
  return SPECIALTIES.map((specialty, i) => {
    const female = rng.chance(0.5);
    const given = rng.pick(female ? GIVEN_NAMES_FEMALE : GIVEN_NAMES_MALE);
    const family = rng.pick(FAMILY_NAMES);
    const id = `demo-prac-${i + 1}`;
    const resource: Practitioner & { id: string } = {
      resourceType: 'Practitioner',
      id,
      identifier: [{ system: SYSTEMS.npi, value: `99${String(1000000 + i * 7919).slice(-8)}` }],
      active: true,
      name: [{ use: 'official', family, given: [given], prefix: ['Dr.'], suffix: ['MD'] }],
      telecom: [
        { system: 'phone', value: `555-555-01${String(10 + i).padStart(2, '0')}`, use: 'work' },
        { system: 'email', value: `${asciiFold(given)}.${asciiFold(family)}@riverbend-health.example.org`, use: 'work' },
      ],
      gender: female ? 'female' : 'male',
      qualification: [
        {
          code: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0360', code: 'MD', display: 'Doctor of Medicine' }],
            text: `MD, ${specialty.title}`,
          },
          issuer: { display: 'Demo State Medical Board' },
        },
      ],
    };
    return {
      resource,
      specialty,
      ref: { reference: `Practitioner/${id}`, display: `Dr. ${given} ${family}` },
      name: `Dr. ${given} ${family}`,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// One patient
// ---------------------------------------------------------------------------------------------

type EncounterKind = 'routine' | 'diagnosis' | 'acute' | 'emergency' | 'inpatient' | 'immunization';

interface PlannedEncounter {
  start: number;
  kind: EncounterKind;
  /** Chronic conditions diagnosed at this visit. */
  diagnoses: ChronicCondition[];
  acute?: AcuteProblem;
  emergency?: (typeof EMERGENCY_PROBLEMS)[number];
  vaccines: VaccineKey[];
  days: number;
}

interface ActiveCondition {
  def: ChronicCondition;
  onset: number;
  /** Diagnosed at its own visit inside the window (else recorded as history at the first visit). */
  planned?: boolean;
  ref?: Ref;
  resource?: Condition;
}

interface MedCourse {
  key: MedicationKey;
  start: number;
  resource: MedicationRequest;
}

interface Context {
  organizationRef: Ref;
  clinicians: Clinician[];
  windowStart: number;
  end: number;
}

const ROUTINE_PANELS: readonly PanelKey[] = ['a1c', 'lipid', 'bmp', 'cbc', 'tsh'];

class PatientBuilder {
  readonly entries: BundleEntry[] = [];
  readonly female: boolean;
  readonly birth: number;
  readonly patientRef: Ref;
  readonly patient: Patient;
  private readonly conditions = new Map<ChronicKey, ActiveCondition>();
  private readonly meds: MedCourse[] = [];
  private readonly pendingMeds: { key: MedicationKey; due: number; reason: ChronicKey }[] = [];
  private readonly pendingStops: { course: MedCourse; due: number }[] = [];
  private readonly lastPanel = new Map<PanelKey, number>();
  private lastHeightYear = -1;
  private readonly sbpHistory: number[] = [];
  private firstEncounterDone = false;
  private allergiesRecorded = false;
  private readonly pcp: Clinician;
  // Physiology (per-patient constants).
  private readonly heightZ: number;
  private readonly bmiBase: number;
  private readonly bmiDrift: number;
  private readonly sbpOffset: number;
  private readonly dbpOffset: number;
  private readonly hrOffset: number;
  private readonly ldlBase: number;
  private readonly hdlBase: number;
  private readonly tgBase: number;
  private readonly a1cBase: number;
  private readonly egfrBase: number;
  private readonly hgbBase: number;
  private readonly tshBase: number;
  private readonly nameText: string;

  constructor(
    private readonly rng: Random,
    private readonly ctx: Context,
    index: number,
  ) {
    const ageAtEnd = rng.weighted<readonly [number, number]>([
      [[0, 4], 6],
      [[5, 17], 16],
      [[18, 34], 22],
      [[35, 49], 19],
      [[50, 64], 19],
      [[65, 79], 13],
      [[80, 95], 5],
    ]);
    const age = rng.int(ageAtEnd[0], ageAtEnd[1]);
    this.birth = Math.floor((ctx.end - age * YEAR - rng.int(1, 360) * DAY) / DAY) * DAY;
    this.female = rng.chance(0.51);
    this.heightZ = rng.normalClamped(0, 1, -2.5, 2.5);
    this.bmiDrift = rng.normal(0.15, 0.25);
    this.sbpOffset = rng.normal(0, 6);
    this.dbpOffset = rng.normal(0, 4);
    this.hrOffset = rng.normal(0, 6);
    this.ldlBase = rng.normal(110, 18);
    this.hdlBase = rng.normal(this.female ? 58 : 48, 8);
    this.tgBase = rng.normal(115, 25);
    this.a1cBase = rng.normal(5.3, 0.2);
    this.egfrBase = rng.normal(0, 6);
    this.hgbBase = rng.normal(this.female ? 13.6 : 15.0, 0.8);
    this.tshBase = rng.normalClamped(1.8, 0.6, 0.6, 3.8);

    // Chronic conditions by prevalence at today's age (obesity first: it raises the others).
    const ageNow = this.ageAt(ctx.end);
    const obese =
      ageNow >= 6 &&
      rng.chance((CHRONIC_CONDITIONS.find((c) => c.key === 'obesity') as ChronicCondition).prevalence(ageNow, this.female));
    const chosen: ChronicCondition[] = [];
    for (const def of CHRONIC_CONDITIONS) {
      if (ageNow < def.minAge) continue;
      if (def.key === 'obesity') {
        if (obese) chosen.push(def);
        continue;
      }
      const boost = obese && (def.key === 'diabetes' || def.key === 'hypertension' || def.key === 'osteoarthritis') ? 1.8 : 1;
      if (rng.chance(Math.min(0.9, def.prevalence(ageNow, this.female) * boost))) chosen.push(def);
    }
    if (chosen.length === 0) {
      const eligible = CHRONIC_CONDITIONS.filter((c) => ageNow >= c.minAge).map(
        (c) => [c, c.prevalence(ageNow, this.female)] as const,
      );
      if (eligible.length > 0) chosen.push(rng.weighted(eligible));
    }
    for (const def of rng.sample(chosen, rng.int(1, 4))) {
      const earliest = Math.max(def.minAge, ageNow - 20);
      const onsetAge = rng.range(earliest, Math.max(earliest, ageNow - 0.25));
      const onset = Math.min(ctx.end - 30 * DAY, this.birth + onsetAge * YEAR);
      this.conditions.set(def.key, { def, onset: Math.floor(onset / DAY) * DAY });
    }
    this.bmiBase = this.has('obesity') ? rng.normalClamped(34, 3, 30.5, 45) : rng.normalClamped(25.5, 3, 18.5, 29.5);

    // Demographics.
    const given = rng.pick(this.female ? GIVEN_NAMES_FEMALE : GIVEN_NAMES_MALE);
    const family = rng.pick(FAMILY_NAMES);
    const middle = rng.pick(MIDDLE_INITIALS);
    const city = rng.pick(CITIES);
    this.nameText = `${given} ${family}`;
    this.pcp = ctx.clinicians[ageNow < 18 ? 4 : rng.pick([0, 3])] as Clinician;
    const patientUuid = rng.uuid();
    this.patientRef = { reference: `urn:uuid:${patientUuid}`, display: this.nameText };
    const adult = ageNow >= 18;
    this.patient = {
      resourceType: 'Patient',
      identifier: [
        {
          use: 'usual',
          type: concept(SYSTEMS.identifierType, { code: 'MR', display: 'Medical record number' }),
          system: SYSTEMS.mrn,
          value: `DEMO-${String(index + 1).padStart(6, '0')}`,
          assigner: ctx.organizationRef,
        },
      ],
      active: true,
      name: [{ use: 'official', family, given: adult ? [given, `${middle}.`] : [given], text: this.nameText }],
      telecom: [
        { system: 'phone', value: `555-555-01${String(rng.int(20, 99))}`, use: adult ? 'mobile' : 'home' },
        ...(adult
          ? [
              {
                system: 'email' as const,
                value: `${asciiFold(given)}.${asciiFold(family)}${rng.int(1, 99)}@example.org`,
                use: 'home' as const,
              },
            ]
          : []),
      ],
      gender: this.female ? 'female' : 'male',
      birthDate: dateOnly(this.birth),
      address: [
        {
          use: 'home',
          type: 'physical',
          line: [`${rng.int(1, 2999)} ${rng.pick(STREET_NAMES)}`],
          city: city.city,
          state: city.state,
          postalCode: `${city.zipPrefix}${rng.digits(2)}`,
          country: 'US',
        },
      ],
      maritalStatus: adult
        ? concept(
            SYSTEMS.maritalStatus,
            rng.weighted([
              [{ code: 'M', display: 'Married' }, 5],
              [{ code: 'S', display: 'Never Married' }, 3],
              [{ code: 'D', display: 'Divorced' }, 1],
              [{ code: 'W', display: 'Widowed' }, ageNow > 60 ? 2 : 0.2],
            ]),
          )
        : concept(SYSTEMS.maritalStatus, { code: 'S', display: 'Never Married' }),
      communication: [
        { language: concept(SYSTEMS.language, { code: 'en-US', display: 'English (United States)' }), preferred: true },
      ],
      managingOrganization: ctx.organizationRef,
      generalPractitioner: [this.pcp.ref],
    };
    this.add(this.patient, patientUuid);
  }

  ageAt(ms: number): number {
    return (ms - this.birth) / YEAR;
  }

  private has(key: ChronicKey, at?: number): boolean {
    const c = this.conditions.get(key);
    return c !== undefined && (at === undefined || c.onset <= at);
  }

  private onMed(key: MedicationKey, at: number): MedCourse | undefined {
    return this.meds.find((m) => m.key === key && m.start <= at && m.resource.status === 'active');
  }

  private medStart(keys: readonly MedicationKey[], at: number): number | undefined {
    let best: number | undefined;
    for (const m of this.meds)
      if (keys.includes(m.key) && m.start <= at && (best === undefined || m.start < best)) best = m.start;
    return best;
  }

  private add(resource: Resource, uuid: string = this.rng.uuid()): Ref {
    this.entries.push({ fullUrl: `urn:uuid:${uuid}`, resource, request: { method: 'POST', url: resource.resourceType } });
    return { reference: `urn:uuid:${uuid}` };
  }

  // -------------------------------------------------------------------------------------------
  // Planning
  // -------------------------------------------------------------------------------------------

  plan(): PlannedEncounter[] {
    const { rng, ctx } = this;
    const start = Math.max(ctx.windowStart, this.birth + 3 * DAY);
    const visits: PlannedEncounter[] = [];
    const at = (ms: number, kind: EncounterKind, extra: Partial<PlannedEncounter> = {}): PlannedEncounter => {
      const day = Math.floor(ms / DAY) * DAY;
      const minutes =
        kind === 'emergency' ? rng.int(0, 95) * 15 : kind === 'inpatient' ? rng.int(28, 88) * 15 : rng.int(32, 66) * 15; // 08:00-16:30
      const e: PlannedEncounter = { start: day + minutes * MINUTE, kind, diagnoses: [], vaccines: [], days: 0, ...extra };
      visits.push(e);
      return e;
    };

    // Routine visits: well-child schedule, then intervals shrinking with the disease burden.
    const wellChildAges = [0.01, 0.08, 0.17, 0.33, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3];
    for (const a of wellChildAges) {
      const ms = this.birth + a * YEAR + rng.int(0, 6) * DAY;
      if (ms >= start && ms <= ctx.end) at(ms, 'routine');
    }
    let t = Math.max(start, this.birth + 3.5 * YEAR) + rng.int(0, 120) * DAY;
    while (t <= ctx.end) {
      at(t, 'routine');
      const burden = [...this.conditions.values()].filter((c) => c.onset <= t && c.def.key !== 'obesity').length;
      const months = this.ageAt(t) < 18 ? 12 : burden === 0 ? 12 : burden <= 2 ? 6 : 4;
      t += Math.max(45, Math.round(rng.normal(months * 30.4, months * 3))) * DAY;
    }

    // Diagnoses inside the window get their own visit; earlier ones are recorded at the first visit.
    for (const c of this.conditions.values()) {
      if (c.onset >= start && c.onset <= ctx.end) {
        c.planned = true;
        at(c.onset, 'diagnosis', { diagnoses: [c.def] });
      }
    }

    // Acute problems, emergencies and admissions.
    const years = (ctx.end - start) / YEAR;
    const child = this.ageAt(ctx.end) < 18;
    const acuteRate = child ? 0.8 : 0.4;
    const sickness = this.conditions.size + (this.ageAt(ctx.end) > 70 ? 2 : 0);
    for (let y = 0; y < years; y++) {
      const yearStart = start + y * YEAR;
      const span = Math.min(YEAR, ctx.end - yearStart);
      if (span <= 0) break;
      for (let k = 0; k < 2; k++) {
        if (!rng.chance(acuteRate / 2)) continue;
        const ms = yearStart + rng.int(0, Math.floor(span / DAY)) * DAY;
        const age = this.ageAt(ms);
        const options = ACUTE_PROBLEMS.filter((p) => p.ages === 'any' || (p.ages === 'child') === age < 18);
        at(ms, 'acute', { acute: rng.pick(options) });
      }
      if (rng.chance(0.06 + 0.03 * sickness)) {
        const ms = yearStart + rng.int(0, Math.floor(span / DAY)) * DAY;
        if (ms + 8 * DAY > ctx.end) continue;
        const problem = rng.pick(EMERGENCY_PROBLEMS);
        const admit = problem.admit && rng.chance(this.ageAt(ms) > 60 ? 0.8 : 0.4);
        at(ms, admit ? 'inpatient' : 'emergency', { emergency: problem, days: admit ? rng.int(2, 6) : 0 });
      }
    }

    // Immunizations: attach each due dose to a routine visit soon after it is due, else its own visit.
    const doses: { key: VaccineKey; due: number }[] = [];
    for (const [key, ageDays] of CHILD_SCHEDULE) {
      const due = this.birth + ageDays * DAY;
      if (due >= start && due <= ctx.end) doses.push({ key, due });
    }
    for (let year = new Date(start).getUTCFullYear(); year <= new Date(ctx.end).getUTCFullYear(); year++) {
      const fluDue = Date.UTC(year, 8, 15) + rng.int(0, 75) * DAY;
      const age = this.ageAt(fluDue);
      const p = age < 0.5 ? 0 : age < 18 ? 0.55 : age < 65 ? 0.45 : 0.75;
      if (fluDue >= start && fluDue <= ctx.end && rng.chance(p))
        doses.push({ key: rng.chance(0.7) ? 'fluPf' : 'flu', due: fluDue });
    }
    const covidStart = Date.UTC(2021, 3, 1) + rng.int(0, 150) * DAY;
    if (this.ageAt(covidStart) >= 12 && covidStart >= start && covidStart <= ctx.end && rng.chance(0.72)) {
      const brand: VaccineKey = rng.chance(0.6) ? 'covidPfizer' : 'covidModerna';
      doses.push({ key: brand, due: covidStart }, { key: brand, due: covidStart + (brand === 'covidPfizer' ? 21 : 28) * DAY });
      const booster = Date.UTC(2021, 10, 1) + rng.int(0, 120) * DAY;
      if (booster <= ctx.end && rng.chance(0.6)) doses.push({ key: brand, due: booster });
      const fall2023 = Date.UTC(2023, 8, 20) + rng.int(0, 60) * DAY;
      if (fall2023 <= ctx.end && rng.chance(0.35)) doses.push({ key: brand, due: fall2023 });
    }
    const ageStart = this.ageAt(start);
    if (ageStart >= 19 && rng.chance(0.15))
      doses.push({
        key: rng.chance(0.7) ? 'tdap' : 'td',
        due: start + rng.int(30, Math.max(31, Math.floor(years * 365) - 30)) * DAY,
      });
    const at65 = this.birth + 65 * YEAR;
    if (at65 <= ctx.end && rng.chance(0.6)) doses.push({ key: 'ppsv23', due: Math.max(start, at65) + rng.int(0, 200) * DAY });
    const at50 = this.birth + 50 * YEAR;
    if (at50 <= ctx.end && rng.chance(0.35)) {
      const first = Math.max(start, at50, Date.UTC(2019, 0, 1)) + rng.int(30, 400) * DAY;
      doses.push({ key: 'zoster', due: first }, { key: 'zoster', due: first + rng.int(60, 180) * DAY });
    }
    if (this.has('diabetes') && ageStart >= 19 && ageStart < 60 && rng.chance(0.3)) {
      const first = start + rng.int(30, 700) * DAY;
      doses.push(
        { key: 'hepBAdult', due: first },
        { key: 'hepBAdult', due: first + 30 * DAY },
        { key: 'hepBAdult', due: first + 180 * DAY },
      );
    }
    doses.sort((a, b) => a.due - b.due);
    for (const dose of doses) {
      if (dose.due > ctx.end) continue;
      const host = visits.find(
        (v) => (v.kind === 'routine' || v.kind === 'immunization') && v.start >= dose.due && v.start <= dose.due + 45 * DAY,
      );
      if (host !== undefined && !host.vaccines.includes(dose.key)) host.vaccines.push(dose.key);
      else at(dose.due, 'immunization', { vaccines: [dose.key] });
    }

    return visits.filter((v) => v.start >= start && v.start <= ctx.end).sort((a, b) => a.start - b.start);
  }

  // -------------------------------------------------------------------------------------------
  // Simulation
  // -------------------------------------------------------------------------------------------

  simulate(visits: PlannedEncounter[]): void {
    for (const v of visits) this.encounter(v);
    // Chronic courses still active at the end stay active; care plans likewise.
  }

  private encounter(v: PlannedEncounter): void {
    const { rng, ctx } = this;
    const age = this.ageAt(v.start);
    const duration =
      v.kind === 'inpatient'
        ? v.days * DAY + rng.int(-8, 8) * 60 * MINUTE
        : v.kind === 'emergency'
          ? rng.int(2, 7) * 60 * MINUTE
          : rng.int(3, 5) * 10 * MINUTE;
    const end = Math.min(v.start + duration, ctx.end);
    const cls =
      v.kind === 'inpatient' ? ENCOUNTER_CLASSES.IMP : v.kind === 'emergency' ? ENCOUNTER_CLASSES.EMER : ENCOUNTER_CLASSES.AMB;
    const type =
      v.kind === 'inpatient'
        ? ENCOUNTER_TYPES.admission
        : v.kind === 'emergency'
          ? ENCOUNTER_TYPES.emergency
          : v.kind === 'acute'
            ? ENCOUNTER_TYPES.symptom
            : v.kind === 'immunization'
              ? ENCOUNTER_TYPES.immunization
              : v.kind === 'diagnosis'
                ? ENCOUNTER_TYPES.followUp
                : age < 18
                  ? ENCOUNTER_TYPES.wellChild
                  : ENCOUNTER_TYPES.checkUp;
    const clinician =
      v.kind === 'emergency'
        ? (ctx.clinicians[5] as Clinician)
        : v.kind === 'inpatient'
          ? (ctx.clinicians[3] as Clinician)
          : v.diagnoses.some((d) => d.key === 'afib' || d.key === 'cad' || d.key === 'heartFailure')
            ? (ctx.clinicians[1] as Clinician)
            : v.diagnoses.some((d) => d.key === 'diabetes' || d.key === 'hypothyroidism')
              ? (ctx.clinicians[2] as Clinician)
              : this.pcp;
    const reason: Code | undefined = v.acute ?? v.emergency ?? v.diagnoses[0];
    const encounter: Encounter = {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: SYSTEMS.actCode, code: cls.code, display: cls.display },
      type: [concept(SYSTEMS.snomed, type)],
      subject: this.patientRef,
      participant: [
        {
          type: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
                  code: 'PPRF',
                  display: 'primary performer',
                },
              ],
            },
          ],
          individual: clinician.ref,
        },
      ],
      period: { start: dateTime(v.start), end: dateTime(end) },
      ...(reason !== undefined ? { reasonCode: [concept(SYSTEMS.snomed, reason)] } : {}),
      ...(v.kind === 'inpatient'
        ? {
            hospitalization: {
              admitSource: concept('http://terminology.hl7.org/CodeSystem/admit-source', {
                code: 'emd',
                display: 'From accident/emergency department',
              }),
              dischargeDisposition: concept(SYSTEMS.dischargeDisposition, { code: 'home', display: 'Home' }),
            },
          }
        : {}),
      serviceProvider: ctx.organizationRef,
    };
    const encRef = this.add(encounter);
    const at = v.start + rng.int(5, 15) * MINUTE;

    // First visit: the problem list so far, allergies, ongoing medications.
    if (!this.firstEncounterDone) {
      this.firstEncounterDone = true;
      for (const c of this.conditions.values()) if (c.planned !== true) this.diagnose(c, encRef, clinician, at, true);
    }
    if (!this.allergiesRecorded && age >= 1) {
      this.allergiesRecorded = true;
      this.recordAllergies(encRef, clinician, at);
    }
    for (const def of v.diagnoses) this.diagnose(this.conditions.get(def.key) as ActiveCondition, encRef, clinician, at, false);

    // Vitals.
    if (v.kind !== 'immunization' || age < 2) this.vitals(v, encRef, clinician, at);

    // Labs.
    const labAt = at + rng.int(5, 10) * MINUTE;
    const panels: PanelKey[] = [];
    if (v.kind === 'emergency' || v.kind === 'inpatient') panels.push('bmp', 'cbc');
    else if (v.kind === 'routine' || v.kind === 'diagnosis') {
      for (const p of ROUTINE_PANELS) if (this.panelDue(p, v, age)) panels.push(p);
    }
    for (const p of panels) this.panel(p, encRef, clinician, labAt);

    // Blood pressure above goal at two visits in a row on fewer than three drugs: add one.
    if ((v.kind === 'routine' || v.kind === 'diagnosis') && this.has('hypertension', v.start) && this.sbpHistory.length >= 2) {
      const [prev, last] = this.sbpHistory.slice(-2) as [number, number];
      const onNow = ANTIHYPERTENSIVES.filter((k) => this.onMed(k, at) !== undefined);
      const recent = this.meds.some((m) => ANTIHYPERTENSIVES.includes(m.key) && at - m.start < 120 * DAY);
      const next = (['amlodipine', 'hydrochlorothiazide'] as const).find(
        (k) => !onNow.includes(k) && !this.pendingMeds.some((p) => p.key === k),
      );
      if (prev >= 140 && last >= 140 && onNow.length < 3 && !recent && next !== undefined)
        this.pendingMeds.push({ key: next, due: at, reason: 'hypertension' });
    }
    // Medication changes due at this visit (not in the emergency room), after today's measurements.
    if (v.kind !== 'emergency' && v.kind !== 'immunization') this.medicationChanges(encRef, clinician, at + 15 * MINUTE);

    // Immunizations.
    for (const key of v.vaccines) this.immunize(key, encRef, clinician, at + rng.int(5, 10) * MINUTE);

    // Acute problems and emergencies.
    if (v.acute !== undefined) this.acuteProblem(v.acute, encRef, clinician, v.start);
    if (v.emergency !== undefined) this.emergency(v, encRef, clinician, end);

    // Procedures and screening at routine visits.
    for (const def of v.diagnoses) {
      if (def.key === 'afib' || def.key === 'cad') this.procedure(PROCEDURES.ecg, encRef, clinician, at + 20 * MINUTE, 15);
      if (def.key === 'heartFailure') this.procedure(PROCEDURES.echocardiography, encRef, clinician, at + 30 * MINUTE, 40);
      if (def.key === 'asthma' || def.key === 'copd')
        this.procedure(PROCEDURES.spirometry, encRef, clinician, at + 20 * MINUTE, 20);
    }
    if (v.kind === 'routine' && age >= 18) {
      if (rng.chance(0.25)) this.procedure(PROCEDURES.depressionScreening, encRef, clinician, at + 15 * MINUTE, 5);
      if (this.female && age >= 50 && age < 75 && rng.chance(0.3))
        this.procedure(PROCEDURES.mammography, encRef, clinician, at + 45 * MINUTE, 20);
      if (age >= 50 && age < 76 && rng.chance(0.06))
        this.procedure(PROCEDURES.colonoscopy, encRef, clinician, at + 60 * MINUTE, 40);
    }
    if (v.diagnoses.length > 0 || (v.kind === 'routine' && age >= 18 && rng.chance(0.12))) {
      this.note(DOCUMENT_TYPES.progress, encRef, clinician, end, this.progressText(v, age));
    }
  }

  private diagnose(c: ActiveCondition, encRef: Ref, clinician: Clinician, at: number, historical: boolean): void {
    const { rng } = this;
    const condition: Condition = {
      resourceType: 'Condition',
      clinicalStatus: concept(SYSTEMS.conditionClinical, { code: 'active', display: 'Active' }),
      verificationStatus: concept(SYSTEMS.conditionVerification, { code: 'confirmed', display: 'Confirmed' }),
      category: [concept(SYSTEMS.conditionCategory, { code: 'problem-list-item', display: 'Problem List Item' })],
      code: concept(SYSTEMS.snomed, c.def),
      subject: this.patientRef,
      encounter: encRef,
      onsetDateTime: dateTime(historical ? c.onset : at),
      recordedDate: dateTime(at),
      recorder: clinician.ref,
    };
    c.ref = this.add(condition);
    c.resource = condition;
    if (!historical) c.onset = Math.min(c.onset, at);

    // Medications: first line now (statins after a trial of diet when diagnosed here).
    const meds = c.def.medications;
    // Hypertension starts on one drug; amlodipine and hydrochlorothiazide are add-ons decided below.
    const firstLine = c.def.key === 'hypertension' ? 1 : meds.length;
    meds.slice(0, firstLine).forEach((key, i) => {
      if (this.meds.some((m) => m.key === key && m.resource.status === 'active') || this.pendingMeds.some((p) => p.key === key))
        return;
      const delay =
        key === 'atorvastatin' && !historical && c.def.key === 'hyperlipidemia'
          ? rng.int(90, 240)
          : i > 0 && !historical
            ? rng.int(0, 60)
            : 0;
      this.pendingMeds.push({ key, due: at + delay * DAY, reason: c.def.key });
    });
    if (c.def.key === 'hypertension' && historical && rng.chance(0.3))
      this.pendingMeds.push({ key: 'amlodipine', due: at, reason: 'hypertension' });

    if (c.def.carePlan.length > 0) {
      const plan: CarePlan = {
        resourceType: 'CarePlan',
        status: 'active',
        intent: 'plan',
        category: [concept(SYSTEMS.carePlanCategory, { code: 'assess-plan', display: 'Assessment and Plan of Treatment' })],
        title: `${c.def.display} care plan`,
        subject: this.patientRef,
        encounter: encRef,
        period: { start: dateTime(at) },
        created: dateTime(at),
        author: clinician.ref,
        addresses: [c.ref],
        activity: c.def.carePlan.map((a) => ({
          detail: {
            kind: 'ServiceRequest' as const,
            code: concept(SYSTEMS.snomed, a),
            status: 'in-progress' as const,
            location: { display: 'Home' },
          },
        })),
      };
      this.add(plan);
    }
  }

  private medicationChanges(encRef: Ref, clinician: Clinician, at: number): void {
    const { rng } = this;
    for (let i = 0; i < this.pendingStops.length;) {
      const stop = this.pendingStops[i] as { course: MedCourse; due: number };
      if (stop.due > at) {
        i++;
        continue;
      }
      this.pendingStops.splice(i, 1);
      const med = MEDICATIONS[stop.course.key];
      stop.course.resource.status = 'stopped';
      stop.course.resource.statusReason = { text: med.stopReason ?? 'Discontinued' };
      const dosage = stop.course.resource.dosageInstruction?.[0];
      if (dosage?.timing?.repeat !== undefined)
        dosage.timing.repeat.boundsPeriod = { start: dateTime(stop.course.start), end: dateTime(at) };
      if (med.alternative !== undefined) this.prescribe(med.alternative, encRef, clinician, at, this.reasonFor(stop.course.key));
    }
    for (let i = 0; i < this.pendingMeds.length;) {
      const p = this.pendingMeds[i] as { key: MedicationKey; due: number; reason: ChronicKey };
      if (p.due > at) {
        i++;
        continue;
      }
      this.pendingMeds.splice(i, 1);
      const course = this.prescribe(p.key, encRef, clinician, at, p.reason);
      const med = MEDICATIONS[p.key];
      if (med.alternative !== undefined && rng.chance(0.12)) this.pendingStops.push({ course, due: at + rng.int(60, 300) * DAY });
    }
  }

  private reasonFor(key: MedicationKey): ChronicKey {
    for (const c of this.conditions.values()) if (c.def.medications.includes(key)) return c.def.key;
    return 'hypertension';
  }

  private prescribe(key: MedicationKey, encRef: Ref, clinician: Clinician, at: number, reason: ChronicKey): MedCourse {
    const med = MEDICATIONS[key];
    const cond = this.conditions.get(reason);
    const request: MedicationRequest = {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: concept(SYSTEMS.rxnorm, med),
      subject: this.patientRef,
      encounter: encRef,
      authoredOn: dateTime(at),
      requester: clinician.ref,
      ...(cond?.ref !== undefined ? { reasonReference: [cond.ref] } : {}),
      dosageInstruction: [
        {
          text: med.dosage,
          timing: {
            repeat: {
              boundsPeriod: { start: dateTime(at) },
              ...(med.perDay > 0 ? { frequency: med.perDay, period: 1, periodUnit: 'd' as const } : {}),
            },
          },
          asNeededBoolean: med.asNeeded === true,
        },
      ],
      dispenseRequest: {
        numberOfRepeatsAllowed: 3,
        expectedSupplyDuration: { value: 90, unit: 'days', system: SYSTEMS.ucum, code: 'd' },
      },
    };
    this.add(request);
    const course: MedCourse = { key, start: at, resource: request };
    this.meds.push(course);
    return course;
  }

  private recordAllergies(encRef: Ref, clinician: Clinician, at: number): void {
    const { rng } = this;
    for (const allergy of ALLERGIES) {
      if (!rng.chance(allergy.prevalence)) continue;
      const reaction = rng.pick(allergy.reactions);
      const severe = reaction.code === '39579001';
      const resource: AllergyIntolerance = {
        resourceType: 'AllergyIntolerance',
        clinicalStatus: concept(SYSTEMS.allergyClinical, { code: 'active', display: 'Active' }),
        verificationStatus: concept(SYSTEMS.allergyVerification, { code: 'confirmed', display: 'Confirmed' }),
        type: 'allergy',
        category: [allergy.category],
        criticality: severe ? 'high' : 'low',
        code: concept(allergy.system, allergy),
        patient: this.patientRef,
        encounter: encRef,
        recordedDate: dateTime(at),
        recorder: clinician.ref,
        reaction: [
          {
            substance: concept(allergy.system, allergy),
            manifestation: [concept(SYSTEMS.snomed, reaction)],
            severity: severe ? 'severe' : rng.chance(0.6) ? 'mild' : 'moderate',
          },
        ],
      };
      this.add(resource);
    }
  }

  private immunize(key: VaccineKey, encRef: Ref, clinician: Clinician, at: number): void {
    const { rng } = this;
    const vaccine = VACCINES[key];
    const imm: Immunization = {
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: concept(SYSTEMS.cvx, vaccine),
      patient: this.patientRef,
      encounter: encRef,
      occurrenceDateTime: dateTime(at),
      recorded: dateTime(at),
      primarySource: true,
      lotNumber: `${String.fromCharCode(65 + rng.int(0, 25), 65 + rng.int(0, 25))}${rng.digits(4)}`,
      site: concept(
        'http://terminology.hl7.org/CodeSystem/v3-ActSite',
        rng.chance(0.5) ? { code: 'LA', display: 'left arm' } : { code: 'RA', display: 'right arm' },
      ),
      route: concept('http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration', {
        code: 'IM',
        display: 'Injection, intramuscular',
      }),
      performer: [{ actor: clinician.ref }],
    };
    if (key === 'rotavirus') {
      delete imm.site;
      imm.route = concept('http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration', {
        code: 'PO',
        display: 'Swallow, oral',
      });
    }
    this.add(imm);
  }

  private procedure(code: Code, encRef: Ref, clinician: Clinician, at: number, minutes: number): void {
    const procedure: Procedure = {
      resourceType: 'Procedure',
      status: 'completed',
      code: concept(SYSTEMS.snomed, code),
      subject: this.patientRef,
      encounter: encRef,
      performedPeriod: { start: dateTime(at), end: dateTime(at + minutes * MINUTE) },
      performer: [{ actor: clinician.ref }],
    };
    this.add(procedure);
  }

  private note(type: Code, encRef: Ref, clinician: Clinician, at: number, text: string): void {
    const doc: DocumentReference = {
      resourceType: 'DocumentReference',
      status: 'current',
      docStatus: 'final',
      type: concept(SYSTEMS.loinc, type),
      category: [concept(SYSTEMS.documentCategory, { code: 'clinical-note', display: 'Clinical Note' })],
      subject: this.patientRef,
      date: instant(at),
      author: [clinician.ref],
      custodian: this.ctx.organizationRef,
      description: type.display,
      content: [
        {
          attachment: {
            contentType: 'text/plain; charset=utf-8',
            language: 'en-US',
            data: base64Utf8(text),
            title: type.display,
            creation: dateTime(at),
          },
        },
      ],
      context: { encounter: [encRef], period: { start: dateTime(at - 30 * MINUTE), end: dateTime(at) } },
    };
    this.add(doc);
  }

  // -------------------------------------------------------------------------------------------
  // Physiology
  // -------------------------------------------------------------------------------------------

  private heightAt(t: number): number {
    const age = this.ageAt(t);
    const median = interpolate(CHILD_HEIGHT, Math.min(age, 18), this.female ? 2 : 1);
    return median + this.heightZ * (age < 18 ? median * 0.04 : this.female ? 6.5 : 7);
  }

  private bmiAt(t: number): number {
    const age = this.ageAt(t);
    if (age < 18) {
      const base = interpolate(CHILD_BMI, age, 1) + (this.has('obesity') && age >= 6 ? 6 : 0);
      return age < 18 && age > 14 ? base + (this.bmiBase - 25.5) * ((age - 14) / 4) * 0.5 : base;
    }
    const years = (t - this.ctx.windowStart) / YEAR;
    return this.bmiBase + this.bmiDrift * years;
  }

  private vitals(v: PlannedEncounter, encRef: Ref, clinician: Clinician, at: number): void {
    const { rng } = this;
    const age = this.ageAt(at);
    const sick = v.kind === 'acute' || v.kind === 'emergency' || v.kind === 'inpatient';
    const fever = (v.acute?.fever ?? false) || v.emergency?.code === '233604007';
    const height = this.heightAt(at);
    const ideal = this.bmiAt(at) * (height / 100) ** 2;
    const weight = clamp(ideal + rng.normal(0, Math.min(0.6, ideal * 0.01)), 2, 250);
    const year = new Date(at).getUTCFullYear();
    if (age < 18 || year !== this.lastHeightYear) {
      this.lastHeightYear = year;
      this.vital(VITALS.height, height, encRef, clinician, at);
    }
    const shownWeight = round(weight, 1);
    this.vital(VITALS.weight, shownWeight, encRef, clinician, at);
    if (age >= 2) this.vital(VITALS.bmi, shownWeight / (round(height, 1) / 100) ** 2, encRef, clinician, at);

    const hrBase = age < 1 ? 130 : age < 3 ? 115 : age < 6 ? 100 : age < 12 ? 88 : 72;
    let hr = hrBase + this.hrOffset + rng.normal(0, 5) + (fever ? 12 : 0);
    if (this.has('afib', at)) hr += this.onMed('metoprolol', at) !== undefined ? 4 : 18 + rng.normal(0, 8);
    else if (this.onMed('metoprolol', at) !== undefined) hr -= 8;
    this.vital(VITALS.heartRate, clamp(hr, 40, 200), encRef, clinician, at);

    if (age >= 3) {
      let sbp = (age < 18 ? 95 + age : 112 + 0.45 * (age - 18)) + this.sbpOffset + rng.normal(0, 6);
      if (this.has('hypertension', at)) sbp += 20;
      if (this.has('obesity', at)) sbp += 5;
      const antihypertensives = ANTIHYPERTENSIVES.filter((k) => this.onMed(k, at) !== undefined).length;
      sbp -= antihypertensives === 0 ? 0 : antihypertensives === 1 ? 13 : 20;
      if (v.kind === 'emergency') sbp += 6;
      sbp = clamp(sbp, 80, 210);
      if (v.kind !== 'emergency' && v.kind !== 'inpatient') this.sbpHistory.push(Math.round(sbp));
      const dbp = clamp(0.42 * sbp + 25 + this.dbpOffset + rng.normal(0, 4) - (age < 18 ? 8 : 0), 45, 125);
      const components: ObservationComponent[] = [
        { code: concept(SYSTEMS.loinc, VITALS.systolic), valueQuantity: quantity(sbp, VITALS.systolic) },
        { code: concept(SYSTEMS.loinc, VITALS.diastolic), valueQuantity: quantity(dbp, VITALS.diastolic) },
      ];
      this.add(this.observation('vitalSigns', VITALS.bpPanel, encRef, clinician, at, { component: components }));
    }
    if (sick || age < 2) {
      const temp = fever ? rng.normalClamped(38.4, 0.4, 37.8, 40.2) : rng.normalClamped(36.8, 0.2, 36.1, 37.4);
      this.vital(VITALS.temperature, temp, encRef, clinician, at);
    }
    if (sick || this.has('copd', at)) {
      let spo2 = rng.normal(97.8, 0.8);
      if (this.has('copd', at)) spo2 -= 4;
      if (v.emergency?.code === '233604007' || v.emergency?.code === '267036007') spo2 -= 4;
      this.vital(VITALS.spo2, clamp(spo2, 82, 100), encRef, clinician, at);
      const rrBase = age < 1 ? 40 : age < 6 ? 26 : age < 12 ? 20 : 15;
      this.vital(
        VITALS.respiratoryRate,
        clamp(rrBase + rng.normal(0, 2) + (fever ? 3 : 0) + (this.has('copd', at) ? 3 : 0), 8, 60),
        encRef,
        clinician,
        at,
      );
    }
  }

  private vital(code: ObservationCode, value: number, encRef: Ref, clinician: Clinician, at: number): void {
    this.add(this.observation('vitalSigns', code, encRef, clinician, at, { valueQuantity: quantity(value, code) }));
  }

  private observation(
    category: keyof typeof OBSERVATION_CATEGORIES,
    code: Code,
    encRef: Ref,
    clinician: Clinician,
    at: number,
    value: Partial<Observation>,
  ): Observation {
    return {
      resourceType: 'Observation',
      status: 'final',
      category: [concept(SYSTEMS.observationCategory, OBSERVATION_CATEGORIES[category])],
      code: concept(SYSTEMS.loinc, code),
      subject: this.patientRef,
      encounter: encRef,
      effectiveDateTime: dateTime(at),
      ...(category === 'laboratory' ? { issued: instant(at + 4 * 60 * MINUTE) } : {}),
      performer: [category === 'laboratory' ? this.ctx.organizationRef : clinician.ref],
      ...value,
    };
  }

  private panelDue(p: PanelKey, v: PlannedEncounter, age: number): boolean {
    const last = this.lastPanel.get(p);
    const since = last === undefined ? Infinity : (v.start - last) / DAY;
    const diagnosed = (k: ChronicKey) => v.diagnoses.some((d) => d.key === k);
    const has = (k: ChronicKey) => this.has(k, v.start);
    const statinStart = this.medStart(['atorvastatin', 'simvastatin'], v.start);
    switch (p) {
      case 'a1c':
        if (diagnosed('diabetes')) return true;
        if (has('diabetes')) return since >= 150;
        return age >= 40 && since >= 3 * 365 && v.kind === 'routine';
      case 'lipid':
        if (diagnosed('hyperlipidemia') || diagnosed('cad')) return true;
        if (statinStart !== undefined && last !== undefined && last < statinStart && v.start - statinStart >= 60 * DAY)
          return true;
        if (has('hyperlipidemia') || has('cad') || has('diabetes')) return since >= 330;
        return age >= 20 && since >= 3 * 365 && v.kind === 'routine';
      case 'bmp':
        if (diagnosed('ckd') || diagnosed('hypertension') || diagnosed('diabetes')) return true;
        if (has('ckd')) return since >= 150;
        if (has('hypertension') || has('diabetes') || has('heartFailure')) return since >= 330;
        return age >= 18 && since >= 2 * 365 && v.kind === 'routine';
      case 'cbc':
        if (has('ckd')) return since >= 330;
        return age >= 18 && since >= 2 * 365 && v.kind === 'routine';
      case 'tsh': {
        if (diagnosed('hypothyroidism')) return true;
        const levoStart = this.medStart(['levothyroxine'], v.start);
        if (levoStart !== undefined && last !== undefined && last < levoStart && v.start - levoStart >= 42 * DAY) return true;
        return has('hypothyroidism') && since >= 330;
      }
    }
  }

  private labValue(key: LabKey, at: number): number {
    const { rng } = this;
    const age = this.ageAt(at);
    const yearsSince = (ms: number | undefined) => (ms === undefined ? 0 : Math.max(0, (at - ms) / YEAR));
    const diabetes = this.conditions.get('diabetes');
    switch (key) {
      case 'hba1c': {
        let a1c = this.a1cBase + (this.has('obesity') ? 0.2 : 0);
        if (diabetes !== undefined && diabetes.onset <= at) {
          a1c = 7.9 + (this.a1cBase - 5.3) * 3 + 0.12 * yearsSince(diabetes.onset);
          const metformin = this.medStart(['metformin'], at);
          if (metformin !== undefined) a1c -= 1.1 * Math.min(1, yearsSince(metformin) * 3);
        }
        return clamp(a1c + rng.normal(0, 0.15), 4.2, 13.5);
      }
      case 'glucose': {
        const a1c = this.labValue('hba1c', at);
        return clamp(28.7 * a1c - 46.7 + rng.normal(0, 10), 60, 400);
      }
      case 'ldl': {
        let ldl = this.ldlBase;
        if (this.has('hyperlipidemia', at)) ldl += 55;
        const statin = this.onMed('atorvastatin', at) ?? this.onMed('simvastatin', at);
        if (statin !== undefined) ldl *= statin.key === 'atorvastatin' ? 0.52 : 0.68;
        return clamp(ldl + rng.normal(0, 8), 30, 280);
      }
      case 'hdl':
        return clamp(this.hdlBase + rng.normal(0, 3) - (this.has('obesity') ? 4 : 0), 20, 110);
      case 'triglycerides':
        return clamp(
          this.tgBase + (this.has('hyperlipidemia', at) ? 60 : 0) + (this.has('diabetes', at) ? 40 : 0) + rng.normal(0, 20),
          40,
          600,
        );
      case 'cholesterol':
        throw new Error('total cholesterol is derived');
      case 'egfr': {
        const ckd = this.conditions.get('ckd');
        let egfr = Math.min(125, 118 - 0.8 * Math.max(0, age - 25)) + this.egfrBase;
        if (ckd !== undefined && ckd.onset <= at) egfr = Math.min(egfr, 52 + this.egfrBase) - 2.2 * yearsSince(ckd.onset);
        else egfr = Math.max(egfr, 62);
        return clamp(egfr + rng.normal(0, 3), 8, 140);
      }
      case 'creatinine':
        throw new Error('creatinine is derived');
      case 'hemoglobin':
        return clamp(this.hgbBase - (this.has('ckd', at) ? 1.4 : 0) + rng.normal(0, 0.4), 7, 19);
      case 'wbc':
        return clamp(rng.normal(7, 1.4), 3, 15);
      case 'platelets':
        return clamp(rng.normal(255, 45), 100, 500);
      case 'tsh': {
        if (this.has('hypothyroidism', at)) {
          const levo = this.medStart(['levothyroxine'], at);
          const base = levo !== undefined && at - levo >= 30 * DAY ? rng.normal(2.4, 0.9) : rng.normal(9, 2.5);
          return clamp(base, 0.3, 25);
        }
        return clamp(this.tshBase + rng.normal(0, 0.3), 0.3, 6);
      }
      case 'potassium':
        return clamp(
          rng.normal(4.2, 0.3) +
            (this.has('ckd', at) ? 0.35 : 0) +
            (this.onMed('losartan', at) || this.onMed('lisinopril', at) ? 0.15 : 0),
          2.8,
          6.5,
        );
      case 'sodium':
        return clamp(rng.normal(140, 2), 128, 150);
    }
  }

  private panel(p: PanelKey, encRef: Ref, clinician: Clinician, at: number): void {
    const { rng } = this;
    this.lastPanel.set(p, at);
    const values = new Map<LabKey, number>();
    for (const key of PANELS[p].labs) {
      if (key === 'cholesterol') continue;
      if (key === 'creatinine') continue;
      values.set(key, this.labValue(key, at));
    }
    if (values.has('ldl')) {
      const ldl = values.get('ldl') as number;
      const hdl = values.get('hdl') as number;
      const tg = values.get('triglycerides') as number;
      values.set('cholesterol', ldl + hdl + tg / 5 + rng.normal(0, 4));
    }
    if (values.has('egfr')) {
      // Invert a simplified CKD-EPI relation so creatinine and eGFR agree.
      const egfr = values.get('egfr') as number;
      const age = this.ageAt(at);
      const k = this.female ? 0.7 : 0.9;
      const scale = (this.female ? 144 : 141) * 0.993 ** age;
      values.set('creatinine', clamp(k * (egfr / scale) ** (-1 / 1.209), 0.3, 12));
    }
    const refs: Ref[] = [];
    for (const key of PANELS[p].labs) {
      const lab = LABS[key];
      const value = round(values.get(key) as number, lab.decimals);
      const [low, high] = this.female ? lab.range.female : lab.range.male;
      const interp = value > high ? INTERPRETATIONS.H : value < low ? INTERPRETATIONS.L : INTERPRETATIONS.N;
      const obs = this.observation('laboratory', lab, encRef, clinician, at, {
        valueQuantity: quantity(value, lab),
        interpretation: [concept(SYSTEMS.interpretation, interp)],
        referenceRange: [
          {
            ...(low > 0 ? { low: quantity(low, lab) } : {}),
            high: quantity(high, lab),
            ...(lab.range.female[0] !== lab.range.male[0] || lab.range.female[1] !== lab.range.male[1]
              ? {
                  appliesTo: [
                    concept(
                      SYSTEMS.snomed,
                      this.female ? { code: '248152002', display: 'Female' } : { code: '248153007', display: 'Male' },
                    ),
                  ],
                }
              : {}),
          },
        ],
      });
      refs.push({ ...this.add(obs), display: lab.display });
    }
    const report: DiagnosticReport = {
      resourceType: 'DiagnosticReport',
      status: 'final',
      category: [concept(SYSTEMS.diagnosticServiceSection, { code: 'LAB', display: 'Laboratory' })],
      code: concept(SYSTEMS.loinc, PANELS[p]),
      subject: this.patientRef,
      encounter: encRef,
      effectiveDateTime: dateTime(at),
      issued: instant(at + 4 * 60 * MINUTE),
      performer: [this.ctx.organizationRef],
      resultsInterpreter: [clinician.ref],
      result: refs,
    };
    this.add(report);
  }

  // -------------------------------------------------------------------------------------------
  // Acute care
  // -------------------------------------------------------------------------------------------

  private acuteProblem(problem: AcuteProblem, encRef: Ref, clinician: Clinician, at: number): void {
    const { rng } = this;
    const onset = at - rng.int(1, 5) * DAY;
    const resolved = Math.min(at + rng.int(5, 20) * DAY, this.ctx.end);
    const condition: Condition = {
      resourceType: 'Condition',
      clinicalStatus: concept(SYSTEMS.conditionClinical, { code: 'resolved', display: 'Resolved' }),
      verificationStatus: concept(SYSTEMS.conditionVerification, { code: 'confirmed', display: 'Confirmed' }),
      category: [concept(SYSTEMS.conditionCategory, { code: 'encounter-diagnosis', display: 'Encounter Diagnosis' })],
      code: concept(SYSTEMS.snomed, problem),
      subject: this.patientRef,
      encounter: encRef,
      onsetDateTime: dateTime(onset),
      abatementDateTime: dateTime(resolved),
      recordedDate: dateTime(at),
      recorder: clinician.ref,
    };
    const condRef = this.add(condition);
    let key = problem.medication;
    if (key === 'amoxicillin' && this.allergic('764146007')) key = undefined;
    if (key !== undefined) {
      const med = MEDICATIONS[key];
      const request: MedicationRequest = {
        resourceType: 'MedicationRequest',
        status: 'completed',
        intent: 'order',
        medicationCodeableConcept: concept(SYSTEMS.rxnorm, med),
        subject: this.patientRef,
        encounter: encRef,
        authoredOn: dateTime(at),
        requester: clinician.ref,
        reasonReference: [condRef],
        dosageInstruction: [
          {
            text: med.dosage,
            timing: {
              repeat: {
                boundsPeriod: { start: dateTime(at), end: dateTime(at + 10 * DAY) },
                ...(med.perDay > 0 ? { frequency: med.perDay, period: 1, periodUnit: 'd' as const } : {}),
              },
            },
            asNeededBoolean: med.asNeeded === true,
          },
        ],
      };
      this.add(request);
    }
  }

  private allergic(code: string): boolean {
    return this.entries.some(
      (e) => e.resource?.resourceType === 'AllergyIntolerance' && e.resource.code?.coding?.[0]?.code === code,
    );
  }

  private emergency(v: PlannedEncounter, encRef: Ref, clinician: Clinician, end: number): void {
    const problem = v.emergency as (typeof EMERGENCY_PROBLEMS)[number];
    const at = v.start + 20 * MINUTE;
    const condition: Condition = {
      resourceType: 'Condition',
      clinicalStatus: concept(SYSTEMS.conditionClinical, { code: 'resolved', display: 'Resolved' }),
      verificationStatus: concept(SYSTEMS.conditionVerification, { code: 'confirmed', display: 'Confirmed' }),
      category: [concept(SYSTEMS.conditionCategory, { code: 'encounter-diagnosis', display: 'Encounter Diagnosis' })],
      code: concept(SYSTEMS.snomed, problem),
      subject: this.patientRef,
      encounter: encRef,
      onsetDateTime: dateTime(v.start - this.rng.int(2, 48) * 60 * MINUTE),
      abatementDateTime: dateTime(Math.min(end + 7 * DAY, this.ctx.end)),
      recordedDate: dateTime(at),
      recorder: clinician.ref,
    };
    this.add(condition);
    if (problem.code === '29857009' || problem.code === '271594007') this.procedure(PROCEDURES.ecg, encRef, clinician, at, 15);
    if (problem.code === '233604007' || problem.code === '267036007' || problem.code === '263204007')
      this.procedure(PROCEDURES.chestXray, encRef, clinician, at + 30 * MINUTE, 15);
    if (v.kind === 'inpatient') {
      this.procedure(PROCEDURES.medicationReconciliation, encRef, clinician, end - 90 * MINUTE, 20);
      this.note(DOCUMENT_TYPES.historyAndPhysical, encRef, clinician, v.start + 3 * 60 * MINUTE, this.admissionText(v, problem));
      this.note(DOCUMENT_TYPES.discharge, encRef, clinician, end - 30 * MINUTE, this.dischargeText(v, problem));
    } else {
      this.note(DOCUMENT_TYPES.consult, encRef, clinician, end - 15 * MINUTE, this.edText(problem));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Notes
  // -------------------------------------------------------------------------------------------

  private problemList(at: number): string {
    const list = [...this.conditions.values()].filter((c) => c.onset <= at).map((c) => c.def.display.toLowerCase());
    return list.length > 0 ? list.join(', ') : 'no chronic problems';
  }

  private medList(at: number): string {
    const list = this.meds.filter((m) => m.start <= at && m.resource.status === 'active').map((m) => MEDICATIONS[m.key].display);
    return list.length > 0 ? list.join('; ') : 'none';
  }

  private progressText(v: PlannedEncounter, age: number): string {
    const who = `${Math.floor(age)}-year-old ${this.female ? 'woman' : 'man'}`;
    const dx = v.diagnoses.map((d) => d.display.toLowerCase()).join(' and ');
    return [
      `PROGRESS NOTE — synthetic demo record, not a real person.`,
      `Patient: ${this.nameText}, ${who}.`,
      dx !== ''
        ? `Assessment: new diagnosis of ${dx}. Discussed the condition, treatment options and follow-up.`
        : 'Assessment: routine follow-up.',
      `Problem list: ${this.problemList(v.start)}.`,
      `Current medications: ${this.medList(v.start + DAY)}.`,
      `Plan: continue current management, labs as ordered, return in ${this.conditions.size > 1 ? '3-4' : '6-12'} months.`,
    ].join('\n');
  }

  private edText(problem: Code): string {
    return [
      `EMERGENCY DEPARTMENT CONSULT NOTE — synthetic demo record, not a real person.`,
      `Patient: ${this.nameText}. Presenting complaint: ${problem.display.toLowerCase()}.`,
      `History: ${this.problemList(Number.MAX_SAFE_INTEGER)}.`,
      `Workup unremarkable for life-threatening causes. Treated symptomatically and discharged home with return precautions.`,
    ].join('\n');
  }

  private admissionText(v: PlannedEncounter, problem: Code): string {
    return [
      `HISTORY AND PHYSICAL — synthetic demo record, not a real person.`,
      `Patient: ${this.nameText}, ${Math.floor(this.ageAt(v.start))} years. Admitted for ${problem.display.toLowerCase()}.`,
      `Past medical history: ${this.problemList(v.start)}.`,
      `Home medications: ${this.medList(v.start)}.`,
      `Plan: admit to medicine, monitoring, labs, further management as indicated.`,
    ].join('\n');
  }

  private dischargeText(v: PlannedEncounter, problem: Code): string {
    return [
      `DISCHARGE SUMMARY — synthetic demo record, not a real person.`,
      `Patient: ${this.nameText}. Length of stay: ${v.days} days.`,
      `Principal diagnosis: ${problem.display.toLowerCase()}. Hospital course uncomplicated; improved with treatment.`,
      `Discharge medications: ${this.medList(v.start + v.days * DAY)}.`,
      `Follow-up with primary care within 7-14 days.`,
    ].join('\n');
  }
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

function parseEndDate(endDate: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(endDate);
  if (m === null) throw new RangeError(`endDate must be YYYY-MM-DD, got ${JSON.stringify(endDate)}`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (dateOnly(ms) !== endDate) throw new RangeError(`endDate is not a calendar date: ${endDate}`);
  return ms + DAY - MINUTE; // through the end of that day
}

/** Generates the demo data set. Pure: same options, same output. */
export function generateDemo(options: DemoOptions = {}): DemoData {
  const seed = options.seed ?? DEMO_DEFAULTS.seed;
  const count = options.patients ?? DEMO_DEFAULTS.patients;
  const startYear = options.startYear ?? DEMO_DEFAULTS.startYear;
  const end = parseEndDate(options.endDate ?? DEMO_DEFAULTS.endDate);
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`patients must be a non-negative integer, got ${count}`);
  if (!Number.isSafeInteger(startYear)) throw new RangeError(`startYear must be an integer, got ${startYear}`);
  const windowStart = Date.UTC(startYear, 0, 1);
  if (windowStart >= end) throw new RangeError('startYear must be before endDate');

  const rng = new Random(seed);
  const organization = makeOrganization();
  const clinicians = makeClinicians(rng.fork());
  const ctx: Context = {
    organizationRef: { reference: `Organization/${DEMO_ORGANIZATION_ID}`, display: organization.name as string },
    clinicians,
    windowStart,
    end,
  };
  const patients: PatientHistory[] = [];
  for (let i = 0; i < count; i++) {
    const builder = new PatientBuilder(rng.fork(), ctx, i);
    builder.simulate(builder.plan());
    patients.push({ patient: builder.patient, bundle: { resourceType: 'Bundle', type: 'transaction', entry: builder.entries } });
  }
  return { organization, practitioners: clinicians.map((c) => c.resource), patients };
}
