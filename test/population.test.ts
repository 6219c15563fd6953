/**
 * Population health on a real node, over HTTP: a known synthetic population where some patients
 * opted in to research (HRESCH), some to public health only, some gave treatment consent only,
 * one revoked and one never consented. Aggregates are exact for the opted-in patients, nobody else
 * is ever counted, small cells are suppressed (k = 10, stated), only analysts may ask, and each
 * query is on the ledger as access events naming the analyst and the consent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, Observation, Patient } from '@medplum/fhirtypes';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { signBatch } from '../src/devices/batch.js';
import { DeviceService } from '../src/devices/service.js';
import { randomPseudonym } from '../src/client/identity.js';
import type { ConsentPurpose } from '../src/ledger/payloads/consent.js';
import { accessEventsSince, startTestServer, type TestServer } from './support/fixtures.js';

const DIABETES = 'http://snomed.info/sct|44054006';
const HBA1C = 'http://loinc.org|4548-4';

interface Member {
  readonly group: string;
  readonly birthDate: string;
  readonly state: string;
  readonly consent?: ConsentPurpose;
  readonly revoke?: boolean;
  readonly condition?: string;
  readonly hba1c?: number;
}

/** The synthetic population: what each patient is and did, so every expected number is known. */
function population(): Member[] {
  const out: Member[] = [];
  // A: 12 research opt-ins, CA, 40-64, diabetes onset 2025-03, HbA1c 6.0 … 7.1 in 2025-03.
  for (let i = 0; i < 12; i++)
    out.push({
      group: 'A',
      birthDate: '1970-06-01',
      state: 'CA',
      consent: 'HRESCH',
      condition: `2025-03-${String(i + 1).padStart(2, '0')}`,
      hba1c: 6 + i / 10,
    });
  // B: 5 research opt-ins, NY, 18-39, diabetes onset 2025-03: a small cell.
  for (let i = 0; i < 5; i++)
    out.push({ group: 'B', birthDate: '1995-01-15', state: 'NY', consent: 'HRESCH', condition: '2025-03-10' });
  // D: 3 research opt-ins, CA, 40-64, no diabetes: in the denominator only.
  for (let i = 0; i < 3; i++) out.push({ group: 'D', birthDate: '1965-02-02', state: 'CA', consent: 'HRESCH' });
  // C: not opted in to research — public health only, treatment only, revoked, none — all with diabetes and HbA1c 12.
  for (const consent of ['PUBHLTH', 'PUBHLTH', 'TREAT', 'TREAT', undefined] as const)
    out.push({
      group: 'C',
      birthDate: '1970-06-01',
      state: 'CA',
      ...(consent && { consent }),
      condition: '2025-03-05',
      hba1c: 12,
    });
  out.push({
    group: 'C',
    birthDate: '1970-06-01',
    state: 'CA',
    consent: 'HRESCH',
    revoke: true,
    condition: '2025-03-05',
    hba1c: 12,
  });
  return out;
}

