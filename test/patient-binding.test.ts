/**
 * A patient pseudonym that records name before the patient enrolls is bound to the custodian of the
 * first of those records (state/patient-custodians.ts): only that organization, or its registrars and
 * admins, may enroll it. Without the binding, another organization could enroll the pseudonym with
 * a key it holds and then consent, request erasure and block the real enrollment in the patient's
 * name. First on the in-memory ledger, then end to end against a real node's HTTP API.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { randomPseudonym, type Identity } from '../src/client/identity.js';
import { signEnrollment } from '../src/client/enrollment.js';
import { generateKeyPair as sdkKeyPair, NobleSigner } from '../src/client/keys.js';
import { utf8 } from '../src/crypto/bytes.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import { sha256 } from '../src/crypto/hash.js';
import {
  buildWorld,
  commitAll,
  describeResult,
  freshKey,
  identity,
  payload,
  pseudonym,
  submit,
  type MemoryLedger,
  type World,
} from './support/memory-ledger.js';
import { FOUNDER, registerPractitioner, startTestServer, type TestServer } from './support/fixtures.js';
import { call } from './support/fhir-api.js';
import type { TxPayload } from '../src/ledger/tx.js';

/** A deterministic record id. */
const recordId = (label: string): string => randomPseudonym('rec', sha256(utf8(`patient-binding:rec:${label}`)));

/** Signs at the ledger's next sequence number, so a refused transaction leaves no gap behind it. */
const signed = (ledger: MemoryLedger, signer: Identity, p: TxPayload) => signer.signAt(p, ledger.app.nextSeq(signer.id));

/** Org B with a registrar of its own, next to the standard world. */
function worldWithRegistrarB(): World & { registrarB: Identity } {
  const w = buildWorld();
  const registrarB = identity('prac_registrar-b');
  commitAll(w.ledger, [
    signed(w.ledger, w.orgB, payload.practitioner(registrarB.id, registrarB.publicKey, w.orgB.id, ['registrar'])),
  ]);
  return { ...w, registrarB };
}

/** orgA (authored by clinicianA) commits a record about `patient`. */
function recordAtA(w: World, patient: string, label = patient): void {
  commitAll(w.ledger, [signed(w.ledger, w.orgA, payload.recordCommit(w.clinicianA.id, w.orgA.id, patient, [recordId(label)]))]);
}

/** Submits a patient enrollment by `signer` and asserts it is refused as unauthorized, changing nothing. */
function assertEnrollRefused(ledger: MemoryLedger, signer: Identity, patient: string): void {
  const key = freshKey();
  const seqBefore = ledger.app.nextSeq(signer.id);
  const outcome = ledger.block([signed(ledger, signer, payload.patient(patient, key))]);
  const result = outcome.results[0]!;
  assert.equal(result.ok, false, `${signer.id} must not enroll ${patient}`);
  assert.equal(result.ok ? 'ok' : result.error.code, 'tx.unauthorized', describeResult(result));
  assert.match(result.ok ? '' : result.error.message, /only org_test-hospital or its registrars and admins enroll it/);
  assert.deepEqual(outcome.changes, [], 'a refused enrollment writes nothing');
  assert.equal(ledger.participant(patient), undefined);
  assert.equal(ledger.app.participantIdForKey(key), undefined, 'the key is not claimed');
  assert.equal(ledger.app.nextSeq(signer.id), seqBefore, 'the sequence number is not consumed');
}

