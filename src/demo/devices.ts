/**
 * Demo wearables: the first enrolled demo patients each get a registered device and two days of
 * simulated heart rate, SpO2, steps, blood pressure and glucose up to the current hour, so the
 * web app has device charts to show. Patients who enroll later (the web logins, on their first
 * sign-in) get theirs on the next `start --demo`. Idempotent: a patient with a device is skipped.
 */
import { generateKeyPair, Signer } from '../crypto/ed25519.js';
import type { FhirRepository } from '../fhir/repository.js';
import type { LedgerNode } from '../node/ledger-node.js';
import { DeviceService } from '../devices/service.js';
import { simulateBatches } from '../devices/simulate.js';

/** Demo patients (in load order) who wear a device. */
export const DEMO_DEVICE_PATIENTS = 8;
const SPAN_MS = 2 * 86_400_000;
const HOUR_MS = 3_600_000;

export async function ensureDemoDevices(
  node: LedgerNode,
  repository: FhirRepository,
): Promise<{ devices: number; samples: number }> {
  const patients = repository.vault.db
    .prepare("SELECT id FROM current WHERE type = 'Patient' AND deleted = 0 AND version > 0 ORDER BY res LIMIT ?")
    .pluck()
    .all(DEMO_DEVICE_PATIENTS) as string[];
  const service = DeviceService.open(node, repository);
  let devices = 0;
  let samples = 0;
  try {
    const to = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    for (const [position, patientId] of patients.entries()) {
      const pseudonym = repository.vault.patientPseudonym(patientId);
      const patient = pseudonym && node.chain.app.participant(pseudonym);
      if (!pseudonym || !patient || patient.status !== 'active' || service.devicesOf(pseudonym).length > 0) continue;
      const keys = generateKeyPair();
      const { device } = await service.register(pseudonym, keys.publicKey);
      devices++;
      const batches = simulateBatches(
        { chain: node.chain.chainId, device, from: to - SPAN_MS, to, seed: position + 1, batchSamples: 5000 },
        new Signer(keys),
      );
      for (const batch of batches) samples += (await service.ingest(batch.wire)).accepted;
    }
  } finally {
    service.close();
  }
  return { devices, samples };
}
