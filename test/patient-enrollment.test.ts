/**
 * POST /api/v1/enrollments: a signed-in patient not yet on the ledger enrolls the key made on
 * their device (the web app's key setup). Only with a patient token, only for their own
 * pseudonym, only with a fresh signature by the key being enrolled, and only once; every refusal
 * changes nothing on the ledger.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signEnrollment, type EnrollmentRequest } from '../src/client/enrollment.js';
import { randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair, NobleSigner } from '../src/client/keys.js';
import { startTestServer, type TestServer } from './support/fixtures.js';

describe('patient self-enrollment', () => {
  let server: TestServer;
  const patient = randomPseudonym('pat');
  let patientToken: string;
  let clinicianToken: string;

  const enroll = (body: EnrollmentRequest | Record<string, unknown>, token?: string): Promise<Response> =>
    fetch(`${server.url}/api/v1/enrollments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token !== undefined && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });

  before(async () => {
    server = await startTestServer({ fhir: true });
    await server.auth!.store.addAccount({
      id: patient,
      kind: 'patient',
      username: 'enrolling-patient',
      password: 'enrolling-patient-pw',
      patient: 'enrolling-patient-1',
      display: 'p',
    });
    patientToken = await server.auth!.mint({
      origin: server.url,
      subject: patient,
      clientId: 'medledger-web',
      scope: 'patient/*.rs',
      patient: 'enrolling-patient-1',
    });
    clinicianToken = server.token!;
  });
  after(async () => server.close());

  it('enrolls the device key of the signed-in patient once, and refuses everything else', async () => {
    const chain = server.node.chain.chainId;
    const device = new NobleSigner(generateKeyPair());
    const request = signEnrollment(device, chain, patient);

    const anonymous = await enroll(request);
    assert.equal(anonymous.status, 401, 'no token');
    assert.equal(((await anonymous.json()) as { code: string }).code, 'auth.required');
    assert.equal((await enroll(request, clinicianToken)).status, 403, 'not a patient token');
    const stale = signEnrollment(device, chain, patient, Date.now() - 60 * 60_000);
    assert.equal((await enroll(stale, patientToken)).status, 400, 'an old signature');
    const otherKey = { ...request, publicKey: signEnrollment(new NobleSigner(generateKeyPair()), chain, patient).publicKey };
    assert.equal((await enroll(otherKey, patientToken)).status, 403, 'not signed by the key to enroll');
    const otherChain = signEnrollment(device, 'another-chain', patient);
    assert.equal((await enroll(otherChain, patientToken)).status, 403, 'signed for another chain');
    assert.equal((await enroll({ publicKey: 'x' }, patientToken)).status, 400, 'malformed');
    assert.equal(server.node.chain.app.participant(patient), undefined, 'refusals change nothing');

    const ok = await enroll(request, patientToken);
    assert.equal(ok.status, 201, await ok.clone().text());
    assert.equal(((await ok.json()) as { patient: string }).patient, patient);
    const enrolled = server.node.chain.app.participant(patient);
    assert.deepEqual([enrolled?.kind, enrolled?.status], ['patient', 'active']);
    assert.deepEqual(enrolled?.key, device.publicKey);

    const again = signEnrollment(new NobleSigner(generateKeyPair()), chain, patient);
    const conflict = await enroll(again, patientToken);
    assert.equal(conflict.status, 409, 'a key is never replaced this way');
    assert.deepEqual(server.node.chain.app.participant(patient)?.key, device.publicKey);
  });
});
