/**
 * The vitals and labs the app charts: LOINC codes, units and adult reference ranges (general
 * guidance for display only — the lab's own range on the Observation wins when present).
 */
import type { Resource } from '../api/fhir';

export interface Measure {
  readonly key: string;
  readonly label: string;
  readonly loinc: string;
  readonly unit: string;
  /** UCUM code for writing Observations. */
  readonly ucum: string;
  readonly category: 'vital-signs' | 'laboratory';
  readonly range?: { readonly low?: number; readonly high?: number };
  readonly decimals: number;
}

export const MEASURES: readonly Measure[] = [
  { key: 'weight', label: 'Body weight', loinc: '29463-7', unit: 'kg', ucum: 'kg', category: 'vital-signs', decimals: 1 },
  {
    key: 'systolic',
    label: 'Systolic blood pressure',
    loinc: '8480-6',
    unit: 'mmHg',
    ucum: 'mm[Hg]',
    category: 'vital-signs',
    range: { low: 90, high: 130 },
    decimals: 0,
  },
  {
    key: 'diastolic',
    label: 'Diastolic blood pressure',
    loinc: '8462-4',
    unit: 'mmHg',
    ucum: 'mm[Hg]',
    category: 'vital-signs',
    range: { low: 60, high: 80 },
    decimals: 0,
  },
  {
    key: 'heartRate',
    label: 'Heart rate',
    loinc: '8867-4',
    unit: '/min',
    ucum: '/min',
    category: 'vital-signs',
    range: { low: 60, high: 100 },
    decimals: 0,
  },
  {
    key: 'bmi',
    label: 'Body mass index',
    loinc: '39156-5',
    unit: 'kg/m2',
    ucum: 'kg/m2',
    category: 'vital-signs',
    range: { low: 18.5, high: 25 },
    decimals: 1,
  },
  {
    key: 'temperature',
    label: 'Body temperature',
    loinc: '8310-5',
    unit: '°C',
    ucum: 'Cel',
    category: 'vital-signs',
    range: { low: 36.1, high: 37.5 },
    decimals: 1,
  },
  {
    key: 'hba1c',
    label: 'HbA1c',
    loinc: '4548-4',
    unit: '%',
    ucum: '%',
    category: 'laboratory',
    range: { high: 5.7 },
    decimals: 1,
  },
  {
    key: 'glucose',
    label: 'Glucose',
    loinc: '2345-7',
    unit: 'mg/dL',
    ucum: 'mg/dL',
    category: 'laboratory',
    range: { low: 70, high: 99 },
    decimals: 0,
  },
  {
    key: 'cholesterol',
    label: 'Total cholesterol',
    loinc: '2093-3',
    unit: 'mg/dL',
    ucum: 'mg/dL',
    category: 'laboratory',
    range: { high: 200 },
    decimals: 0,
  },
  {
    key: 'ldl',
    label: 'LDL cholesterol',
    loinc: '18262-6',
    unit: 'mg/dL',
    ucum: 'mg/dL',
    category: 'laboratory',
    range: { high: 100 },
    decimals: 0,
  },
  {
    key: 'hdl',
    label: 'HDL cholesterol',
    loinc: '2085-9',
    unit: 'mg/dL',
    ucum: 'mg/dL',
    category: 'laboratory',
    range: { low: 40 },
    decimals: 0,
  },
  {
    key: 'creatinine',
    label: 'Creatinine',
    loinc: '2160-0',
    unit: 'mg/dL',
    ucum: 'mg/dL',
    category: 'laboratory',
    range: { low: 0.6, high: 1.3 },
    decimals: 2,
  },
  {
    key: 'tsh',
    label: 'TSH',
    loinc: '3016-3',
    unit: 'mIU/L',
    ucum: 'm[IU]/L',
    category: 'laboratory',
    range: { low: 0.4, high: 4 },
    decimals: 2,
  },
];

export interface Point {
  readonly time: number;
  readonly value: number;
  readonly id: string;
}

interface Quantity {
  value?: number;
}
interface ObservationLike extends Resource {
  code?: { coding?: { system?: string; code?: string }[] };
  valueQuantity?: Quantity;
  component?: { code?: ObservationLike['code']; valueQuantity?: Quantity }[];
  effectiveDateTime?: string;
  status?: string;
}

const hasCode = (code: ObservationLike['code'], loinc: string) => code?.coding?.some((c) => c.code === loinc) ?? false;

/** Every value of `measure` in the Observations, top level or as a component (blood pressure panels). */
export function seriesOf(resources: readonly Resource[], measure: Measure): Point[] {
  const points: Point[] = [];
  for (const r of resources as ObservationLike[]) {
    if (r.resourceType !== 'Observation' || r.status === 'entered-in-error' || !r.effectiveDateTime) continue;
    const time = Date.parse(r.effectiveDateTime);
    if (hasCode(r.code, measure.loinc) && typeof r.valueQuantity?.value === 'number')
      points.push({ time, value: r.valueQuantity.value, id: r.id! });
    for (const c of r.component ?? [])
      if (hasCode(c.code, measure.loinc) && typeof c.valueQuantity?.value === 'number')
        points.push({ time, value: c.valueQuantity.value, id: r.id! });
  }
  return points.sort((a, b) => a.time - b.time);
}

export function outOfRange(measure: Measure, value: number): boolean {
  const { low, high } = measure.range ?? {};
  return (low !== undefined && value < low) || (high !== undefined && value > high);
}