describe('population health', () => {
  let server: TestServer;
  const members: (Member & { pseudonym: string })[] = [];
  const tokens = new Map<string, string>();

  const query = async (who: string, body: Record<string, unknown>) => {
    const res = await fetch(`${server.url}/api/v1/population/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.get(who)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { cells: Record<string, unknown>[] } };
  };

  before(async () => {
    server = await startTestServer({ fhir: true });
    const repo = server.fhir!;
    const author = { author: server.org.id };
    for (const [id, roles] of [
      ['prac_pop-analyst', ['analyst']],
      ['prac_pop-clinician', ['clinician']],
    ] as const) {
      await server.addPractitioner(id, roles);
      await server.auth!.store.addAccount({ id, kind: 'practitioner', username: id, password: `${id}-password`, display: id });
      tokens.set(
        id,
        await server.auth!.mint({ origin: server.url, subject: id, clientId: 'pop', scope: 'user/*.rs', ttlSeconds: 3600 }),
      );
    }
    for (const m of population()) {
      const patient = (
        await repo.create(
          { resourceType: 'Patient', birthDate: m.birthDate, gender: 'female', address: [{ state: m.state }] } as Patient,
          author,
        )
      ).resource;
      const pseudonym = repo.vault.patientPseudonym(patient.id!)!;
      const identity = await server.enrollPatient(pseudonym);
      if (m.consent) {
        const id = randomPseudonym('cns');
        await server.commit(
          identity.sign({ type: 'consent.grant', body: { id, patient: pseudonym, grantee: server.org.id, purpose: m.consent } }),
        );
        if (m.revoke) await server.commit(identity.sign({ type: 'consent.revoke', body: { id } }));
      }
      const subject = { reference: `Patient/${patient.id!}` };
      if (m.condition) {
        const [system, code] = DIABETES.split('|');
        await repo.create(
          { resourceType: 'Condition', subject, code: { coding: [{ system, code }] }, onsetDateTime: m.condition } as Condition,
          author,
        );
      }
      if (m.hba1c !== undefined) {
        const [system, code] = HBA1C.split('|');
        await repo.create(
          {
            resourceType: 'Observation',
            status: 'final',
            subject,
            code: { coding: [{ system, code }] },
            effectiveDateTime: '2025-03-20T10:00:00Z',
            valueQuantity: { value: m.hba1c, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
          } as Observation,
          author,
        );
      }
      members.push({ ...m, pseudonym });
    }
    // Wearables: every group A patient (heart rate 60 + i, ten samples) and the group C ones (200).
    const devices = DeviceService.open(server.node, repo);
    let a = 0;
    for (const m of members.filter((x) => x.group === 'A' || x.group === 'C')) {
      const keys = generateKeyPair();
      const { device } = await devices.register(m.pseudonym, keys.publicKey);
      const value = m.group === 'A' ? 60 + a++ : 200;
      const series = [
        { code: '8867-4', start: Date.UTC(2025, 2, 15, 12), period: 60_000, values: Array<number>(10).fill(value) },
      ];
      await devices.ingest(signBatch({ chain: server.node.chain.chainId, device, seq: 0, series }, new Signer(keys)).wire);
    }
    devices.close();
  });
  after(async () => server.close());

  test('condition counts and rates by age band and region are exact; the small cell is suppressed', async () => {
    const { status, body } = await query('prac_pop-analyst', {
      purpose: 'HRESCH',
      type: 'Condition',
      code: DIABETES,
      interval: 'month',
      from: '2025-01-01T00:00:00Z',
      to: '2026-01-01T00:00:00Z',
      groupBy: ['ageBand', 'region'],
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body['k'], 10);
    assert.match(String(body['suppression']), /fewer than 10/);
    assert.equal(body['optedIn'], 20, 'A + B + D: not the public-health, treatment, revoked or unconsented patients');
    assert.deepEqual(body.cells, [
      {
        period: '2025-03-01T00:00:00.000Z',
        stratum: { ageBand: '18-39', region: 'NY' },
        population: null,
        patients: null,
        events: null,
        ratePer1000: null,
        mean: null,
        suppressed: true,
      },
      {
        period: '2025-03-01T00:00:00.000Z',
        stratum: { ageBand: '40-64', region: 'CA' },
        population: 15,
        patients: 12,
        events: 12,
        ratePer1000: 800,
        mean: null,
        suppressed: false,
      },
    ]);
    assert.equal(body['suppressedCells'], 1);
  });

  test('observation means count only opted-in patients', async () => {
    const { status, body } = await query('prac_pop-analyst', {
      purpose: 'HRESCH',
      type: 'Observation',
      code: HBA1C,
      interval: 'year',
      from: '2025-01-01',
      to: '2026-01-01',
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.cells.length, 1);
    const cell = body.cells[0]!;
    assert.deepEqual([cell['patients'], cell['events'], cell['population']], [12, 12, 20]);
    // 6.0 … 7.1: mean 6.55. Any of the non-opted-in patients' 12% would move it.
    assert.equal(cell['mean'], 6.55);
  });

  test('device samples count in observation means, per sample, for opted-in patients only', async () => {
    const { status, body } = await query('prac_pop-analyst', {
      purpose: 'HRESCH',
      type: 'Observation',
      code: 'http://loinc.org|8867-4',
      interval: 'month',
      from: '2025-01-01',
      to: '2026-01-01',
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.cells.length, 1);
    const cell = body.cells[0]!;
    assert.equal(cell['period'], '2025-03-01T00:00:00.000Z');
    // 12 patients × 10 samples; the batch Observations themselves are not extra events; 60 … 71 → 65.5.
    assert.deepEqual([cell['patients'], cell['events'], cell['population'], cell['mean']], [12, 120, 20, 65.5]);
  });

  test('a purpose with too few opt-ins reveals nothing', async () => {
    const { status, body } = await query('prac_pop-analyst', {
      purpose: 'PUBHLTH',
      type: 'Condition',
      code: DIABETES,
      interval: 'year',
      from: '2025-01-01',
      to: '2026-01-01',
    });
    assert.equal(status, 200);
    assert.equal(body['optedIn'], null, 'two opted-in patients: under k');
    assert.ok(body.cells.every((c) => c['suppressed'] === true && c['patients'] === null));
  });

  test('only analysts may query; bad queries are refused', async () => {
    const clinician = await query('prac_pop-clinician', { purpose: 'HRESCH', type: 'Condition', code: DIABETES });
    assert.equal(clinician.status, 403);
    assert.equal(clinician.body['code'], 'population.forbidden');
    const treat = await query('prac_pop-analyst', { purpose: 'TREAT', type: 'Condition', code: DIABETES });
    assert.equal(treat.status, 400);
    const range = await query('prac_pop-analyst', {
      purpose: 'HRESCH',
      type: 'Condition',
      code: DIABETES,
      from: '2026-01-01',
      to: '2025-01-01',
    });
    assert.equal(range.status, 400);
    assert.equal(range.body['code'], 'population.invalid');
    const none = await fetch(`${server.url}/api/v1/population/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.ok(none.status === 400 || none.status === 401);
    const anonymous = await fetch(`${server.url}/api/v1/population/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ purpose: 'HRESCH', type: 'Condition', code: DIABETES }),
    });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { code: string }).code, 'auth.required');
  });

  test('each query is on the ledger: an aggregate access event for every opted-in patient, none for the others', async () => {
    const before = server.node.chain.head().height;
    const { status } = await query('prac_pop-analyst', {
      purpose: 'HRESCH',
      type: 'Condition',
      code: DIABETES,
      interval: 'year',
    });
    assert.equal(status, 200);
    const aggregated = new Map<string, { actor: string; grant?: string; records: number }>();
    for (const e of accessEventsSince(server.node, before)) {
      if (e.action === 'aggregate')
        aggregated.set(e.patient, { actor: e.actor, ...('grant' in e && { grant: e.grant }), records: e.records.length });
    }
    const optedIn = members.filter((m) => m.consent === 'HRESCH' && !m.revoke);
    assert.equal(aggregated.size, optedIn.length);
    for (const m of members) {
      const event = aggregated.get(m.pseudonym);
      if (optedIn.includes(m)) {
        assert.equal(event?.actor, 'prac_pop-analyst');
        assert.match(event?.grant ?? '', /^cns_/);
        assert.equal(event?.records, 0, 'no record ids: the ledger does not say whether the patient matched');
      } else assert.equal(event, undefined, `group ${m.group} (${m.consent ?? 'no consent'}) was never counted`);
    }
  });

  test('a deleted Patient leaves the population', async () => {
    const gone = members.find((m) => m.group === 'D')!;
    await server.fhir!.delete('Patient', server.fhir!.vault.patientIdOf(gone.pseudonym)!, { author: server.org.id });
    const { status, body } = await query('prac_pop-analyst', {
      purpose: 'HRESCH',
      type: 'Condition',
      code: DIABETES,
      interval: 'year',
      from: '2025-01-01T00:00:00Z',
      to: '2026-01-01T00:00:00Z',
      groupBy: ['region'],
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body['optedIn'], 19);
    const ca = body.cells.find((c) => (c['stratum'] as Record<string, string>)['region'] === 'CA')!;
    assert.deepEqual([ca['patients'], ca['population']], [12, 14]);
  });
});
