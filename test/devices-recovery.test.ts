/**
 * Device data after the unusual paths: a batch committed by crash recovery (its version settled
 * without the commit hook that writes the sample index) is re-indexed when the device service
 * opens, with its sequence number, so a replay stays refused; and a patient's erasure request
 * crypto-shreds the batch Observations and drops their sample rows.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { signBatch } from '../src/devices/batch.js';
import { DeviceError, DeviceService } from '../src/devices/service.js';
import { startTestServer, type TestServer } from './support/fixtures.js';

describe('device data recovery and erasure', () => {
  let server: TestServer;
  let devices: DeviceService;
  let patient: Identity;
  let device: string;
  const signer = new Signer(generateKeyPair());
  const start = Date.UTC(2026, 9, 1);
  const count = (table: string) => server.fhir!.vault.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

  before(async () => {
    server = await startTestServer({ fhir: true });
    const created = await server.fhir!.create(
      { resourceType: 'Patient', name: [{ family: 'Shred' }] },
      { author: server.org.id },
    );
    const pseudonym = server.fhir!.vault.patientPseudonym(created.resource.id!)!;
    patient = await server.enrollPatient(pseudonym);
    devices = DeviceService.open(server.node, server.fhir!);
    device = (await devices.register(pseudonym, signer.publicKey)).device;
  });
  after(async () => {
    devices.close();
    await server.close();
  });

  test('a committed batch without index rows is re-indexed on open, seq included', async () => {
    const batch = signBatch(
      {
        chain: server.node.chain.chainId,
        device,
        seq: 7,
        series: [{ code: '8867-4', start, period: 1000, values: [60, 61, 62] }],
      },
      signer,
    );
    await devices.ingest(batch.wire);
    assert.equal(count('device_samples'), 3);
    // What a crash between the ledger commit and the commit transaction leaves: the version, no index.
    server.fhir!.vault.db.exec('DELETE FROM device_samples; DELETE FROM device_batches;');
    devices.close();
    devices = DeviceService.open(server.node, server.fhir!);
    assert.equal(count('device_samples'), 3);
    assert.equal(devices.store.lastSeq(device), 7);
    await assert.rejects(devices.ingest(batch.wire), (e: unknown) => e instanceof DeviceError && e.code === 'device.replayed');
  });

  test("the patient's erasure shreds the batches and drops their samples", async () => {
    const erased = signBatch(
      {
        chain: server.node.chain.chainId,
        device,
        seq: 8,
        series: [{ code: '59408-5', start, period: 60_000, values: [97, 96] }],
      },
      signer,
    );
    await devices.ingest(erased.wire);
    assert.equal(count('device_samples'), 5);
    await server.commit(
      patient.sign({
        type: 'erasure.request',
        body: { id: randomPseudonym('ers'), patient: patient.id, custodian: server.org.id },
      }),
    );
    const deadline = Date.now() + 10_000;
    while (count('device_samples') > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(count('device_samples'), 0);
    assert.equal(count('device_batches'), 0);
    assert.equal(server.fhir!.recordsOfPatient(patient.id).length, 0);
    // A replay of an erased batch must not bring its data back: its seq outlives the erasure (and
    // here the whole record, Patient included, is gone, so the device's patient is not held either).
    assert.equal(devices.store.lastSeq(device), 8);
    await assert.rejects(
      devices.ingest(erased.wire),
      (e: unknown) => e instanceof DeviceError && e.code === 'device.patient_not_held',
    );
    assert.equal(count('device_samples'), 0);
  });
});
