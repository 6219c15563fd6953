/**
 * Reference data for the synthetic demo generator: names, places, and clinical code sets with real
 * SNOMED CT, LOINC, RxNorm, CVX and UCUM codes. Everything here is public terminology or invented; no
 * real person is described.
 */

export const SYSTEMS = {
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  ucum: 'http://unitsofmeasure.org',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  allergyClinical: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical',
  allergyVerification: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification',
  diagnosticServiceSection: 'http://terminology.hl7.org/CodeSystem/v2-0074',
  identifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  degree: 'http://terminology.hl7.org/CodeSystem/v2-0360|2.7',
  organizationType: 'http://terminology.hl7.org/CodeSystem/organization-type',
  maritalStatus: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus',
  language: 'urn:ietf:bcp:47',
  documentCategory: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
  carePlanCategory: 'http://hl7.org/fhir/us/core/CodeSystem/careplan-category',
  dischargeDisposition: 'http://terminology.hl7.org/CodeSystem/discharge-disposition',
  mrn: 'urn:medledger:demo:mrn',
  npi: 'urn:medledger:demo:npi',
  orgId: 'urn:medledger:demo:org',
} as const;

export interface Code {
  readonly code: string;
  readonly display: string;
}

// ---------------------------------------------------------------------------------------------
// People and places (invented)
// ---------------------------------------------------------------------------------------------

export const GIVEN_NAMES_FEMALE = [
  'Amara',
  'Sofia',
  'Mei',
  'Priya',
  'Fatima',
  'Olivia',
  'Ingrid',
  'Lucía',
  'Aiyana',
  'Chloe',
  'Yuki',
  'Zanele',
  'Hannah',
  'Maria',
  'Leila',
  'Grace',
  'Noor',
  'Elena',
  'Ana',
  'Keiko',
  'Adaeze',
  'Emma',
  'Rosa',
  'Linh',
  'Freya',
  'Isabela',
  'Sana',
  'Margaret',
  'Dorothy',
  'Ruth',
] as const;
export const GIVEN_NAMES_MALE = [
  'Kwame',
  'Mateo',
  'Wei',
  'Arjun',
  'Omar',
  'Liam',
  'Lars',
  'Diego',
  'Hiroshi',
  'Tomasz',
  'Jamal',
  'Noah',
  'Ethan',
  'José',
  'Ravi',
  'Samuel',
  'Yusuf',
  'Nikolai',
  'Chidi',
  'Minh',
  'Lucas',
  'Finn',
  'Rafael',
  'Kenji',
  'Ibrahim',
  'David',
  'Harold',
  'Walter',
  'George',
  'Tariq',
] as const;
export const MIDDLE_INITIALS = ['A', 'B', 'C', 'D', 'E', 'J', 'K', 'L', 'M', 'R', 'S', 'T'] as const;
export const FAMILY_NAMES = [
  'Okafor',
  'García',
  'Chen',
  'Patel',
  'Haddad',
  'Smith',
  'Johansson',
  'Rodríguez',
  'Tanaka',
  'Kowalski',
  'Washington',
  'Nguyen',
  'Müller',
  'Kim',
  'Hernández',
  'Mensah',
  'Ivanova',
  'Rossi',
  'Singh',
  'Yilmaz',
  "O'Brien",
  'Dubois',
  'Silva',
  'Cohen',
  'Abdi',
  'Nakamura',
  'Begay',
  'Park',
  'Moreau',
  'Brown',
  'Lindqvist',
  'Adeyemi',
  'Costa',
  'Murphy',
  'Sato',
  'Kaur',
  'Novak',
  'Alvarez',
  'Wright',
  'Hassan',
] as const;

export interface City {
  readonly city: string;
  readonly state: string;
  readonly zipPrefix: string;
  readonly areaCode: string;
}
/** Fictional towns in a fictional state ("MedLedger Demo" state code ZZ is not a real state). */
export const CITIES: readonly City[] = [
  { city: 'Riverbend', state: 'ZZ', zipPrefix: '990', areaCode: '555' },
  { city: 'Maple Hollow', state: 'ZZ', zipPrefix: '991', areaCode: '555' },
  { city: 'Port Alder', state: 'ZZ', zipPrefix: '992', areaCode: '555' },
  { city: 'Cedar Falls Junction', state: 'ZZ', zipPrefix: '993', areaCode: '555' },
  { city: 'Lakeview Heights', state: 'ZZ', zipPrefix: '994', areaCode: '555' },
  { city: 'Stonebridge', state: 'ZZ', zipPrefix: '995', areaCode: '555' },
];
export const STREET_NAMES = [
  'Willow Lane',
  'Harbor Street',
  'Birch Avenue',
  'Quarry Road',
  'Lantern Way',
  'Juniper Court',
  'Meadow Drive',
  'Orchard Row',
  'Falcon Street',
  'Kingfisher Road',
  'Sycamore Place',
  'Tidewater Avenue',
  'Copper Hill Road',
  'Heron Boulevard',
  'Fern Terrace',
] as const;

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