describe('patient pseudonym binding on the ledger', () => {
  test('the first custodian’s record binds an unenrolled pseudonym to it', () => {
    const w = buildWorld();
    const victim = pseudonym('pat', 'bind:first');
    assert.equal(w.ledger.app.patientCustodian(victim), undefined);
    const r = recordId('bind:first');
    const outcome = commitAll(w.ledger, [
      signed(w.ledger, w.orgA, payload.recordCommit(w.clinicianA.id, w.orgA.id, victim, [r])),
    ]);
    assert.deepEqual(w.ledger.app.patientCustodian(victim), { custodian: w.orgA.id, height: w.ledger.height });
    assert.ok(
      outcome.changes.some((c) => c.key === `patient-custodian/${victim}`),
      'the binding is a state change, so every node holds it',
    );
    assert.equal(w.ledger.participant(victim), undefined, 'binding does not enroll');
  });

  test('another organization, and its registrar, cannot enroll a pseudonym bound to the first custodian', () => {
    const w = worldWithRegistrarB();
    const victim = pseudonym('pat', 'bind:hijack');
    recordAtA(w, victim);
    assertEnrollRefused(w.ledger, w.orgB, victim);
    assertEnrollRefused(w.ledger, w.registrarB, victim);
    // Nor can the rogue "patient" act afterwards: there is no such participant to sign consents or erasure.
    const fake = identity(victim, 'bind:hijack-key');
    assert.equal(submit(w.ledger, fake.signAt(payload.grant(randomPseudonym('cns'), victim, w.orgB.id), 0)), 'tx.unknown_signer');
    assert.equal(w.ledger.app.consentsFor(victim, w.orgB.id).length, 0);
  });

  test('the binding custodian, its registrar and its admin can enroll; a clinician still cannot', () => {
    const w = buildWorld();
    const [byOrg, byRegistrar, byAdmin, byClinician] = ['org', 'registrar', 'admin', 'clinician'].map((l) =>
      pseudonym('pat', `bind:own-${l}`),
    ) as [string, string, string, string];
    for (const p of [byOrg, byRegistrar, byAdmin, byClinician]) recordAtA(w, p);
    const L = w.ledger;
    assert.equal(submit(L, signed(L, w.orgA, payload.patient(byOrg, freshKey()))), 'ok');
    assert.equal(submit(L, signed(L, w.registrarA, payload.patient(byRegistrar, freshKey()))), 'ok');
    assert.equal(submit(L, signed(L, w.adminA, payload.patient(byAdmin, freshKey()))), 'ok');
    assert.equal(submit(L, signed(L, w.clinicianA, payload.patient(byClinician, freshKey()))), 'tx.unauthorized');
    assert.equal(L.participant(byRegistrar)?.registeredBy, w.registrarA.id);
    assert.equal(L.participant(byClinician), undefined);
  });

  test('a pseudonym no record has named stays enrollable by any organization or registrar', () => {
    const w = worldWithRegistrarB();
    const L = w.ledger;
    const [a, b] = [pseudonym('pat', 'bind:unseen-a'), pseudonym('pat', 'bind:unseen-b')];
    assert.equal(submit(L, signed(L, w.orgB, payload.patient(a, freshKey()))), 'ok');
    assert.equal(submit(L, signed(L, w.registrarB, payload.patient(b, freshKey()))), 'ok');
    assert.equal(L.app.patientCustodian(a), undefined);
    assert.equal(L.app.patientCustodian(b), undefined);
  });

  test('a second custodian’s later record does not move the binding', () => {
    const w = worldWithRegistrarB();
    const L = w.ledger;
    const victim = pseudonym('pat', 'bind:second');
    recordAtA(w, victim);
    const bound = L.app.patientCustodian(victim);
    assert.equal(bound?.custodian, w.orgA.id);
    commitAll(L, [signed(L, w.orgB, payload.recordCommit(w.clinicianB.id, w.orgB.id, victim, [recordId('bind:second-at-b')]))]);
    assert.deepEqual(L.app.patientCustodian(victim), bound, 'first sight only');
    assertEnrollRefused(L, w.orgB, victim);
    assertEnrollRefused(L, w.registrarB, victim);
    assert.equal(submit(L, signed(L, w.registrarA, payload.patient(victim, freshKey()))), 'ok');
  });

  test('a refused record commitment binds nothing', () => {
    const w = worldWithRegistrarB();
    const L = w.ledger;
    const victim = pseudonym('pat', 'bind:refused');
    const tx = signed(L, w.orgA, {
      type: 'record.commit',
      body: {
        author: w.clinicianA.id,
        custodian: w.orgA.id,
        entries: [
          { record: recordId('bind:refused-1'), version: 1, patient: victim, op: 'write', commitment: new Uint8Array(32) },
          { record: recordId('bind:refused-2'), version: 2, patient: victim, op: 'write', commitment: new Uint8Array(32) },
        ],
      },
    });
    assert.equal(submit(L, tx), 'state.conflict');
    assert.equal(L.app.patientCustodian(victim), undefined);
    assert.equal(submit(L, signed(L, w.orgB, payload.patient(victim, freshKey()))), 'ok', 'still unseen, so enrollable');
  });

  test('a pseudonym enrolled before any record is unaffected by later records', () => {
    const w = buildWorld();
    const L = w.ledger;
    const early = pseudonym('pat', 'bind:early');
    assert.equal(submit(L, signed(L, w.orgB, payload.patient(early, freshKey()))), 'ok');
    const before = L.participant(early);
    const outcome = commitAll(L, [
      signed(L, w.orgA, payload.recordCommit(w.clinicianA.id, w.orgA.id, early, [recordId('bind:early')])),
    ]);
    assert.equal(L.app.patientCustodian(early), undefined);
    assert.ok(!outcome.changes.some((c) => c.key.startsWith('patient-custodian/')), 'no binding written for an enrolled patient');
    assert.deepEqual(L.participant(early), before);
    // The world's enrolled patients too.
    recordAtA(w, w.patient.id, 'bind:enrolled-world-patient');
    assert.equal(L.app.patientCustodian(w.patient.id), undefined);
  });
});

