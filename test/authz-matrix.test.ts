/**
 * The authorization matrix over HTTP with real tokens: requester (patient, clinicians with and
 * without consent, nurse, analyst, backend system) × scope × consent state (granted to the
 * organization, to one practitioner for one type, revoked, expired, none, authored, emergency)
 * × interaction (read, search with total, history, $everything, include). Every case is decided
 * by a small model and checked against the node; there are more denials than permits, and hidden
 * records never show in results, totals or includes. Then the access log: the patient sees, as
 * FHIR AuditEvents and on their event stream, who accessed their record, break-glass included.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Bundle, Observation, Parameters, Resource } from '@medplum/fhirtypes';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import type { PractitionerRole } from '../src/ledger/payloads/participant.js';
import type { TxPayload } from '../src/ledger/tx.js';
import { startTestServer, type TestServer } from './support/fixtures.js';

type Requester = 'patient1' | 'c1' | 'c1-obs-only' | 'c2' | 'nurse' | 'analyst' | 'system';
type Key = 'p1' | 'p2' | 'p3' | 'p4' | 'p5';
const PATIENTS: Key[] = ['p1', 'p2', 'p3', 'p4', 'p5'];

describe('authorization matrix', () => {
  let server: TestServer;
  let base: string;
  const tokens = new Map<Requester, string>();
  const patientIds = new Map<Key, string>();
  const devices = new Map<Key, Identity>();
  /** Resources per patient: Patient, two Observations (one by c2 for p5), a Condition. */
  const resources = new Map<Key, { observations: string[]; condition: string; c2Observation?: string }>();
  const consentId = (): string => randomPseudonym('cns', randomBytes(17));

  async function fhir(
    requester: Requester,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Resource & Record<string, unknown> }> {
    const res = await fetch(`${base}/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens.get(requester)}`,
        ...(body !== undefined && { 'content-type': 'application/fhir+json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Resource & Record<string, unknown> };
  }

  async function own(payload: TxPayload): Promise<void> {
    const outcome = await server.node.submitOwn(payload);
    assert.ok(outcome.ok, JSON.stringify(outcome));
  }

  async function practitioner(id: string, roles: PractitionerRole[], username: string): Promise<void> {
    await own({
      type: 'participant.register',
      body: { kind: 'practitioner', id, key: generateKeyPair().publicKey, org: server.org.id, roles },
    });
    await server.auth!.store.addAccount({
      id,
      kind: 'practitioner',
      username,
      password: `${username}-password`,
      display: username,
    });
  }

  const staff = () => ({ authorization: `Bearer ${tokens.get('system')}` });

  async function mint(requester: Requester, subject: string, scope: string, patient?: string): Promise<void> {
    tokens.set(
      requester,
      await server.auth!.mint({
        origin: server.url,
        subject,
        clientId: 'matrix',
        scope,
        ttlSeconds: 3600,
        ...(patient && { patient }),
      }),
    );
  }

  const observation = (patient: string, text: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text },
    subject: { reference: `Patient/${patient}` },
  });

  before(async () => {
    server = await startTestServer({ fhir: true });
    base = `${server.url}/fhir`;
    await mint('system', 'matrix', 'system/*.cruds');
    await practitioner('prac_c1', ['clinician'], 'c1');
    await practitioner('prac_c2', ['clinician'], 'c2');
    await practitioner('prac_nurse', ['nurse'], 'nurse');
    await practitioner('prac_analyst', ['analyst'], 'analyst');
    await mint('c1', 'prac_c1', 'user/*.cruds');
    await mint('c1-obs-only', 'prac_c1', 'user/Observation.rs');
    await mint('c2', 'prac_c2', 'user/*.cruds');
    await mint('nurse', 'prac_nurse', 'user/*.cruds');
    await mint('analyst', 'prac_analyst', 'user/*.rs');
    for (const key of PATIENTS) {
      const created = await fhir('system', 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: `Matrix-${key}` }] });
      assert.equal(created.status, 201);
      const id = created.body.id!;
      patientIds.set(key, id);
      const observations: string[] = [];
      for (const text of ['weight', 'pulse'])
        observations.push((await fhir('system', 'POST', 'Observation', observation(id, text))).body.id!);
      const condition = (
        await fhir('system', 'POST', 'Condition', {
          resourceType: 'Condition',
          code: { text: 'asthma' },
          subject: { reference: `Patient/${id}` },
        })
      ).body.id!;
      resources.set(key, { observations, condition });
      // The patient enrolls with a key of their own device.
      const pseudonym = server.fhir!.vault.patientPseudonym(id)!;
      const device = new Identity(server.node.chain.chainId, pseudonym, generateKeyPair());
      devices.set(key, device);
      await own({ type: 'participant.register', body: { kind: 'patient', id: pseudonym, key: device.publicKey } });
    }
    // p5's record also holds an Observation written by c2 (treatment relationship). c2 does not
    // see p5's Patient, and a write names only records its author sees (a hidden one is answered
    // like a missing one), so it is put in place through the repository, with c2 as its author.
    const byC2 = await server.fhir!.create(observation(patientIds.get('p5')!, 'c2 note'), { author: 'prac_c2' });
    assert.equal(
      (await fhir('c2', 'POST', 'Observation', observation(patientIds.get('p5')!, 'c2 note'))).status,
      422,
      'over HTTP c2 cannot name the Patient it does not see',
    );
    resources.get('p5')!.c2Observation = byC2.resource.id!;
    await server.auth!.store.addAccount({
      id: devices.get('p1')!.id,
      kind: 'patient',
      username: 'matrix-p1',
      password: 'matrix-p1-password',
      patient: patientIds.get('p1')!,
      display: 'p1',
    });
    await mint('patient1', devices.get('p1')!.id, 'patient/*.rs', patientIds.get('p1')!);

    const grant = async (key: Key, body: Record<string, unknown>): Promise<string> => {
      const device = devices.get(key)!;
      const id = consentId();
      const outcome = await server.submit(
        device.sign({ type: 'consent.grant', body: { id, patient: device.id, purpose: 'TREAT', ...body } } as TxPayload),
      );
      assert.ok(outcome.ok, JSON.stringify(outcome));
      return id;
    };
    // p1: the organization, everything. p2: c1 only, Observations only. p3: granted, then revoked.
    // p4: granted for three seconds (expires during setup). p5: nothing.
    await grant('p1', { grantee: server.org.id });
    await grant('p2', { grantee: 'prac_c1', types: ['Observation'] });
    const revoked = await grant('p3', { grantee: server.org.id });
    assert.ok((await server.submit(devices.get('p3')!.sign({ type: 'consent.revoke', body: { id: revoked } }))).ok);
    await grant('p4', { grantee: server.org.id, until: Date.now() + 3000 });
    await new Promise((r) => setTimeout(r, 3100));
  });
  after(async () => server.close());

  /** The model: may `requester` see `type` records of `patient` written by `author`? */
  function visible(requester: Requester, patient: Key, type: string, author: 'org' | 'c2'): boolean {
    switch (requester) {
      case 'patient1':
        return patient === 'p1';
      case 'system':
        return patient === 'p1' || author === 'org';
      case 'c1':
      case 'c1-obs-only':
        return patient === 'p1' || (patient === 'p2' && type === 'Observation');
      case 'c2':
        return patient === 'p1' || author === 'c2';
      case 'nurse':
      case 'analyst':
        return patient === 'p1';
    }
  }
  /** Scopes: c1-obs-only reads and searches Observations only; everyone else reads everything. */
  const scopeAllows = (requester: Requester, type: string): boolean => requester !== 'c1-obs-only' || type === 'Observation';

  const REQUESTERS: Requester[] = ['patient1', 'c1', 'c1-obs-only', 'c2', 'nurse', 'analyst', 'system'];
  let permits = 0;
  let denials = 0;
  const tally = (permitted: boolean): void => void (permitted ? permits++ : denials++);

  it('read and vread: permitted exactly where scope and ledger allow, else 403 (scope) or 404 (hidden, like missing)', async () => {
    for (const requester of REQUESTERS) {
      for (const key of PATIENTS) {
        const r = resources.get(key)!;
        const cases: [string, string, 'org' | 'c2'][] = [
          ['Patient', patientIds.get(key)!, 'org'],
          ['Observation', r.observations[0]!, 'org'],
          ['Condition', r.condition, 'org'],
          ...(r.c2Observation ? [['Observation', r.c2Observation, 'c2'] as [string, string, 'c2']] : []),
        ];
        for (const [type, id, author] of cases) {
          const scoped = scopeAllows(requester, type);
          const expected = !scoped ? 403 : visible(requester, key, type, author) ? 200 : 404;
          const got = await fhir(requester, 'GET', `${type}/${id}`);
          assert.equal(got.status, expected, `${requester} reads ${type} of ${key}`);
          const vread = await fhir(requester, 'GET', `${type}/${id}/_history/1`);
          assert.equal(vread.status, expected, `${requester} vreads ${type} of ${key}`);
          tally(expected === 200);
          tally(expected === 200);
        }
      }
    }
  });

  it('search: results and totals hold only visible records; a hidden patient looks empty', async () => {
    for (const requester of REQUESTERS) {
      for (const key of PATIENTS) {
        const id = patientIds.get(key)!;
        const r = resources.get(key)!;
        const expected = [
          ...r.observations.filter(() => visible(requester, key, 'Observation', 'org')),
          ...(r.c2Observation && visible(requester, key, 'Observation', 'c2') ? [r.c2Observation] : []),
        ].sort();
        // (A patient token's search is also confined to its own compartment: another patient's is empty.)
        const got = await fhir(requester, 'GET', `Observation?subject=Patient/${id}&_total=accurate`);
        assert.equal(got.status, 200, `${requester} searches ${key}`);
        const bundle = got.body as unknown as Bundle;
        assert.deepEqual((bundle.entry ?? []).map((e) => e.resource!.id!).sort(), expected, `${requester} search ${key}`);
        assert.equal(bundle.total, expected.length, `${requester} total for ${key}`);
        const count = await fhir(requester, 'GET', `Condition?subject=Patient/${id}&_summary=count`);
        const conditionVisible = scopeAllows(requester, 'Condition') && visible(requester, key, 'Condition', 'org');
        if (scopeAllows(requester, 'Condition')) {
          assert.equal(count.status, 200);
          assert.equal(
            (count.body as unknown as Bundle).total,
            conditionVisible ? 1 : 0,
            `${requester} Condition count for ${key}`,
          );
        } else assert.equal(count.status, 403);
        tally(expected.length > 0);
        tally(conditionVisible);
      }
    }
  });

  it('includes never carry a record the consent does not cover', async () => {
    // c1 sees p2's Observations (consent for that type only), not p2's Patient resource.
    const id = patientIds.get('p2')!;
    const got = await fhir('c1', 'GET', `Observation?subject=Patient/${id}&_include=Observation:subject`);
    const bundle = got.body as unknown as Bundle;
    assert.deepEqual(
      (bundle.entry ?? []).map((e) => [e.resource!.resourceType, e.search?.mode]),
      [
        ['Observation', 'match'],
        ['Observation', 'match'],
      ],
    );
    assert.equal((await fhir('c1', 'GET', `Patient/${id}`)).status, 404);
    // For p1 (consent to the organization, all types) the Patient comes along.
    const p1 = (await fhir('c1', 'GET', `Observation?subject=Patient/${patientIds.get('p1')}&_include=Observation:subject`))
      .body as unknown as Bundle;
    assert.ok((p1.entry ?? []).some((e) => e.resource!.resourceType === 'Patient' && e.search?.mode === 'include'));
    tally(false);
    tally(true);
  });

  it('$everything and instance history follow the same decision', async () => {
    for (const requester of ['c1', 'c2', 'nurse', 'analyst', 'system'] as const) {
      for (const key of PATIENTS) {
        const id = patientIds.get(key)!;
        const patientVisible = visible(requester, key, 'Patient', 'org');
        const everything = await fhir(requester, 'GET', `Patient/${id}/$everything`);
        assert.equal(everything.status, patientVisible ? 200 : 404, `${requester} $everything ${key}`);
        if (patientVisible) {
          const types = ((everything.body as unknown as Bundle).entry ?? []).map((e) => e.resource!.resourceType);
          const r = resources.get(key)!;
          const expectedCount =
            1 + r.observations.length + 1 + (r.c2Observation && visible(requester, key, 'Observation', 'c2') ? 1 : 0);
          assert.equal(types.length, expectedCount, `${requester} $everything size ${key}`);
        }
        const history = await fhir(requester, 'GET', `Condition/${resources.get(key)!.condition}/_history`);
        assert.equal(history.status, visible(requester, key, 'Condition', 'org') ? 200 : 404);
        tally(patientVisible);
        tally(visible(requester, key, 'Condition', 'org'));
      }
    }
  });

  it('type-level history and system history list only visible versions', async () => {
    const all = (await fhir('c1', 'GET', 'Observation/_history?_count=100')).body as unknown as Bundle;
    const ids = new Set((all.entry ?? []).map((e) => e.resource?.id ?? e.request?.url?.split('/')[1]));
    for (const key of PATIENTS) {
      for (const obs of resources.get(key)!.observations)
        assert.equal(ids.has(obs), visible('c1', key, 'Observation', 'org'), `${key} ${obs}`);
    }
    assert.equal(all.total, (all.entry ?? []).length);
    tally(true);
    tally(false);
  });

  it('a hidden resource cannot be updated, patched or deleted — answered like a missing one', async () => {
    const hidden = resources.get('p5')!.observations[0]!;
    const put = await fhir('c1', 'PUT', `Observation/${hidden}`, {
      ...observation(patientIds.get('p1')!, 'overwrite'),
      id: hidden,
    });
    const absent = await fhir('c1', 'PUT', 'Observation/no-such-observation', {
      ...observation(patientIds.get('p1')!, 'overwrite'),
      id: 'no-such-observation',
    });
    // c1 may not create with ids of its choosing (it does not see every Observation here): one refusal for both.
    assert.equal(put.status, 405);
    assert.equal(absent.status, 405);
    assert.equal(
      JSON.stringify(put.body).replaceAll(hidden, 'ID'),
      JSON.stringify(absent.body).replaceAll('no-such-observation', 'ID'),
    );
    assert.equal((await fhir('c1', 'DELETE', `Observation/${hidden}`)).status, 404);
    assert.equal((await fhir('system', 'GET', `Observation/${hidden}`)).status, 200, 'unchanged');
    tally(false);
    tally(false);
  });

  it('the matrix has at least as many denials as permits', (t) => {
    assert.ok(denials >= permits, `${denials} denials, ${permits} permits`);
    assert.ok(permits > 20, `${permits} permits`);
    t.diagnostic(`authorization matrix: ${permits} permits, ${denials} denials`);
  });

  it('break-glass opens a patient for a limited time; the patient sees it live, in the access log, and the officer reviews it', async () => {
    const p5 = patientIds.get('p5')!;
    const pseudonym = devices.get('p5')!.id;
    assert.equal((await fhir('nurse', 'GET', `Patient/${p5}`)).status, 404);
    // The patient watches their event stream, signed in.
    await server.auth!.store.addAccount({
      id: pseudonym,
      kind: 'patient',
      username: 'matrix-p5',
      password: 'matrix-p5-password',
      patient: p5,
      display: 'p5',
    });
    tokens.set(
      'patient1',
      await server.auth!.mint({ origin: server.url, subject: pseudonym, clientId: 'matrix', scope: 'patient/*.rs', patient: p5 }),
    );
    const stream = await fetch(`${server.url}/api/v1/subjects/${pseudonym}/events`, {
      headers: { authorization: `Bearer ${tokens.get('patient1')}` },
    });
    assert.equal(stream.status, 200);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    const refused = await fhir('nurse', 'POST', `Patient/${p5}/$break-glass`, {
      resourceType: 'Parameters',
      parameter: [
        { name: 'reason', valueCode: 'emergency-treatment' },
        { name: 'justification', valueString: 'short' },
      ],
    });
    assert.equal(refused.status, 422, 'a justification is mandatory');
    assert.equal(
      (
        await fhir('analyst', 'POST', `Patient/${p5}/$break-glass`, {
          resourceType: 'Parameters',
          parameter: [
            { name: 'reason', valueCode: 'emergency-treatment' },
            { name: 'justification', valueString: 'analysts cannot open emergency access' },
          ],
        })
      ).status,
      403,
    );
    const opened = await fhir('nurse', 'POST', `Patient/${p5}/$break-glass`, {
      resourceType: 'Parameters',
      parameter: [
        { name: 'reason', valueCode: 'patient-unable-to-consent' },
        { name: 'justification', valueString: 'unresponsive in the emergency room, medication history needed' },
        { name: 'minutes', valueInteger: 30 },
      ],
    });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    const opening = ((opened.body as unknown as Parameters).parameter ?? []).find((p) => p.name === 'opening')!.valueString!;
    let seen = '';
    while (!seen.includes('access.break_glass')) seen += (await reader.read()).value ?? '';
    assert.equal((await fhir('nurse', 'GET', `Patient/${p5}`)).status, 200);
    assert.equal((await fhir('nurse', 'GET', `Patient/${p5}/$everything`)).status, 200);
    while (!seen.includes('"basis":"break-glass"')) seen += (await reader.read()).value ?? '';
    await reader.cancel();
    // The patient's access log as FHIR AuditEvents names the nurse, the emergency and the purpose.
    const log = (await fhir('patient1', 'GET', 'AuditEvent')).body as unknown as Bundle;
    const emergency = (log.entry ?? []).filter((e) =>
      (e.resource as { agent?: { policy?: string[] }[] }).agent?.[0]?.policy?.[0]?.endsWith(opening),
    );
    assert.ok(emergency.length >= 2, 'the read and $everything under the emergency');
    assert.ok(
      emergency.every(
        (e) =>
          (e.resource as { purposeOfEvent?: { coding?: { code?: string }[] }[] }).purposeOfEvent?.[0]?.coding?.[0]?.code ===
          'ETREAT',
      ),
    );
    // Refusals are on it too (the nurse's first attempt).
    assert.ok((log.entry ?? []).some((e) => (e.resource as { outcome?: string }).outcome === '4'));
    // The opening waits for the privacy officer.
    const unreviewed = (await (
      await fetch(`${server.url}/api/v1/organizations/${server.org.id}/break-glass/unreviewed`, { headers: staff() })
    ).json()) as {
      openings: { id: string }[];
    };
    assert.ok(unreviewed.openings.some((o) => o.id === opening));
    await practitioner('prac_officer', ['privacy-officer'], 'officer');
    await mint('analyst', 'prac_officer', 'user/*.rs');
    const reviewed = await fhir('analyst', 'POST', '$break-glass-review', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'opening', valueString: opening },
        { name: 'outcome', valueCode: 'justified' },
        { name: 'notes', valueString: 'confirmed with the attending physician' },
      ],
    });
    assert.equal(reviewed.status, 200, JSON.stringify(reviewed.body));
    const after = (await (
      await fetch(`${server.url}/api/v1/organizations/${server.org.id}/break-glass/unreviewed`, { headers: staff() })
    ).json()) as {
      openings: { id: string }[];
    };
    assert.ok(!after.openings.some((o) => o.id === opening));
  });

  it('over time: grant → the clinician reads; revoke → hidden; a grant that expires → hidden once it has', async () => {
    const key: Key = 'p4';
    const device = devices.get(key)!;
    const obs = resources.get(key)!.observations[1]!;
    const read = async (): Promise<number> => (await fhir('c1', 'GET', `Observation/${obs}`)).status;
    assert.equal(await read(), 404);
    const granted = consentId();
    assert.ok(
      (
        await server.submit(
          device.sign({ type: 'consent.grant', body: { id: granted, patient: device.id, grantee: 'prac_c1', purpose: 'TREAT' } }),
        )
      ).ok,
    );
    assert.equal(await read(), 200);
    assert.ok((await server.submit(device.sign({ type: 'consent.revoke', body: { id: granted } }))).ok);
    assert.equal(await read(), 404);
    const brief = consentId();
    const until = Date.now() + 1500;
    assert.ok(
      (
        await server.submit(
          device.sign({
            type: 'consent.grant',
            body: { id: brief, patient: device.id, grantee: 'prac_c1', purpose: 'TREAT', until },
          }),
        )
      ).ok,
    );
    assert.equal(await read(), 200);
    await new Promise((r) => setTimeout(r, until - Date.now() + 50));
    assert.equal(await read(), 404, 'expired without any new block');
  });

  it('patients read their consents as FHIR Consent; clients cannot write them', async () => {
    const consents = (await fhir('patient1', 'GET', 'Consent')).body as unknown as Bundle;
    assert.deepEqual(consents.entry ?? [], [], 'p5 granted nothing');
    await mint('patient1', devices.get('p1')!.id, 'patient/*.rs', patientIds.get('p1')!);
    const p1 = (await fhir('patient1', 'GET', 'Consent')).body as unknown as Bundle;
    assert.equal(p1.entry?.length, 1);
    assert.equal((p1.entry![0]!.resource as { status?: string }).status, 'active');
    assert.equal((await fhir('c1', 'POST', 'Consent', { resourceType: 'Consent' })).status, 405);
  });
});