export type ChronicKey =
  | 'hypertension'
  | 'diabetes'
  | 'asthma'
  | 'hyperlipidemia'
  | 'ckd'
  | 'copd'
  | 'depression'
  | 'osteoarthritis'
  | 'afib'
  | 'hypothyroidism'
  | 'obesity'
  | 'cad'
  | 'heartFailure'
  | 'anxiety';

export interface ChronicCondition extends Code {
  readonly key: ChronicKey;
  /** Youngest age (years) at which the condition is generated. */
  readonly minAge: number;
  /** Approximate prevalence at a given age (0..1) and sex. */
  readonly prevalence: (age: number, female: boolean) => number;
  /** Medications started for it, in order: first-line, then add-on / alternative. */
  readonly medications: readonly MedicationKey[];
  /** Care plan activities. */
  readonly carePlan: readonly Code[];
}

const ramp = (age: number, from: number, to: number, atFrom: number, atTo: number): number =>
  age <= from ? atFrom : age >= to ? atTo : atFrom + ((atTo - atFrom) * (age - from)) / (to - from);

export const CARE_ACTIVITIES = {
  healthyDiet: { code: '226234005', display: 'Healthy diet' },
  exercise: { code: '229065009', display: 'Exercise therapy' },
  diabeticDiet: { code: '160670007', display: 'Diabetic diet' },
  lowSalt: { code: '183063000', display: 'Low salt diet education' },
  smokingCessation: { code: '710081004', display: 'Smoking cessation therapy' },
  psychotherapy: { code: '75516001', display: 'Psychotherapy' },
  physiotherapy: { code: '91251008', display: 'Physical therapy procedure' },
} as const satisfies Record<string, Code>;

