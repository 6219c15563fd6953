/**
 * Device streams and population health in the web app, in a real browser against a real node
 * loaded as `start --demo` loads it (demo patients, research opt-ins, simulated wearables with two
 * days of samples): a patient charts their own wearable over 24 hours and 7 days (choosing the
 * range with the keyboard); a clinician sees a patient's device data in the chart, and an empty
 * state for a patient without a device; the analyst runs a population query grouped by sex and
 * sees a chart with reportable cells and suppressed ones marked, matching what the API answers; a
 * clinician without the analyst role is refused with a clear message. Screenshots for the README:
 * device-stream.png and population-dashboard.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import { loadDemo } from '../src/demo/load.js';
import { DEMO_PATIENT_PASSWORDS, DEMO_PRACTITIONERS, ensureDemoAccounts } from '../src/demo/accounts.js';
import { ensureDemoConsents, joinsResearch, withholdsConsent } from '../src/demo/consents.js';
import { DEMO_DEVICE_PATIENTS, ensureDemoDevices } from '../src/demo/devices.js';
import { startTestServer, type TestServer } from './support/fixtures.js';
import { launch, screenshot, signInOnNode, skipUnlessBrowser, unlabeledControls } from './support/web-browser.js';

/** Enough opted-in patients that some cells reach k = 10 and others do not. */
const PATIENTS = 30;
const SLOW = { timeout: 120_000 };
const practitioner = (username: string) => DEMO_PRACTITIONERS.find((p) => p.username === username)!;

