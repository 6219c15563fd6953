/**
 * Loads the demo data set (generateDemo) through the FHIR repository, the way a client would:
 * the organization and practitioners as one transaction of PUTs with their fixed ids, then each
 * patient's transaction Bundle (one ledger transaction per patient). Idempotent: if the demo
 * organization exists, nothing is loaded.
 */
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { processTransaction } from '../fhir/bundle.js';
import type { Actor, FhirRepository } from '../fhir/repository.js';
import { DEMO_ORGANIZATION_ID, generateDemo, type DemoOptions } from './generator.js';

export interface DemoLoadOptions extends DemoOptions {
  /** Patient bundles committed at the same time (default 4): lets the ledger group them into blocks. */
  readonly concurrency?: number;
  /** The author (default: the node's organization). */
  readonly actor?: Actor;
  readonly onPatient?: (done: number, total: number) => void;
}

export interface DemoLoadResult {
  /** False when the demo organization already existed and nothing was loaded. */
  readonly loaded: boolean;
  readonly resources: number;
  readonly patients: number;
  /** Wall time of the load, generation excluded. */
  readonly ms: number;
  /** Time to generate the data set. */
  readonly generateMs: number;
}

/** Whether the demo data set is loaded (its organization exists). */
export function demoLoaded(repository: FhirRepository): boolean {
  const org = repository.current('Organization', DEMO_ORGANIZATION_ID);
  return org !== undefined && !org.deleted;
}

export async function loadDemo(repository: FhirRepository, options: DemoLoadOptions = {}): Promise<DemoLoadResult> {
  if (demoLoaded(repository)) return { loaded: false, resources: 0, patients: 0, ms: 0, generateMs: 0 };
  const actor = options.actor ?? { author: repository.organization };
  const generateStart = performance.now();
  const { concurrency: _c, actor: _a, onPatient: _p, ...demoOptions } = options;
  const data = generateDemo(demoOptions);
  const generateMs = performance.now() - generateStart;
  const start = performance.now();
  const put = (resource: { resourceType: string; id: string }): BundleEntry =>
    ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } }) as unknown as BundleEntry;
  // The organization goes last in its transaction only for readability: the whole bundle is atomic.
  const staff: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [...data.practitioners.map(put), put(data.organization)],
  };
  await processTransaction(repository, staff, actor);
  let resources = staff.entry!.length;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < data.patients.length) {
      const patient = data.patients[next++]!;
      await processTransaction(repository, patient.bundle, actor);
      resources += patient.bundle.entry?.length ?? 0;
      options.onPatient?.(++done, data.patients.length);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 4, data.patients.length || 1));
  await Promise.all(Array.from({ length: workers }, worker));
  return { loaded: true, resources, patients: data.patients.length, ms: performance.now() - start, generateMs };
}