export const CHRONIC_CONDITIONS: readonly ChronicCondition[] = [
  {
    key: 'hypertension',
    code: '38341003',
    display: 'Hypertensive disorder, systemic arterial',
    minAge: 18,
    prevalence: (a) => ramp(a, 18, 75, 0.05, 0.7),
    medications: ['lisinopril', 'amlodipine', 'hydrochlorothiazide'],
    carePlan: [CARE_ACTIVITIES.lowSalt, CARE_ACTIVITIES.exercise],
  },
  {
    key: 'diabetes',
    code: '44054006',
    display: 'Diabetes mellitus type 2',
    minAge: 25,
    prevalence: (a) => ramp(a, 25, 70, 0.02, 0.25),
    medications: ['metformin'],
    carePlan: [CARE_ACTIVITIES.diabeticDiet, CARE_ACTIVITIES.exercise],
  },
  {
    key: 'asthma',
    code: '195967001',
    display: 'Asthma',
    minAge: 3,
    prevalence: (a) => (a < 18 ? 0.09 : 0.07),
    medications: ['albuterol', 'fluticasone'],
    carePlan: [CARE_ACTIVITIES.smokingCessation],
  },
  {
    key: 'hyperlipidemia',
    code: '55822004',
    display: 'Hyperlipidemia',
    minAge: 25,
    prevalence: (a) => ramp(a, 25, 65, 0.05, 0.45),
    medications: ['atorvastatin'],
    carePlan: [CARE_ACTIVITIES.healthyDiet, CARE_ACTIVITIES.exercise],
  },
  {
    key: 'ckd',
    code: '709044004',
    display: 'Chronic kidney disease',
    minAge: 40,
    prevalence: (a) => ramp(a, 40, 85, 0.03, 0.3),
    medications: ['losartan'],
    carePlan: [CARE_ACTIVITIES.lowSalt],
  },
  {
    key: 'copd',
    code: '13645005',
    display: 'Chronic obstructive lung disease',
    minAge: 45,
    prevalence: (a) => ramp(a, 45, 80, 0.02, 0.12),
    medications: ['tiotropium', 'albuterol'],
    carePlan: [CARE_ACTIVITIES.smokingCessation, CARE_ACTIVITIES.exercise],
  },
  {
    key: 'depression',
    code: '35489007',
    display: 'Depressive disorder',
    minAge: 13,
    prevalence: (_a, f) => (f ? 0.12 : 0.07),
    medications: ['sertraline'],
    carePlan: [CARE_ACTIVITIES.psychotherapy],
  },
  {
    key: 'anxiety',
    code: '197480006',
    display: 'Anxiety disorder',
    minAge: 10,
    prevalence: (_a, f) => (f ? 0.1 : 0.06),
    medications: ['sertraline'],
    carePlan: [CARE_ACTIVITIES.psychotherapy],
  },
  {
    key: 'osteoarthritis',
    code: '396275006',
    display: 'Osteoarthritis',
    minAge: 40,
    prevalence: (a) => ramp(a, 40, 80, 0.03, 0.4),
    medications: ['naproxen'],
    carePlan: [CARE_ACTIVITIES.physiotherapy, CARE_ACTIVITIES.exercise],
  },
  {
    key: 'afib',
    code: '49436004',
    display: 'Atrial fibrillation',
    minAge: 50,
    prevalence: (a) => ramp(a, 50, 85, 0.01, 0.12),
    medications: ['apixaban', 'metoprolol'],
    carePlan: [CARE_ACTIVITIES.healthyDiet],
  },
  {
    key: 'hypothyroidism',
    code: '40930008',
    display: 'Hypothyroidism',
    minAge: 18,
    prevalence: (a, f) => ramp(a, 18, 70, 0.02, 0.08) * (f ? 2 : 0.5),
    medications: ['levothyroxine'],
    carePlan: [],
  },
  {
    key: 'obesity',
    code: '414916001',
    display: 'Obesity',
    minAge: 6,
    prevalence: (a) => (a < 18 ? 0.12 : 0.2),
    medications: [],
    carePlan: [CARE_ACTIVITIES.healthyDiet, CARE_ACTIVITIES.exercise],
  },
  {
    key: 'cad',
    code: '53741008',
    display: 'Coronary arteriosclerosis',
    minAge: 45,
    prevalence: (a, f) => ramp(a, 45, 85, 0.01, 0.15) * (f ? 0.7 : 1.3),
    medications: ['clopidogrel', 'nitroglycerin', 'atorvastatin'],
    carePlan: [CARE_ACTIVITIES.healthyDiet, CARE_ACTIVITIES.exercise],
  },
  {
    key: 'heartFailure',
    code: '84114007',
    display: 'Heart failure',
    minAge: 55,
    prevalence: (a) => ramp(a, 55, 90, 0.01, 0.08),
    medications: ['furosemide', 'metoprolol'],
    carePlan: [CARE_ACTIVITIES.lowSalt],
  },
];

export interface AcuteProblem extends Code {
  readonly key: string;
  readonly fever: boolean;
  readonly medication?: MedicationKey;
  /** Whether children, adults or both get it. */
  readonly ages: 'child' | 'adult' | 'any';
}
export const ACUTE_PROBLEMS: readonly AcuteProblem[] = [
  { key: 'uri', code: '54150009', display: 'Upper respiratory infection', fever: true, medication: 'acetaminophen', ages: 'any' },
  { key: 'bronchitis', code: '10509002', display: 'Acute bronchitis', fever: true, medication: 'acetaminophen', ages: 'any' },
  { key: 'sinusitis', code: '36971009', display: 'Sinusitis', fever: false, medication: 'amoxicillin', ages: 'any' },
  { key: 'strep', code: '43878008', display: 'Streptococcal sore throat', fever: true, medication: 'amoxicillin', ages: 'any' },
  { key: 'otitis', code: '65363002', display: 'Otitis media', fever: true, medication: 'amoxicillin', ages: 'child' },
  { key: 'uti', code: '68566005', display: 'Urinary tract infectious disease', fever: false, ages: 'adult' },
  { key: 'ankle', code: '44465007', display: 'Sprain of ankle', fever: false, medication: 'ibuprofen', ages: 'any' },
  { key: 'back', code: '279039007', display: 'Low back pain', fever: false, medication: 'ibuprofen', ages: 'adult' },
  { key: 'gastro', code: '25374005', display: 'Gastroenteritis', fever: true, ages: 'any' },
];

