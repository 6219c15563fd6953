/**
 * A stored device batch as FHIR: ONE Observation per batch (one vault record, one ledger
 * commitment), so ingest costs one encrypted version however many samples a batch carries.
 *
 * - `code.coding` lists every LOINC code the batch measured, so `Observation?code=…` finds the
 *   batches holding that measurement (a deliberate stretch of CodeableConcept, which normally
 *   holds equivalent codings; `component-code` matches each code too);
 * - one `component` per regular run of new samples, `valueSampledData` with `period` in ms and
 *   the values as `data`; the run's first sample time is the `sample-start` extension (SampledData
 *   is timed from `effectivePeriod.start` otherwise, which cannot describe several runs);
 * - `device` names the device by its ledger pseudonym, `identifier` the batch (device/seq).
 *
 * Individual samples are not materialized as resources (too slow at tens of thousands a second);
 * the series API reads the sample index instead, and `samplesOfObservation` expands a batch.
 */
import type { Observation, ObservationComponent } from '@medplum/fhirtypes';
import { deviceCode, DEVICE_CODES, LOINC, UCUM } from './codes.js';
import type { Series } from './batch.js';

export const SAMPLE_START_URL = 'https://medledger.dev/fhir/StructureDefinition/sample-start';
export const DEVICE_SYSTEM = 'urn:medledger:device';
export const BATCH_SYSTEM = 'urn:medledger:device-batch';

/** The Observation id of a device's batch: deterministic, so a batch can be stored only once. */
export function batchObservationId(device: string, seq: number): string {
  return `dev-${device.slice(4)}-${seq}`;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function batchObservation(input: {
  readonly patientId: string;
  readonly device: string;
  readonly seq: number;
  readonly runs: readonly Series[];
  readonly issued: number;
}): Observation {
  const codes = DEVICE_CODES.filter((c) => input.runs.some((r) => r.code === c.code));
  const categories = [...new Set(codes.map((c) => c.category))];
  let first = Infinity;
  let last = -Infinity;
  for (const r of input.runs) {
    first = Math.min(first, r.start);
    last = Math.max(last, r.start + (r.values.length - 1) * r.period);
  }
  return {
    resourceType: 'Observation',
    id: batchObservationId(input.device, input.seq),
    identifier: [{ system: BATCH_SYSTEM, value: `${input.device}/${input.seq}` }],
    status: 'final',
    category: categories.map((code) => ({
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }],
    })),
    code: {
      coding: codes.map((c) => ({ system: LOINC, code: c.code, display: c.display })),
      text: 'Device measurements',
    },
    subject: { reference: `Patient/${input.patientId}` },
    effectivePeriod: { start: iso(first), end: iso(last) },
    issued: iso(input.issued),
    device: { identifier: { system: DEVICE_SYSTEM, value: input.device } },
    component: input.runs.map((run): ObservationComponent => {
      const spec = deviceCode(run.code)!;
      return {
        extension: [{ url: SAMPLE_START_URL, valueInstant: iso(run.start) }],
        code: { coding: [{ system: LOINC, code: spec.code, display: spec.display }] },
        valueSampledData: {
          origin: { value: 0, unit: spec.unit, system: UCUM, code: spec.unit },
          period: run.period,
          dimensions: 1,
          data: run.values.join(' '),
        },
      };
    }),
  };
}

/** The runs of a batch Observation back (for recovery and for clients expanding a batch). */
export function samplesOfObservation(observation: Observation): Series[] {
  const runs: Series[] = [];
  for (const component of observation.component ?? []) {
    const code = component.code.coding?.find((c) => c.system === LOINC)?.code;
    const start = component.extension?.find((e) => e.url === SAMPLE_START_URL)?.valueInstant;
    const sampled = component.valueSampledData;
    if (code === undefined || start === undefined || sampled?.data === undefined) continue;
    runs.push({ code, start: Date.parse(start), period: sampled.period, values: sampled.data.split(' ').map(Number) });
  }
  return runs;
}
