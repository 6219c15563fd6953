/**
 * The demo's device and research data: after the demo load and its consents, the first enrolled
 * demo patients wear a simulated device (idempotently), and those who consented to treatment
 * mostly opted in to research too — what the web app's device charts and population dashboard show.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDemo } from '../src/demo/load.js';
import { ensureDemoConsents, joinsResearch, withholdsConsent, DEMO_WEB_PATIENTS } from '../src/demo/consents.js';
import { DEMO_DEVICE_PATIENTS, ensureDemoDevices } from '../src/demo/devices.js';
import { startTestServer, type TestServer } from './support/fixtures.js';

const PATIENTS = 4;

describe('demo wearables and research opt-ins', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ fhir: true });
    await loadDemo(server.fhir!, { patients: PATIENTS });
    await ensureDemoConsents(server.node, server.fhir!);
  });
  after(async () => server.close());

  test('enrolled demo patients get a device with two days of samples, once', async () => {
    const worn = await ensureDemoDevices(server.node, server.fhir!);
    const expected = Math.min(PATIENTS, DEMO_DEVICE_PATIENTS) - DEMO_WEB_PATIENTS;
    assert.equal(worn.devices, expected, 'the web logins are not enrolled yet');
    // Per day: heart rate every 5 s, SpO2 and steps every minute, glucose every 15 min, BP every 4 h (×2 codes).
    const perDay = 17_280 + 1_440 + 1_440 + 96 + 12;
    assert.equal(worn.samples, expected * 2 * perDay);
    assert.deepEqual(await ensureDemoDevices(server.node, server.fhir!), { devices: 0, samples: 0 });
  });

  test('research opt-ins are on the ledger as HRESCH consents', () => {
    const pseudonyms = server
      .fhir!.vault.db.prepare("SELECT id FROM current WHERE type = 'Patient' AND deleted = 0 ORDER BY res")
      .pluck()
      .all()
      .map((id) => server.fhir!.vault.patientPseudonym(id as string)!);
    pseudonyms.forEach((pseudonym, position) => {
      const research = server.node.chain.app.consentsFor(pseudonym, server.org.id).some((c) => c.purpose === 'HRESCH');
      const expected = position >= DEMO_WEB_PATIENTS && !withholdsConsent(position) && joinsResearch(position);
      assert.equal(research, expected, `position ${position}`);
    });
  });
});