/** Reasons for emergency visits and inpatient stays. */
export const EMERGENCY_PROBLEMS: readonly (Code & { readonly admit: boolean })[] = [
  { code: '29857009', display: 'Chest pain', admit: false },
  { code: '233604007', display: 'Pneumonia', admit: true },
  { code: '128045006', display: 'Cellulitis', admit: false },
  { code: '62315008', display: 'Diarrhea', admit: false },
  { code: '267036007', display: 'Dyspnea', admit: true },
  { code: '271594007', display: 'Syncope', admit: true },
  { code: '263204007', display: 'Fracture of clavicle', admit: false },
];

// ---------------------------------------------------------------------------------------------
// Medications (RxNorm clinical drugs; ingredient concepts where noted)
// ---------------------------------------------------------------------------------------------

export type MedicationKey =
  | 'lisinopril'
  | 'amlodipine'
  | 'hydrochlorothiazide'
  | 'losartan'
  | 'metformin'
  | 'atorvastatin'
  | 'simvastatin'
  | 'albuterol'
  | 'fluticasone'
  | 'tiotropium'
  | 'levothyroxine'
  | 'sertraline'
  | 'apixaban'
  | 'metoprolol'
  | 'furosemide'
  | 'clopidogrel'
  | 'nitroglycerin'
  | 'naproxen'
  | 'acetaminophen'
  | 'ibuprofen'
  | 'amoxicillin';

export interface Medication extends Code {
  readonly dosage: string;
  /** Times per day (0 = as needed). */
  readonly perDay: number;
  readonly asNeeded?: boolean;
  /** A medication that replaces this one when it is stopped for a side effect. */
  readonly alternative?: MedicationKey;
  readonly stopReason?: string;
}

export const MEDICATIONS: Readonly<Record<MedicationKey, Medication>> = {
  lisinopril: {
    code: '314076',
    display: 'lisinopril 10 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth once daily',
    perDay: 1,
    alternative: 'losartan',
    stopReason: 'Dry cough',
  },
  amlodipine: { code: '197361', display: 'amlodipine 5 MG Oral Tablet', dosage: 'Take 1 tablet by mouth once daily', perDay: 1 },
  hydrochlorothiazide: {
    code: '310798',
    display: 'hydrochlorothiazide 25 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth every morning',
    perDay: 1,
  },
  losartan: {
    code: '979492',
    display: 'losartan potassium 50 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth once daily',
    perDay: 1,
  },
  metformin: {
    code: '860975',
    display: '24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet',
    dosage: 'Take 1 tablet by mouth twice daily with meals',
    perDay: 2,
  },
  atorvastatin: {
    code: '259255',
    display: 'atorvastatin 80 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth at bedtime',
    perDay: 1,
    alternative: 'simvastatin',
    stopReason: 'Muscle aches',
  },
  simvastatin: {
    code: '312961',
    display: 'simvastatin 20 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth at bedtime',
    perDay: 1,
  },
  albuterol: {
    code: '745679',
    display: '200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler',
    dosage: 'Inhale 2 puffs every 4-6 hours as needed for wheezing',
    perDay: 0,
    asNeeded: true,
  },
  fluticasone: {
    code: '895994',
    display: '120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler',
    dosage: 'Inhale 2 puffs twice daily',
    perDay: 2,
  },
  tiotropium: { code: '69120', display: 'tiotropium', dosage: 'Inhale the contents of 1 capsule once daily', perDay: 1 },
  levothyroxine: {
    code: '966222',
    display: 'levothyroxine sodium 0.075 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth every morning on an empty stomach',
    perDay: 1,
  },
  sertraline: { code: '36437', display: 'sertraline', dosage: 'Take 50 mg by mouth once daily', perDay: 1 },
  apixaban: { code: '1364445', display: 'apixaban 5 MG Oral Tablet', dosage: 'Take 1 tablet by mouth twice daily', perDay: 2 },
  metoprolol: {
    code: '866412',
    display: '24 HR metoprolol succinate 100 MG Extended Release Oral Tablet',
    dosage: 'Take 1 tablet by mouth once daily',
    perDay: 1,
  },
  furosemide: {
    code: '313988',
    display: 'furosemide 40 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth every morning',
    perDay: 1,
  },
  clopidogrel: {
    code: '309362',
    display: 'clopidogrel 75 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth once daily',
    perDay: 1,
  },
  nitroglycerin: {
    code: '705129',
    display: 'nitroglycerin 0.4 MG/ACTUAT Mucosal Spray',
    dosage: '1 spray under the tongue as needed for chest pain; may repeat every 5 minutes up to 3 times',
    perDay: 0,
    asNeeded: true,
  },
  naproxen: {
    code: '849574',
    display: 'naproxen sodium 220 MG Oral Tablet',
    dosage: 'Take 1 tablet by mouth twice daily as needed for joint pain',
    perDay: 0,
    asNeeded: true,
  },
  acetaminophen: {
    code: '313782',
    display: 'acetaminophen 325 MG Oral Tablet',
    dosage: 'Take 2 tablets by mouth every 6 hours as needed for fever or pain',
    perDay: 0,
    asNeeded: true,
  },
  ibuprofen: {
    code: '310965',
    display: 'ibuprofen 200 MG Oral Tablet',
    dosage: 'Take 2 tablets by mouth every 8 hours as needed for pain, with food',
    perDay: 0,
    asNeeded: true,
  },
  amoxicillin: {
    code: '308182',
    display: 'amoxicillin 250 MG Oral Capsule',
    dosage: 'Take 2 capsules by mouth three times daily for 10 days',
    perDay: 3,
  },
};