describe('web app: device streams and population health', { skip: skipUnlessBrowser(), timeout: 10 * 60_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let patient: Page;
  let clinician: Page;
  let analyst: Page;
  /** FHIR Patient ids in demo load order (what ensureDemoConsents and ensureDemoDevices go by). */
  let patientIds: string[];
  const consoleErrors: string[] = [];

  before(async () => {
    server = await startTestServer({ fhir: true });
    await loadDemo(server.fhir!, { patients: PATIENTS });
    await ensureDemoAccounts(server.node, server.fhir!, server.auth!, { origins: [server.url] });
    patientIds = server
      .fhir!.vault.db.prepare("SELECT id FROM current WHERE type = 'Patient' AND deleted = 0 AND version > 0 ORDER BY res")
      .pluck()
      .all() as string[];
    // patient1 is enrolled here as `start --demo` enrolls the other demo patients (key setup in the
    // browser is web-journey's), so that the demo gives their record a wearable like the others.
    const patient1 = server.fhir!.vault.patientPseudonym(patientIds[0]!, { create: true })!;
    const enrolled = await server.node.submitOwn({
      type: 'participant.register',
      body: { kind: 'patient', id: patient1, key: generateKeyPair().publicKey },
    });
    assert.ok(enrolled.ok);
    await ensureDemoConsents(server.node, server.fhir!);
    const worn = await ensureDemoDevices(server.node, server.fhir!);
    assert.ok(worn.devices >= 2 && worn.samples > 0, 'demo wearables with samples');

    browser = await launch();
    const page = async () => {
      const p = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
      p.setDefaultTimeout(30_000);
      p.on('pageerror', (error) => consoleErrors.push(error.message));
      p.on('console', (message) => {
        // Refusals (403) are expected on purpose; script errors and CSP violations are not.
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
          consoleErrors.push(message.text());
      });
      return p;
    };
    [patient, clinician, analyst] = [await page(), await page(), await page()];
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it("charts the patient's own wearable, downsampled, over 24 hours and 7 days", async () => {
    await patient.goto(`${server.url}/patient`);
    await signInOnNode(patient, 'patient1', DEMO_PATIENT_PASSWORDS[0]);
    await patient.getByRole('heading', { name: 'My health record' }).waitFor();
    await patient.getByRole('navigation', { name: 'Patient portal' }).getByRole('link', { name: 'Devices' }).click();
    await patient.getByRole('heading', { name: 'My devices' }).waitFor();
    await patient.locator('table.log code').filter({ hasText: /^dev_/ }).first().waitFor();

    const heart = patient.locator('.stream[data-code="8867-4"]');
    await heart.locator('figure[data-measure="device-8867-4"]').waitFor(SLOW);
    const day = Number(await heart.locator('figure').getAttribute('data-points'));
    assert.ok(day > 24 && day <= 96, `24 hours in at most 96 buckets (got ${day})`);
    assert.ok(Number(await heart.getAttribute('data-samples')) > 1000, 'thousands of samples behind the buckets');
    await heart.getByText(/15-minute buckets/).waitFor();
    assert.ok((await heart.locator('path.spread').count()) > 0, 'the min–max spread is drawn');
    await heart.getByText(/latest mean \d+ \/min at \d{4}-\d{2}-\d{2} \d{2}:\d{2}/).waitFor();
    await patient.locator('figure[data-measure="device-59408-5"]').waitFor();
    assert.deepEqual(await unlabeledControls(patient), []);
    await screenshot(patient, 'device-stream');

    // The range by keyboard: the arrow key moves the radio choice to 7 days, which reloads in hourly buckets.
    await patient.getByLabel('Last 24 hours').focus();
    await patient.keyboard.press('ArrowRight');
    assert.ok(await patient.getByLabel('Last 7 days').isChecked());
    await heart.getByText(/1-hour buckets/).waitFor(SLOW);
    const week = Number(await heart.locator('figure').getAttribute('data-points'));
    assert.ok(week > 24 && week <= 168, `two days of data in hourly buckets (got ${week})`);
    await patient.getByLabel('Last 30 days').check();
    await heart.getByText(/4-hour buckets/).waitFor(SLOW);

    // Only practitioners get the population dashboard in the navigation.
    assert.equal(
      await patient.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Population health' }).count(),
      0,
    );
  });

  it("shows a patient's device data in the clinician's chart, and says so when a patient has none", async () => {
    // Load order: 0 and 1 are the web logins; 2 consented to treatment and wears a demo device.
    const wearer = patientIds[2]!;
    const noDevice = patientIds.findIndex((_, i) => i >= DEMO_DEVICE_PATIENTS && !withholdsConsent(i));
    assert.ok(noDevice > 0);
    await clinician.goto(`${server.url}/clinician/patient/${wearer}`);
    await signInOnNode(clinician, practitioner('clinician').username, practitioner('clinician').password);
    await clinician.getByRole('heading', { name: 'Device data' }).waitFor();
    await clinician.locator('figure[data-measure="device-8867-4"]').waitFor(SLOW);
    assert.ok(Number(await clinician.locator('figure[data-measure="device-8867-4"]').getAttribute('data-points')) > 0);

    await clinician.goto(`${server.url}/clinician/patient/${patientIds[noDevice]!}`);
    await clinician.getByRole('heading', { name: 'Device data' }).waitFor();
    await clinician.getByText('No wearable or home device is registered to this record').waitFor();
  });

  it('refuses a population query from a clinician who is not an analyst, with a clear message', async () => {
    // Signed in as a practitioner: the dashboard is in the navigation.
    await clinician.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Population health' }).click();
    await clinician.getByRole('heading', { name: 'Population health' }).waitFor();
    await clinician.getByRole('button', { name: 'Run query' }).click();
    const refusal = clinician.getByTestId('population-refused');
    await refusal.waitFor(SLOW);
    assert.match((await refusal.textContent()) ?? '', /analysts of this organization.*prac_demo-clinician.*analyst role/s);
    assert.equal(await clinician.getByTestId('population-answer').count(), 0, 'no numbers shown');
  });

  it('runs a population query as the analyst: a chart per stratum, suppressed cells marked, the same as the API answers', async () => {
    await analyst.goto(`${server.url}/population`);
    await analyst.getByRole('heading', { name: 'Population health' }).waitFor();
    await signInOnNode(analyst, practitioner('analyst').username, practitioner('analyst').password);
    await analyst.getByRole('button', { name: 'Run query' }).waitFor();
    assert.deepEqual(await unlabeledControls(analyst), []);

    // Bad input is caught before a (logged) query is sent.
    await analyst.getByLabel('What to count').selectOption({ label: 'Another code…' });
    await analyst.getByLabel('Code (system|code)').fill('two codes, here');
    await analyst.getByRole('button', { name: 'Run query' }).click();
    await analyst.getByRole('alert').filter({ hasText: 'Give one code' }).waitFor();

    await analyst.getByLabel('What to count').selectOption({ label: 'Heart rate (LOINC 8867-4, with wearables)' });
    assert.equal(await analyst.getByLabel('Resource type').inputValue(), 'Observation', 'the preset sets the type');
    await analyst.getByLabel('Per').selectOption('year');
    await analyst.getByLabel('Sex').check();
    await analyst.getByRole('button', { name: 'Run query' }).click();
    const answer = analyst.getByTestId('population-answer');
    await answer.waitFor(SLOW);

    // What the node answers to the same question (a token as the sign-in would issue it).
    const token = await server.auth!.mint({
      origin: server.url,
      subject: practitioner('analyst').id,
      clientId: 'medledger-web',
      scope: 'user/*.cruds',
      ttlSeconds: 300,
    });
    const form = {
      purpose: 'HRESCH',
      type: 'Observation',
      code: 'http://loinc.org|8867-4',
      interval: 'year',
      from: '2019-01-01',
      to: `${new Date().getUTCFullYear() + 1}-01-01`,
      groupBy: ['sex'],
    };
    const api = await fetch(`${server.url}/api/v1/population/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(form),
    });
    assert.equal(api.status, 200);
    const expected = (await api.json()) as {
      optedIn: number;
      k: number;
      suppressedCells: number;
      cells: { suppressed: boolean; patients: number | null }[];
    };
    const opted = PATIENTS - 2 - [...Array(PATIENTS).keys()].filter((i) => i >= 2 && !joinsResearch(i)).length;
    assert.equal(expected.optedIn, opted, 'the demo opt-ins');
    assert.ok(expected.cells.some((c) => !c.suppressed) && expected.cells.some((c) => c.suppressed), 'both kinds of cell');

    assert.equal(await answer.getByTestId('opted-in').textContent(), String(expected.optedIn));
    assert.equal(await answer.getByTestId('custodians').textContent(), '1 of 1');
    assert.match(
      (await answer.getByTestId('suppressed-count').textContent()) ?? '',
      new RegExp(`^${expected.suppressedCells} of `),
    );
    await answer.getByText(`fewer than ${expected.k} patients`).first().waitFor();
    const rows = answer.locator('table.population-table tbody tr');
    assert.equal(await rows.count(), expected.cells.length);
    const reported = answer.locator('tr[data-suppressed="false"]');
    const suppressed = answer.locator('tr[data-suppressed="true"]');
    assert.equal(await suppressed.count(), expected.suppressedCells);
    assert.ok((await reported.count()) > 0);
    await suppressed.first().getByText('Suppressed').waitFor();
    const firstReported = expected.cells.find((c) => !c.suppressed)!;
    assert.equal(await reported.first().locator('td').nth(3).textContent(), String(firstReported.patients));

    // The chart: one line per stratum, a marker per suppressed cell, a legend naming both.
    const chart = answer.locator('figure.population-chart');
    assert.equal(await chart.locator('g[data-stratum]').count(), 2, 'female and male');
    assert.equal(await chart.locator('svg[role="img"] rect.suppressed-mark').count(), expected.suppressedCells);
    assert.ok((await chart.locator('g[data-stratum] circle').count()) > 0, 'reported cells are plotted');
    await chart.getByText(/suppressed cell \(fewer than 10 patients\)/).waitFor();
    await analyst.evaluate(`document.getElementById('result-title').scrollIntoView({ block: 'start' })`);
    await screenshot(analyst, 'population-dashboard');

    // Other measures of the same answer.
    await analyst.getByLabel('Mean value').check();
    await chart.and(analyst.locator('[data-metric="mean"]')).waitFor();
    await analyst.getByLabel('Rate per 1,000 opted-in').check();
    await chart.and(analyst.locator('[data-metric="ratePer1000"]')).waitFor();

    // A condition without enough opted-in patients under the public-health purpose: nobody, said plainly.
    await analyst.getByLabel('Public health (PUBHLTH)').check();
    await analyst.getByLabel('What to count').selectOption({ label: 'Diabetes mellitus type 2 (SNOMED CT 44054006)' });
    await analyst.getByRole('button', { name: 'Run query' }).click();
    await answer.getByTestId('no-cells').waitFor(SLOW);
    assert.equal(await answer.getByTestId('opted-in').textContent(), 'fewer than 10 (withheld)');
  });

  it('fits a phone screen', async () => {
    for (const [page, path, ready] of [
      [analyst, '/population', 'Run query'],
      [patient, '/patient/devices', 'Refresh'],
    ] as const) {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${server.url}${path}`);
      await page.getByRole('button', { name: ready }).waitFor(SLOW);
      const wide = Number(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
      assert.ok(wide <= 1, `${path} fits a phone (overflow ${wide}px)`);
    }
  });

  it('logged no script errors or content-security-policy violations in the browser', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