describe('patient pseudonym binding over HTTP (a second organization tries to enroll the first custodian’s patient)', () => {
  let server: TestServer;
  let patientId: string;
  let observationId: string;
  let victim: string;
  const rogueKeys = generateKeyPair();
  let rogue: Identity;
  let rogueRegistrar: Identity;

  /** POSTs signed transaction wire bytes to the node's ledger API. */
  const postTx = async (wire: Uint8Array): Promise<{ status: number; code?: string; message?: string }> => {
    const res = await fetch(`${server.url}/api/v1/txs`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: wire,
    });
    return { status: res.status, ...((await res.json()) as { code?: string; message?: string }) };
  };

  before(async () => {
    server = await startTestServer({ fhir: true });
    const fhir = `${server.url}/fhir`;
    const patient = await call<Resource>(fhir, 'POST', '/Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Bound' }] },
    });
    assert.equal(patient.status, 201, patient.text);
    patientId = patient.body.id!;
    const obs = await call<Observation>(fhir, 'POST', '/Observation', {
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'pulse' },
        subject: { reference: `Patient/${patientId}` },
      },
    });
    assert.equal(obs.status, 201, obs.text);
    observationId = obs.body.id!;
    victim = server.fhir!.vault.patientPseudonym(patientId)!;
    rogue = await server.admitOrganization('org_rogue-clinic', rogueKeys, 'Rogue Clinic');
    const reg = registerPractitioner(rogue, 'prac_rogue-registrar', ['registrar']);
    await server.commit(reg.tx);
    rogueRegistrar = reg.practitioner;
  });
  after(async () => server?.close());

  it('refuses the second organization and its registrar; the records stay readable and the patient enrolls', async () => {
    const app = server.node.chain.app;
    assert.equal(app.participant(victim), undefined, 'the vault’s records name the patient before enrollment');
    assert.equal(app.patientCustodian(victim)?.custodian, FOUNDER);

    for (const signer of [rogue, rogueRegistrar]) {
      const tx = signer.signAt(
        { type: 'participant.register', body: { kind: 'patient', id: victim, key: generateKeyPair().publicKey } },
        app.nextSeq(signer.id),
      );
      const refused = await postTx(tx.wire);
      assert.equal(refused.status, 403, JSON.stringify(refused));
      assert.equal(refused.code, 'tx.unauthorized');
      assert.match(refused.message ?? '', new RegExp(`only ${FOUNDER} or its registrars and admins enroll it`));
      assert.equal(app.participant(victim), undefined, `${signer.id} enrolled nobody`);
    }

    const read = await call<Observation>(`${server.url}/fhir`, 'GET', `/Observation/${observationId}`);
    assert.equal(read.status, 200, read.text);
    assert.equal(read.body.subject?.reference, `Patient/${patientId}`);

    // The real patient, signed in at their custodian, still enrolls their own key.
    await server.auth.store.addAccount({
      id: victim,
      kind: 'patient',
      username: 'bound-patient',
      password: 'bound-patient-pw',
      patient: patientId,
      display: 'p',
    });
    const patientToken = await server.auth.mint({
      origin: server.url,
      subject: victim,
      clientId: 'medledger-web',
      scope: 'patient/*.rs',
      patient: patientId,
    });
    const device = new NobleSigner(sdkKeyPair());
    const enrolled = await fetch(`${server.url}/api/v1/enrollments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${patientToken}` },
      body: JSON.stringify(signEnrollment(device, server.node.chain.chainId, victim)),
    });
    assert.equal(enrolled.status, 201, await enrolled.clone().text());
    assert.deepEqual(app.participant(victim)?.key, device.publicKey);
    assert.equal(app.participant(victim)?.registeredBy, FOUNDER);

    const again = await call<Observation>(`${server.url}/fhir`, 'GET', `/Observation/${observationId}`);
    assert.equal(again.status, 200, again.text);
  });
});