/** Medications whose start lowers blood pressure. */
export const ANTIHYPERTENSIVES: readonly MedicationKey[] = [
  'lisinopril',
  'amlodipine',
  'hydrochlorothiazide',
  'losartan',
  'metoprolol',
];

// ---------------------------------------------------------------------------------------------
// Allergies
// ---------------------------------------------------------------------------------------------

export interface Allergy extends Code {
  readonly system: string;
  readonly category: 'food' | 'medication' | 'environment';
  readonly prevalence: number;
  readonly reactions: readonly Code[];
}
const REACTIONS = {
  hives: { code: '126485001', display: 'Urticaria' },
  rash: { code: '271807003', display: 'Eruption of skin' },
  anaphylaxis: { code: '39579001', display: 'Anaphylaxis' },
  wheezing: { code: '56018004', display: 'Wheezing' },
  angioedema: { code: '41291007', display: 'Angioedema' },
  nausea: { code: '422587007', display: 'Nausea' },
  itching: { code: '418290006', display: 'Itching' },
  rhinitis: { code: '61582004', display: 'Allergic rhinitis' },
} as const satisfies Record<string, Code>;

export const ALLERGIES: readonly Allergy[] = [
  {
    system: SYSTEMS.snomed,
    code: '764146007',
    display: 'Penicillin',
    category: 'medication',
    prevalence: 0.1,
    reactions: [REACTIONS.hives, REACTIONS.rash, REACTIONS.anaphylaxis],
  },
  {
    system: SYSTEMS.rxnorm,
    code: '10180',
    display: 'sulfamethoxazole',
    category: 'medication',
    prevalence: 0.04,
    reactions: [REACTIONS.rash, REACTIONS.itching],
  },
  {
    system: SYSTEMS.rxnorm,
    code: '2670',
    display: 'codeine',
    category: 'medication',
    prevalence: 0.02,
    reactions: [REACTIONS.nausea, REACTIONS.itching],
  },
  {
    system: SYSTEMS.snomed,
    code: '762952008',
    display: 'Peanut',
    category: 'food',
    prevalence: 0.03,
    reactions: [REACTIONS.anaphylaxis, REACTIONS.angioedema, REACTIONS.hives],
  },
  {
    system: SYSTEMS.snomed,
    code: '735029006',
    display: 'Shellfish',
    category: 'food',
    prevalence: 0.02,
    reactions: [REACTIONS.hives, REACTIONS.angioedema],
  },
  {
    system: SYSTEMS.snomed,
    code: '111088007',
    display: 'Latex',
    category: 'environment',
    prevalence: 0.015,
    reactions: [REACTIONS.rash, REACTIONS.itching],
  },
  {
    system: SYSTEMS.snomed,
    code: '256277009',
    display: 'Grass pollen',
    category: 'environment',
    prevalence: 0.1,
    reactions: [REACTIONS.rhinitis, REACTIONS.wheezing],
  },
  {
    system: SYSTEMS.snomed,
    code: '260147004',
    display: 'House dust mite',
    category: 'environment',
    prevalence: 0.07,
    reactions: [REACTIONS.rhinitis, REACTIONS.wheezing],
  },
];

