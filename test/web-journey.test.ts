/**
 * The web app end to end in a real browser against a real node: a patient signs in through the
 * node's SMART/OAuth server (code + PKCE), sets up their key on the device, shares their record;
 * a clinician finds the chart and records an observation, which the patient sees arrive live
 * and in their chart; the patient revokes, the clinician opens emergency access, the patient's
 * access log shows it; a transaction's inclusion proof verifies in the explorer. Unhappy paths:
 * a bad grantee, a wrong password and an unknown transaction show clear messages.
 * Screenshots for the README are written to docs/screenshots/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { loadDemo } from '../src/demo/load.js';
import { DEMO_PATIENT_PASSWORDS, DEMO_PRACTITIONERS, ensureDemoAccounts } from '../src/demo/accounts.js';
import type { Patient } from '@medplum/fhirtypes';
import { call } from './support/fhir-api.js';
import { startTestServer, type TestServer } from './support/fixtures.js';
import { launch, screenshot, signInOnNode, skipUnlessBrowser, unlabeledControls } from './support/web-browser.js';

const PASSPHRASE = 'correct horse battery staple';
const NEW_PASSPHRASE = 'a brand new passphrase after recovery';
const SLOW = { timeout: 180_000 };

describe('web app: patient and clinician journeys', { skip: skipUnlessBrowser(), timeout: 15 * 60_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let patientContext: BrowserContext;
  let clinicianContext: BrowserContext;
  let patient: Page;
  let clinician: Page;
  let patientFhirId: string;
  let patientName: string;
  let patientBirthDate: string;
  let pseudonym: string;
  let kit = '';
  const consoleErrors: string[] = [];

  before(async () => {
    server = await startTestServer({ fhir: true });
    await loadDemo(server.fhir!, { patients: 2 });
    // Accounts as `start --demo` makes them (the patients not yet enrolled: their first sign-in sets up keys).
    const accounts = await ensureDemoAccounts(server.node, server.fhir!, server.auth!, { origins: [server.url] });
    const account = accounts.find((a) => a.username === 'patient1')!;
    pseudonym = account.id;
    patientFhirId = server.auth!.store.account(pseudonym)!.patient!;
    const read = await call<Patient>(`${server.url}/fhir`, 'GET', `/Patient/${patientFhirId}`);
    patientName = read.body.name![0]!.family!;
    patientBirthDate = read.body.birthDate!;
    browser = await launch();
    patientContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    clinicianContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    patient = await patientContext.newPage();
    clinician = await clinicianContext.newPage();
    for (const page of [patient, clinician]) {
      // Script errors and CSP violations fail the run; failed requests are expected (404s on purpose).
      page.on('pageerror', (error) => consoleErrors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
          consoleErrors.push(message.text());
      });
    }
    patient.setDefaultTimeout(30_000);
    clinician.setDefaultTimeout(30_000);
  });

  let serverClosed = false;
  after(async () => {
    await browser?.close();
    if (!serverClosed) await server?.close();
  });

  it('serves the app at / with client routes, and never shadows the APIs', async () => {
    const home = await fetch(`${server.url}/`, { headers: { accept: 'text/html' } });
    assert.equal(home.status, 200);
    assert.match(await home.text(), /<div id="root">/);
    const deep = await fetch(`${server.url}/patient/trends`, { headers: { accept: 'text/html' } });
    assert.equal(deep.status, 200, 'client routes get the app');
    assert.match(deep.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(home.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const api = await fetch(`${server.url}/api/v1/nothing-here`, { headers: { accept: 'text/html' } });
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { code: string }).code, 'not_found');
    const status = (await (await fetch(`${server.url}/api/v1/status`)).json()) as { organization: string };
    assert.equal(status.organization, server.org.id, "the node names its organization (the portal's custodian)");
    const fhir = await fetch(`${server.url}/fhir/metadata`);
    assert.equal(fhir.status, 200);
    assert.equal(((await fhir.json()) as { resourceType: string }).resourceType, 'CapabilityStatement');
    const asset = await fetch(`${server.url}/assets/missing.js`, { headers: { accept: 'text/html' } });
    assert.equal(asset.status, 404, 'a missing asset is not the app');
  });

  it('signs the patient in (a wrong password first), sets up keys on the device and shows the recovery kit', async () => {
    await patient.goto(`${server.url}/`);
    await screenshot(patient, 'home');
    // Keyboard: the first Tab reaches the skip link.
    await patient.keyboard.press('Tab');
    assert.equal(await patient.evaluate('document.activeElement?.textContent'), 'Skip to content');
    await patient.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Patient portal' }).click();
    await patient.getByRole('button', { name: 'Sign in' }).click();
    await patient.getByLabel('Username').fill('patient1');
    await patient.getByLabel('Password').fill('not-the-password');
    await patient.getByRole('button', { name: 'Sign in' }).click();
    await patient.getByRole('alert').waitFor();
    await patient.getByLabel('Password').fill(DEMO_PATIENT_PASSWORDS[0]);
    await patient.getByRole('button', { name: 'Sign in' }).click();
    await patient.getByRole('button', { name: 'Allow' }).click();

    await patient.getByRole('heading', { name: 'Set up your key' }).waitFor();
    assert.deepEqual(await unlabeledControls(patient), []);
    assert.equal(server.node.chain.app.participant(pseudonym), undefined, 'not enrolled before key setup');
    await patient.getByLabel('Passphrase (at least 10 characters)').fill(PASSPHRASE);
    await patient.getByLabel('Passphrase again').fill('something else entirely');
    await patient.getByText('The two passphrases differ.').waitFor();
    await patient.getByLabel('Passphrase again').fill(PASSPHRASE);
    await patient.getByRole('button', { name: 'Create my key' }).click();
    await patient.getByRole('heading', { name: 'Your recovery kit' }).waitFor(SLOW);
    kit = (await patient.getByTestId('recovery-kit').textContent()) ?? '';
    assert.ok(kit.includes(pseudonym), 'the kit names the pseudonym');
    assert.equal(server.node.chain.app.participant(pseudonym)?.kind, 'patient', 'enrolled with the device key');
    assert.ok(server.access!.store.backup(pseudonym, 'passphrase'), 'passphrase backup stored');
    assert.ok(server.access!.store.backup(pseudonym, 'recovery-code'), 'recovery backup stored');
    assert.ok(!server.access!.store.backup(pseudonym, 'passphrase')!.backup.includes(PASSPHRASE));
    await screenshot(patient, 'patient-key-setup');
    await patient.getByRole('button', { name: /I have saved my kit/ }).click();
    await patient.getByRole('heading', { name: 'Timeline' }).waitFor();
    await patient.locator('.timeline .entry').first().waitFor();
    await screenshot(patient, 'patient-record');
    // Each entry opens a detail view.
    const first = patient.locator('.timeline .entry a').first();
    const title = (await first.textContent()) ?? '';
    await first.click();
    await patient.getByRole('heading', { name: title, exact: true }).waitFor();
    await patient.getByText('FHIR resource').waitFor();
    await patient.getByRole('link', { name: '← Back to the timeline' }).click();
  });

  it('shares the record with the organization as a consent signed in the browser (a bad grantee is refused)', async () => {
    await patient.getByRole('link', { name: 'Sharing' }).click();
    await patient.getByText('You are not sharing your record with anyone.').waitFor();
    assert.deepEqual(await unlabeledControls(patient), []);
    await patient.getByLabel('Another organization or one practitioner').check();
    await patient.getByLabel('Their MedLedger id (org_… or prac_…)').fill('Jane Doe');
    await patient.getByRole('button', { name: 'Sign and share' }).click();
    await patient.getByRole('alert').filter({ hasText: 'Name an organization' }).waitFor();

    // A narrow grant: one practitioner, observations only, until a date.
    await patient.getByLabel('Their MedLedger id (org_… or prac_…)').fill('prac_demo-registrar');
    await patient.getByLabel('Observation', { exact: true }).check();
    await patient.getByLabel(/^Until/).fill('2030-01-31');
    await patient.getByRole('button', { name: 'Sign and share' }).click();
    const narrow = patient.locator('.grants li').filter({ hasText: 'prac_demo-registrar' });
    await narrow.filter({ hasText: 'Observation' }).filter({ hasText: 'until 2030-01-31' }).waitFor(SLOW);
    const narrowId = (await narrow.getAttribute('data-consent'))!;
    const scoped = server.node.chain.app.consent(narrowId);
    assert.deepEqual(
      [scoped?.grantee, scoped?.types, scoped?.until],
      ['prac_demo-registrar', ['Observation'], Date.parse('2030-01-31T23:59:59Z')],
    );
    await patient.getByRole('button', { name: 'Revoke the grant to prac_demo-registrar' }).click();
    await narrow.waitFor({ state: 'detached', ...SLOW });
    await patient.getByLabel('Observation', { exact: true }).uncheck();
    await patient.getByLabel(/^Until/).fill('');

    await patient.getByLabel(/^This organization|Test Hospital/).check();
    await patient.getByRole('button', { name: 'Sign and share' }).click();
    const notice = await patient.getByText(/Shared with org_test-hospital/).textContent(SLOW);
    const consentId = /Consent (cns_[a-z2-7]{26})/.exec(notice ?? '')?.[1];
    assert.ok(consentId, notice ?? '');
    const consent = server.node.chain.app.consent(consentId);
    assert.deepEqual([consent?.patient, consent?.grantee], [pseudonym, server.org.id], 'signed by the patient, on the ledger');
    await patient.locator(`.grants li[data-consent="${consentId}"]`).waitFor();
    await screenshot(patient, 'patient-sharing');
  });

  let weightPoints = 0;

  it('lets the clinician find the patient, read the chart and add an observation, which the patient sees live', async () => {
    await patient.getByRole('link', { name: 'Trends' }).click();
    const weight = patient.locator('figure[data-measure="weight"]');
    await weight.waitFor();
    weightPoints = Number(await weight.getAttribute('data-points'));
    assert.ok(weightPoints > 0);

    await clinician.goto(`${server.url}/clinician`);
    await signInOnNode(clinician, DEMO_PRACTITIONERS[0]!.username, DEMO_PRACTITIONERS[0]!.password);
    await clinician.getByRole('heading', { name: 'Find a patient' }).waitFor();
    // By birth date alone, then by name.
    await clinician.getByLabel('Birth date').fill(patientBirthDate);
    await clinician.getByRole('button', { name: 'Search' }).click();
    await clinician.locator(`a[href="/clinician/patient/${patientFhirId}"]`).waitFor();
    await clinician.getByLabel('Birth date').fill('');
    await clinician.getByLabel('Name').fill(patientName);
    await clinician.getByRole('button', { name: 'Search' }).click();
    await clinician.locator(`a[href="/clinician/patient/${patientFhirId}"]`).click();
    await clinician.getByRole('heading', { name: 'Vital signs' }).waitFor();
    await clinician.locator('figure[data-measure="weight"]').waitFor();
    await clinician.getByText(/live updates live/).waitFor();
    await screenshot(clinician, 'clinician-chart');
    for (const kind of [
      'Observation',
      'Encounter',
      'Condition',
      'AllergyIntolerance',
      'MedicationRequest',
      'Immunization',
      'Note',
    ]) {
      await clinician.getByLabel('What to record').selectOption(kind);
      assert.deepEqual(await unlabeledControls(clinician), [], `labels of the ${kind} form`);
    }

    await clinician.getByLabel('What to record').selectOption('Observation');
    await clinician.getByLabel('Measurement (LOINC)').selectOption('weight');
    await clinician.getByLabel(/^Value/).fill('78.2');
    await clinician.getByRole('button', { name: /^Save vital sign/ }).click();
    await clinician.getByText(/Saved Observation\/.+ committed to the ledger/).waitFor(SLOW);

    // The patient's portal hears the record.commit on the event stream and reloads.
    await patient
      .getByText(/Your record was updated/)
      .first()
      .waitFor(SLOW);
    await patient.locator(`figure[data-measure="weight"][data-points="${weightPoints + 1}"]`).waitFor(SLOW);
    await patient
      .locator('figure[data-measure="weight"]')
      .getByText(/latest 78\.2 kg/)
      .waitFor();
    await screenshot(patient, 'patient-trends');

    // A change made elsewhere (another system writing through the FHIR API) reaches the open chart live.
    const heartRate = clinician.locator('figure[data-measure="heartRate"]');
    const before = Number(await heartRate.getAttribute('data-points'));
    const written = await call(`${server.url}/fhir`, 'POST', '/Observation', {
      body: {
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        subject: { reference: `Patient/${patientFhirId}` },
        effectiveDateTime: new Date().toISOString(),
        valueQuantity: { value: 71, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      },
    });
    assert.equal(written.status, 201, written.text);
    await clinician.getByText(/The record changed on the ledger/).waitFor(SLOW);
    await clinician.locator(`figure[data-measure="heartRate"][data-points="${before + 1}"]`).waitFor(SLOW);
  });

  it('records every kind of entry from the chart (a note with an attachment) and amends one; bad input gets a clear message', async () => {
    await clinician.getByLabel('What to record').selectOption('Observation');
    await clinician.getByLabel('Measurement (LOINC)').selectOption('hba1c');
    await clinician.getByLabel(/^Value/).fill('seven');
    await clinician.getByRole('button', { name: /^Save vital sign/ }).click();
    await clinician.getByRole('alert').filter({ hasText: 'The value must be a number.' }).waitFor();

    await clinician.getByLabel('What to record').selectOption('Condition');
    await clinician.getByLabel('What', { exact: true }).fill('Seasonal allergic rhinitis');
    await clinician.getByLabel('SNOMED CT code (optional)').fill('367498001');
    await clinician.getByRole('button', { name: /^Save problem/ }).click();
    await clinician.getByText(/Saved Condition\/.+ committed to the ledger/).waitFor(SLOW);
    await clinician.getByRole('region', { name: 'Problems' }).getByText('Seasonal allergic rhinitis').waitFor(SLOW);

    await clinician.getByLabel('What to record').selectOption('Note');
    await clinician.getByLabel('Title').fill('Allergy clinic letter');
    await clinician.getByLabel('Note', { exact: true }).fill('Symptoms controlled with antihistamines.');
    await clinician
      .getByLabel(/^Attachment/)
      .setInputFiles({ name: 'letter.txt', mimeType: 'text/plain', buffer: Buffer.from('scanned letter') });
    await clinician.getByRole('button', { name: /^Save clinical note/ }).click();
    await clinician.getByText(/Saved DocumentReference\/.+ committed to the ledger/).waitFor(SLOW);
    await clinician.getByText('Symptoms controlled with antihistamines.').waitFor(SLOW);
    const download = clinician.waitForEvent('download');
    await clinician.getByRole('button', { name: 'Download letter.txt' }).click();
    const file = await download;
    const chunks: Buffer[] = [];
    for await (const chunk of (await file.createReadStream())!) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'scanned letter');
    // The attachment is the patient's record (its security context), not the organization's.
    const binaries = server.fhir!.vault.db.prepare("SELECT patient FROM current WHERE type = 'Binary'").pluck().all();
    assert.deepEqual(binaries, [server.fhir!.vault.patientPseudonym(patientFhirId)]);

    // Amending with a resource the server refuses shows the server's reason.
    await clinician.locator('.timeline button', { hasText: 'Seasonal allergic rhinitis' }).first().click();
    await clinician.getByRole('button', { name: 'Amend this entry' }).click();
    const json = clinician.getByLabel(/The entry as FHIR JSON/);
    await json.fill((await json.inputValue()).replace('"onsetDateTime": "', '"onsetDateTime": "not a date '));
    await clinician.getByRole('button', { name: 'Save amendment' }).click();
    await clinician.locator('.amend').getByRole('alert').waitFor(SLOW);
    // A valid amendment is a new version; the chart shows it.
    await json.fill(
      (await json.inputValue()).replace('not a date ', '').replace('Seasonal allergic rhinitis', 'Perennial allergic rhinitis'),
    );
    await clinician.getByRole('button', { name: 'Save amendment' }).click();
    await clinician.getByRole('region', { name: 'Problems' }).getByText('Perennial allergic rhinitis').waitFor(SLOW);

    // The other forms make resources the node accepts (schema-valid, references resolved).
    const forms: [string, Record<string, string>, string][] = [
      ['Encounter', { 'Kind of visit': 'Follow-up visit', 'Reason (optional)': 'Rhinitis review' }, 'Save encounter'],
      ['AllergyIntolerance', { What: 'Penicillin', 'Reaction (optional)': 'Hives' }, 'Save allergy'],
      ['MedicationRequest', { What: 'Cetirizine 10 mg', 'Dosage instructions': 'One tablet daily' }, 'Save prescription'],
      ['Immunization', { What: 'Influenza vaccine', 'CVX code (optional)': '141' }, 'Save immunization'],
    ];
    for (const [kind, fields, button] of forms) {
      await clinician.getByLabel('What to record').selectOption(kind);
      for (const [label, value] of Object.entries(fields)) await clinician.getByLabel(label, { exact: true }).fill(value);
      await clinician.getByRole('button', { name: button }).click();
      const resourceType = kind;
      await clinician.getByText(new RegExp(`Saved ${resourceType}/.+ committed to the ledger`)).waitFor(SLOW);
    }
    await clinician.getByRole('region', { name: 'Allergies' }).getByText('Penicillin').waitFor(SLOW);
    await clinician.getByRole('region', { name: 'Medications' }).getByText('Cetirizine 10 mg').waitFor(SLOW);
    await clinician
      .locator('.encounters')
      .getByText(/Follow-up visit/)
      .waitFor(SLOW);
  });

  it('revokes the grant; the clinician loses the chart and opens emergency access, which the patient sees', async () => {
    await patient.getByRole('link', { name: 'Sharing' }).click();
    await patient
      .getByRole('button', { name: /^Revoke/ })
      .first()
      .click();
    await patient.getByText('You are not sharing your record with anyone.').waitFor(SLOW);

    await clinician.reload();
    await clinician.getByRole('heading', { name: 'Chart not available' }).waitFor();
    await clinician.getByText(/with your id prac_demo-clinician/).waitFor();
    await clinician.getByLabel('Reason').selectOption('emergency-treatment');
    await clinician.getByLabel(/^Justification/).fill('Unconscious in the emergency department, needs history.');
    await screenshot(clinician, 'clinician-break-glass');
    await clinician.getByRole('button', { name: 'Open emergency access' }).click();
    await clinician.getByRole('heading', { name: 'Vital signs' }).waitFor(SLOW);

    await patient.getByText(/Emergency access to your record was opened by prac_demo-clinician/).waitFor(SLOW);
    await patient.getByRole('link', { name: 'Who accessed my record' }).click();
    await patient.locator('.breakglass li').filter({ hasText: 'prac_demo-clinician' }).waitFor();
    await patient.locator('tr[data-emergency="true"]').first().waitFor(SLOW);
    assert.match((await patient.locator('tr[data-emergency="true"]').first().textContent()) ?? '', /prac_demo-clinician/);
    await screenshot(patient, 'patient-access-log');
  });

  it("verifies the log's consistency and integrity in the explorer without transaction bodies; staff see them and verify a transaction's inclusion proof", async () => {
    await patient.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Ledger explorer' }).click();
    await patient.locator('.blocks a').first().waitFor();
    // Not staff: transactions by hash only (bodies link people).
    await patient.getByTestId('explorer-public').waitFor();
    assert.match((await patient.locator('.blocks a').first().textContent()) ?? '', /^[0-9a-f]{16}…$/);
    await screenshot(patient, 'explorer');

    await clinician.goto(`${server.url}/explorer`);
    await clinician.locator('.blocks a').first().waitFor();
    assert.equal(await clinician.getByTestId('explorer-public').count(), 0);
    await clinician.locator('.blocks a').first().click();
    await clinician.getByText('Decoded body').waitFor();
    await clinician.getByRole('button', { name: 'Verify inclusion proof' }).click();
    await clinician.getByTestId('proof-result').filter({ hasText: 'Verified in this browser' }).waitFor(SLOW);
    await screenshot(clinician, 'explorer-proof');

    await patient.getByRole('button', { name: 'Check consistency' }).click();
    await patient.getByTestId('consistency-result').filter({ hasText: 'nothing was rewritten' }).waitFor(SLOW);
    assert.deepEqual(await unlabeledControls(patient), []);
    await patient.getByRole('button', { name: 'Verify integrity' }).click();
    await patient.getByTestId('integrity-result').filter({ hasText: 'check out' }).waitFor({ timeout: 600_000 });
    await patient.getByTestId('integrity-result').scrollIntoViewIfNeeded();
    await screenshot(patient, 'explorer-integrity');

    await patient.goto(`${server.url}/explorer/tx/${'0'.repeat(64)}`);
    await patient.getByRole('alert').filter({ hasText: 'No transaction' }).waitFor();
  });

  it('fits a phone screen', async () => {
    await patient.setViewportSize({ width: 390, height: 844 });
    await patient.goto(`${server.url}/patient/trends`);
    await patient.locator('figure[data-measure="weight"]').waitFor();
    const overflow = Number(
      await patient.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'),
    );
    assert.ok(overflow <= 1, `no horizontal scrolling at phone width (overflow ${overflow}px)`);
    await screenshot(patient, 'patient-phone');
    for (const [page, path] of [
      [patient, '/explorer'],
      [patient, '/patient/access'],
      [clinician, `/clinician/patient/${patientFhirId}`],
    ] as const) {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${server.url}${path}`);
      await page.locator('main h2').first().waitFor();
      const wide = Number(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
      assert.ok(wide <= 1, `${path} fits a phone (overflow ${wide}px)`);
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('recovers a forgotten passphrase with the kit: the key is rotated on the ledger and a new kit issued', async () => {
    await patient.setViewportSize({ width: 1280, height: 900 });
    await patient.goto(`${server.url}/patient/sharing`);
    const oldKey = server.node.chain.app.participant(pseudonym)!.key;
    await patient.getByText('Forgot your passphrase? Recover with your recovery kit').click();
    await patient.getByLabel('Recovery code from your kit').fill('0000-0000-0000-0000-0000-0000-0000');
    await patient.getByLabel('New passphrase (at least 10 characters)').fill(NEW_PASSPHRASE);
    await patient.getByRole('button', { name: 'Recover my key' }).click();
    await patient.locator('.recover').getByRole('alert').waitFor(SLOW);
    const code = /Recovery code:\s+([0-9A-Z-]+)/.exec(kit)![1]!;
    await patient.getByLabel('Recovery code from your kit').fill(code.toLowerCase());
    await patient.getByRole('button', { name: 'Recover my key' }).click();
    await patient.getByRole('heading', { name: 'Your recovery kit' }).waitFor(SLOW);
    const newKit = (await patient.getByTestId('recovery-kit').textContent()) ?? '';
    assert.notEqual(/Recovery code:\s+([0-9A-Z-]+)/.exec(newKit)?.[1], code, 'a new kit');
    assert.notDeepEqual(server.node.chain.app.participant(pseudonym)!.key, oldKey, 'the ledger lists a new key');
    await patient.getByRole('button', { name: /I have saved my kit/ }).click();
    await patient.getByRole('button', { name: 'Sign and share' }).waitFor();
  });

  it('opens the key from the passphrase backup after a reload (the old passphrase no longer opens it), downloads the record and requests erasure', async () => {
    await patient.goto(`${server.url}/patient/download`);
    const bundleDownload = patient.waitForEvent('download');
    await patient.getByRole('button', { name: 'Download FHIR Bundle (JSON)' }).click();
    const chunks: Buffer[] = [];
    for await (const chunk of (await (await bundleDownload).createReadStream())!) chunks.push(chunk as Buffer);
    const bundle = JSON.parse(Buffer.concat(chunks).toString()) as {
      resourceType: string;
      entry: { resource: { resourceType: string } }[];
    };
    assert.equal(bundle.resourceType, 'Bundle');
    assert.ok(bundle.entry.some((e) => e.resource.resourceType === 'Patient'));
    assert.ok(bundle.entry.some((e) => e.resource.resourceType === 'Observation'));
    await patient.getByRole('heading', { name: /Health summary/ }).waitFor();

    await patient.getByRole('link', { name: 'Erasure' }).click();
    await patient.getByLabel('Your passphrase').fill(PASSPHRASE);
    await patient.getByRole('button', { name: 'Open my key' }).click();
    await patient.getByRole('alert').filter({ hasText: 'does not open your key backup' }).waitFor(SLOW);
    await patient.getByLabel('Your passphrase').fill(NEW_PASSPHRASE);
    await patient.getByRole('button', { name: 'Open my key' }).click();
    const send = patient.getByRole('button', { name: 'Sign and send the erasure request' });
    await send.waitFor(SLOW);
    assert.ok(await send.isDisabled(), 'nothing is sent before the patient confirms');
    await patient.getByLabel(/I understand that this erases my records/).check();
    await send.click();
    const notice = await patient.getByText(/Your erasure request ers_/).textContent(SLOW);
    const request = /(ers_[a-z2-7]{26})/.exec(notice ?? '')![1]!;
    assert.equal(server.node.chain.app.erasureRequest(request)?.patient, pseudonym);
    await patient.getByRole('button', { name: 'Check progress' }).click();
    await patient.getByText(/Done: your organization committed|has not finished erasing yet/).waitFor(SLOW);
  });

  it('shows clear messages, not blank screens, when the node goes away', async () => {
    await clinician.goto(`${server.url}/clinician`);
    await clinician.getByRole('heading', { name: 'Find a patient' }).waitFor();
    await patient.goto(`${server.url}/patient/sharing`);
    await patient.getByRole('heading', { name: 'Active grants' }).waitFor();
    await server.close();
    serverClosed = true;
    // Both pages are loaded; what they ask the node for next fails for real.
    await patient.getByRole('link', { name: 'Who accessed my record' }).click();
    await patient.getByRole('alert').filter({ hasText: 'could not be reached' }).first().waitFor();
    await clinician.getByLabel('Name').fill('anyone');
    await clinician.getByRole('button', { name: 'Search' }).click();
    await clinician.getByRole('alert').filter({ hasText: 'could not be reached' }).waitFor();
    await screenshot(patient, 'node-unreachable');
  });

  it('logged no script errors or content-security-policy violations in the browser', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