// ---------------------------------------------------------------------------------------------
// Immunizations (CVX)
// ---------------------------------------------------------------------------------------------

export const VACCINES = {
  fluPf: { code: '140', display: 'Influenza, seasonal, injectable, preservative free' },
  flu: { code: '141', display: 'Influenza, seasonal, injectable' },
  covidPfizer: { code: '208', display: 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose' },
  covidModerna: { code: '207', display: 'COVID-19, mRNA, LNP-S, PF, 100 mcg/0.5 mL dose' },
  tdap: { code: '115', display: 'Tdap' },
  td: { code: '113', display: 'Td (adult) preservative free' },
  ppsv23: { code: '33', display: 'pneumococcal polysaccharide vaccine, 23 valent' },
  pcv13: { code: '133', display: 'Pneumococcal conjugate PCV 13' },
  hepBPed: { code: '08', display: 'Hep B, adolescent or pediatric' },
  hepBAdult: { code: '43', display: 'Hep B, adult' },
  dtap: { code: '20', display: 'DTaP' },
  ipv: { code: '10', display: 'IPV' },
  hib: { code: '49', display: 'Hib (PRP-OMP)' },
  mmr: { code: '03', display: 'MMR' },
  varicella: { code: '21', display: 'varicella' },
  hepA: { code: '83', display: 'Hep A, ped/adol, 2 dose' },
  rotavirus: { code: '119', display: 'rotavirus, monovalent' },
  hpv: { code: '165', display: 'HPV9' },
  menacwy: { code: '114', display: 'meningococcal MCV4P' },
  zoster: { code: '187', display: 'zoster vaccine recombinant' },
} as const satisfies Record<string, Code>;
export type VaccineKey = keyof typeof VACCINES;

/** Childhood schedule: vaccine and age in days at which a dose is due. */
export const CHILD_SCHEDULE: readonly (readonly [VaccineKey, number])[] = [
  ['hepBPed', 1],
  ['hepBPed', 60],
  ['rotavirus', 60],
  ['dtap', 60],
  ['ipv', 60],
  ['hib', 60],
  ['pcv13', 60],
  ['rotavirus', 120],
  ['dtap', 120],
  ['ipv', 120],
  ['hib', 120],
  ['pcv13', 120],
  ['hepBPed', 180],
  ['dtap', 180],
  ['ipv', 180],
  ['pcv13', 180],
  ['hib', 365],
  ['pcv13', 365],
  ['mmr', 365],
  ['varicella', 365],
  ['hepA', 365],
  ['dtap', 456],
  ['hepA', 548],
  ['dtap', 1461],
  ['ipv', 1461],
  ['mmr', 1461],
  ['varicella', 1461],
  ['tdap', 4018],
  ['hpv', 4018],
  ['menacwy', 4018],
  ['hpv', 4200],
  ['menacwy', 5844],
];

// ---------------------------------------------------------------------------------------------
// Observations: vitals and labs (LOINC, UCUM)
// ---------------------------------------------------------------------------------------------

export interface ObservationCode extends Code {
  /** UCUM unit code; `unit` is the human display. */
  readonly ucum: string;
  readonly unit: string;
  readonly decimals: number;
}

export const VITALS = {
  bpPanel: {
    code: '85354-9',
    display: 'Blood pressure panel with all children optional',
    ucum: 'mm[Hg]',
    unit: 'mmHg',
    decimals: 0,
  },
  systolic: { code: '8480-6', display: 'Systolic blood pressure', ucum: 'mm[Hg]', unit: 'mmHg', decimals: 0 },
  diastolic: { code: '8462-4', display: 'Diastolic blood pressure', ucum: 'mm[Hg]', unit: 'mmHg', decimals: 0 },
  heartRate: { code: '8867-4', display: 'Heart rate', ucum: '/min', unit: 'beats/minute', decimals: 0 },
  weight: { code: '29463-7', display: 'Body weight', ucum: 'kg', unit: 'kg', decimals: 1 },
  height: { code: '8302-2', display: 'Body height', ucum: 'cm', unit: 'cm', decimals: 1 },
  bmi: { code: '39156-5', display: 'Body mass index (BMI) [Ratio]', ucum: 'kg/m2', unit: 'kg/m2', decimals: 1 },
  temperature: { code: '8310-5', display: 'Body temperature', ucum: 'Cel', unit: 'Cel', decimals: 1 },
  spo2: {
    code: '59408-5',
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    ucum: '%',
    unit: '%',
    decimals: 0,
  },
  respiratoryRate: { code: '9279-1', display: 'Respiratory rate', ucum: '/min', unit: 'breaths/minute', decimals: 0 },
} as const satisfies Record<string, ObservationCode>;

export type LabKey =
  | 'hba1c'
  | 'glucose'
  | 'ldl'
  | 'hdl'
  | 'cholesterol'
  | 'triglycerides'
  | 'creatinine'
  | 'egfr'
  | 'hemoglobin'
  | 'wbc'
  | 'platelets'
  | 'tsh'
  | 'potassium'
  | 'sodium';

export interface LabTest extends ObservationCode {
  /** Reference range [low, high] for female and male patients. */
  readonly range: { readonly female: readonly [number, number]; readonly male: readonly [number, number] };
}
const same = (low: number, high: number) => ({ female: [low, high] as const, male: [low, high] as const });

export const LABS: Readonly<Record<LabKey, LabTest>> = {
  hba1c: {
    code: '4548-4',
    display: 'Hemoglobin A1c/Hemoglobin.total in Blood',
    ucum: '%',
    unit: '%',
    decimals: 1,
    range: same(4, 5.6),
  },
  glucose: {
    code: '2345-7',
    display: 'Glucose [Mass/volume] in Serum or Plasma',
    ucum: 'mg/dL',
    unit: 'mg/dL',
    decimals: 0,
    range: same(70, 99),
  },
  ldl: {
    code: '18262-6',
    display: 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay',
    ucum: 'mg/dL',
    unit: 'mg/dL',
    decimals: 0,
    range: same(0, 129),
  },
  hdl: {
    code: '2085-9',
    display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma',
    ucum: 'mg/dL',
    unit: 'mg/dL',
    decimals: 0,
    range: { female: [50, 100], male: [40, 100] },
  },
  cholesterol: {
    code: '2093-3',
    display: 'Cholesterol [Mass/volume] in Serum or Plasma',
    ucum: 'mg/dL',
    unit: 'mg/dL',
    decimals: 0,
    range: same(100, 199),
  },
  triglycerides: {
    code: '2571-8',
    display: 'Triglyceride [Mass/volume] in Serum or Plasma',
    ucum: 'mg/dL',
    unit: 'mg/dL',
    decimals: 0,
    range: same(0, 149),
  },
  creatinine: {
    code: '2160-0',
    display: 'Creatinine [Mass/volume] in Serum or Plasma',
    ucum: 'mg/dL',
    unit: 'mg/dL',
    decimals: 2,
    range: { female: [0.59, 1.04], male: [0.74, 1.35] },
  },
  egfr: {
    code: '33914-3',
    display:
      'Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)',
    ucum: 'mL/min/{1.73_m2}',
    unit: 'mL/min/1.73m2',
    decimals: 0,
    range: same(60, 120),
  },
  hemoglobin: {
    code: '718-7',
    display: 'Hemoglobin [Mass/volume] in Blood',
    ucum: 'g/dL',
    unit: 'g/dL',
    decimals: 1,
    range: { female: [12, 15.5], male: [13.5, 17.5] },
  },
  wbc: {
    code: '6690-2',
    display: 'Leukocytes [#/volume] in Blood by Automated count',
    ucum: '10*3/uL',
    unit: '10*3/uL',
    decimals: 1,
    range: same(4.5, 11),
  },
  platelets: {
    code: '777-3',
    display: 'Platelets [#/volume] in Blood by Automated count',
    ucum: '10*3/uL',
    unit: '10*3/uL',
    decimals: 0,
    range: same(150, 400),
  },
  tsh: {
    code: '3016-3',
    display: 'Thyrotropin [Units/volume] in Serum or Plasma',
    ucum: 'm[IU]/L',
    unit: 'mIU/L',
    decimals: 2,
    range: same(0.4, 4.5),
  },
  potassium: {
    code: '2823-3',
    display: 'Potassium [Moles/volume] in Serum or Plasma',
    ucum: 'mmol/L',
    unit: 'mmol/L',
    decimals: 1,
    range: same(3.5, 5.1),
  },
  sodium: {
    code: '2951-2',
    display: 'Sodium [Moles/volume] in Serum or Plasma',
    ucum: 'mmol/L',
    unit: 'mmol/L',
    decimals: 0,
    range: same(136, 145),
  },
};

export type PanelKey = 'a1c' | 'lipid' | 'bmp' | 'cbc' | 'tsh';
export interface LabPanel extends Code {
  readonly labs: readonly LabKey[];
}
export const PANELS: Readonly<Record<PanelKey, LabPanel>> = {
  a1c: { code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', labs: ['hba1c'] },
  lipid: {
    code: '57698-3',
    display: 'Lipid panel with direct LDL - Serum or Plasma',
    labs: ['cholesterol', 'triglycerides', 'hdl', 'ldl'],
  },
  bmp: {
    code: '51990-0',
    display: 'Basic metabolic panel - Blood',
    labs: ['glucose', 'sodium', 'potassium', 'creatinine', 'egfr'],
  },
  cbc: { code: '58410-2', display: 'CBC panel - Blood by Automated count', labs: ['hemoglobin', 'wbc', 'platelets'] },
  tsh: { code: '3016-3', display: 'Thyrotropin [Units/volume] in Serum or Plasma', labs: ['tsh'] },
};

export const OBSERVATION_CATEGORIES = {
  vitalSigns: { code: 'vital-signs', display: 'Vital Signs' },
  laboratory: { code: 'laboratory', display: 'Laboratory' },
} as const satisfies Record<string, Code>;

export const INTERPRETATIONS = {
  H: { code: 'H', display: 'High' },
  L: { code: 'L', display: 'Low' },
  N: { code: 'N', display: 'Normal' },
} as const satisfies Record<string, Code>;

// ---------------------------------------------------------------------------------------------
// Encounters, procedures, documents
// ---------------------------------------------------------------------------------------------

export const ENCOUNTER_CLASSES = {
  AMB: { code: 'AMB', display: 'ambulatory' },
  EMER: { code: 'EMER', display: 'emergency' },
  IMP: { code: 'IMP', display: 'inpatient encounter' },
} as const satisfies Record<string, Code>;

export const ENCOUNTER_TYPES = {
  checkUp: { code: '185349003', display: 'Encounter for check up' },
  wellChild: { code: '410620009', display: 'Well child visit' },
  followUp: { code: '390906007', display: 'Follow-up encounter' },
  symptom: { code: '185345009', display: 'Encounter for symptom' },
  immunization: { code: '33879002', display: 'Administration of vaccine to produce active immunity' },
  emergency: { code: '50849002', display: 'Emergency room admission' },
  admission: { code: '32485007', display: 'Hospital admission' },
} as const satisfies Record<string, Code>;

export const PROCEDURES = {
  ecg: { code: '29303009', display: 'Electrocardiographic procedure' },
  chestXray: { code: '399208008', display: 'Plain chest X-ray' },
  spirometry: { code: '127783003', display: 'Spirometry' },
  depressionScreening: { code: '171207006', display: 'Depression screening' },
  medicationReconciliation: { code: '430193006', display: 'Medication reconciliation' },
  colonoscopy: { code: '73761001', display: 'Colonoscopy' },
  mammography: { code: '71651007', display: 'Mammography' },
  echocardiography: { code: '40701008', display: 'Echocardiography' },
  venipuncture: { code: '82078001', display: 'Collection of blood specimen for laboratory' },
} as const satisfies Record<string, Code>;

export const DOCUMENT_TYPES = {
  consult: { code: '11488-4', display: 'Consult note' },
  discharge: { code: '18842-5', display: 'Discharge summary' },
  historyAndPhysical: { code: '34117-2', display: 'History and physical note' },
  progress: { code: '11506-3', display: 'Progress note' },
} as const satisfies Record<string, Code>;

export const SPECIALTIES = [
  { code: '419772000', display: 'Family practice', title: 'Family Medicine' },
  { code: '394579002', display: 'Cardiology', title: 'Cardiology' },
  { code: '394583002', display: 'Endocrinology', title: 'Endocrinology' },
  { code: '419192003', display: 'Internal medicine', title: 'Internal Medicine' },
  { code: '394537008', display: 'Pediatric specialty', title: 'Pediatrics' },
  { code: '773568002', display: 'Emergency medicine', title: 'Emergency Medicine' },
] as const;
