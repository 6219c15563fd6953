/**
 * A Binary belongs to the patient its securityContext names — the Patient, or a resource about
 * them such as the DocumentReference — set in the resource or, for a raw upload, in the
 * X-Security-Context header. Its vault version and ledger commitment then carry the patient's
 * pseudonym, so consent governs its reads (raw and JSON), $everything and record exchange include
 * it, and the patient's records cannot attach a Binary of nobody or of someone else.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Binary, Bundle, Resource } from '@medplum/fhirtypes';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { ExchangeClient } from '../src/exchange/requester.js';
import { FOUNDER, registerPractitioner, startTestServer, type TestServer } from './support/fixtures.js';
import { assertOutcome, authFetch, call, entriesOf } from './support/fhir-api.js';

const ORG_B = 'org_binary-clinic';
const PRAC_B = 'prac_binary-b';
const READER = 'prac_binary-reader';

describe('Binary security context', { timeout: 120_000 }, () => {
  let t: TestServer;
  let fhir: string;
  let patientId: string;
  let otherId: string;
  let pseudonym: string;
  let patientKey: Identity;
  let readerToken: string;
  const orgBKeys = generateKeyPair();

  const contentFiles = () => (existsSync(join(t.dir, 'content')) ? readdirSync(join(t.dir, 'content')) : []);
  const historyTotal = async () => ((await (await authFetch(`${fhir}/_history?_count=0`)).json()) as { total: number }).total;
  const upload = (body: Uint8Array | string, context?: string, path = '/Binary', method = 'POST') =>
    authFetch(fhir + path, {
      method,
      headers: { 'content-type': 'application/pdf', ...(context !== undefined && { 'x-security-context': context }) },
      body,
    });
  const created = async (response: Response): Promise<string> => {
    const text = await response.text();
    assert.equal(response.status, 201, text);
    return (JSON.parse(text) as { id: string }).id;
  };
  const post = async (resource: Resource): Promise<string> => {
    const reply = await call(fhir, 'POST', `/${resource.resourceType}`, { body: resource });
    assert.equal(reply.status, 201, reply.text);
    return reply.body.id!;
  };
  /** The patient pseudonym on the Binary's vault row and on its ledger record (they must agree). */
  const patientOf = (id: string): string | undefined => {
    const facts = t.fhir!.recordOf('Binary', id)!;
    assert.equal(t.node.chain.app.recordHead(facts.record)?.patient, facts.patient, 'vault and ledger agree');
    return facts.patient;
  };
  const documentFor = (subject: string, binary?: string): Resource => ({
    resourceType: 'DocumentReference',
    status: 'current',
    subject: { reference: `Patient/${subject}` },
    content: [{ attachment: { contentType: 'application/pdf', ...(binary !== undefined && { url: `Binary/${binary}` }) } }],
  });

  before(async () => {
    t = await startTestServer({ fhir: true, exchange: { peers: new Map() } });
    fhir = `${t.url}/fhir`;
    patientId = await post({ resourceType: 'Patient', name: [{ family: 'Owner' }] });
    otherId = await post({ resourceType: 'Patient', name: [{ family: 'Someone Else' }] });
    pseudonym = t.fhir!.vault.patientPseudonym(patientId)!;
    patientKey = await t.enrollPatient(pseudonym);
    // A clinician of this organization who authored nothing: consent alone decides what they see.
    await t.addPractitioner(READER);
    await t.auth!.store.addAccount({ id: READER, kind: 'practitioner', username: 'reader', password: 'reader-pw', display: 'R' });
    readerToken = await t.auth!.mint({ origin: t.url, subject: READER, clientId: 'app', scope: 'user/*.rs' });
  });
  after(() => t?.close());

  it('a raw upload with X-Security-Context and a JSON Binary with securityContext belong to the patient', async () => {
    const raw = await created(await upload('%PDF letter', `Patient/${patientId}`));
    assert.equal(patientOf(raw), pseudonym);
    const download = await authFetch(`${fhir}/Binary/${raw}`, { headers: { accept: 'application/pdf' } });
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('x-security-context'), `Patient/${patientId}`);
    const asJson = await call<Binary>(fhir, 'GET', `/Binary/${raw}`);
    assert.equal(asJson.body.securityContext?.reference, `Patient/${patientId}`);

    const json = await post({
      resourceType: 'Binary',
      contentType: 'text/plain',
      securityContext: { reference: `Patient/${patientId}` },
      data: Buffer.from('a note').toString('base64'),
    } as Binary);
    assert.equal(patientOf(json), pseudonym);
  });

  it('a securityContext naming the patient’s DocumentReference makes the Binary the patient’s', async () => {
    const doc = await post(documentFor(patientId));
    const raw = await created(await upload('%PDF scan', `DocumentReference/${doc}`));
    assert.equal(patientOf(raw), pseudonym);
    const json = await post({
      resourceType: 'Binary',
      contentType: 'text/plain',
      securityContext: { reference: `DocumentReference/${doc}/_history/1` },
      data: Buffer.from('x').toString('base64'),
    } as Binary);
    assert.equal(patientOf(json), pseudonym);
    // Without a security context, or naming organization-level data, a Binary stays the organization's.
    assert.equal(patientOf(await created(await upload('%PDF form'))), undefined);
    const org = await post({ resourceType: 'Organization', name: 'Lab' } as Resource);
    assert.equal(patientOf(await created(await upload('%PDF leaflet', `Organization/${org}`))), undefined);
  });

  it('a security context naming nothing here is refused with an OperationOutcome, storing nothing', async () => {
    const files = contentFiles();
    const total = await historyTotal();
    for (const context of ['Patient/does-not-exist', 'DocumentReference/nope', 'not a reference']) {
      const response = await upload(randomBytes(50_000), context);
      const text = await response.text();
      assertOutcome({ status: response.status, headers: response.headers, text, body: JSON.parse(text) }, 422);
    }
    const json = await call(fhir, 'POST', '/Binary', {
      body: { resourceType: 'Binary', contentType: 'text/plain', securityContext: { reference: 'Patient/does-not-exist' } },
    });
    assertOutcome(json, 422);
    assert.deepEqual(contentFiles(), files);
    assert.equal(await historyTotal(), total);
  });

  it('a Binary keeps its patient: another patient is refused, an update without a context keeps it', async () => {
    const id = await created(await upload('%PDF v1', `Patient/${patientId}`));
    const files = contentFiles();
    const moved = await upload('%PDF v2', `Patient/${otherId}`, `/Binary/${id}`, 'PUT');
    assert.equal(moved.status, 422, await moved.text());
    assert.deepEqual(contentFiles(), files, 'the uploaded file is removed again');
    const movedJson = await call(fhir, 'PUT', `/Binary/${id}`, {
      body: { resourceType: 'Binary', id, contentType: 'text/plain', securityContext: { reference: `Patient/${otherId}` } },
    });
    assertOutcome(movedJson, 422);

    const replaced = await upload('%PDF v2', undefined, `/Binary/${id}`, 'PUT');
    assert.equal(replaced.status, 200, await replaced.text());
    const current = await call<Binary>(fhir, 'GET', `/Binary/${id}`);
    assert.equal(current.body.meta?.versionId, '2');
    assert.equal(current.body.securityContext?.reference, `Patient/${patientId}`);
    assert.equal(patientOf(id), pseudonym);
  });

  it('a patient’s record may attach only that patient’s Binaries', async () => {
    const orphan = await created(await upload('%PDF no context'));
    const refused = await call(fhir, 'POST', '/DocumentReference', { body: documentFor(patientId, orphan) });
    const outcome = assertOutcome(refused, 422);
    assert.match(outcome.issue[0]!.diagnostics!, /belongs to no patient/);
    assert.deepEqual(outcome.issue[0]!.expression, ['DocumentReference.content[0].attachment.url']);

    const theirs = await created(await upload('%PDF theirs', `Patient/${patientId}`));
    assertOutcome(await call(fhir, 'POST', '/DocumentReference', { body: documentFor(otherId, theirs) }), 422);
    await post(documentFor(patientId, theirs));
  });

  it('a transaction Bundle resolves a securityContext to a resource of the same Bundle', async () => {
    const patientUrn = `urn:uuid:${randomUUID()}`;
    const docUrn = `urn:uuid:${randomUUID()}`;
    const binaryId = `bundle-${randomBytes(4).toString('hex')}`;
    const bundle = await call<Bundle>(fhir, 'POST', '/', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: patientUrn, resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: {
              resourceType: 'Binary',
              id: binaryId,
              contentType: 'text/plain',
              securityContext: { reference: docUrn },
              data: Buffer.from('in a bundle').toString('base64'),
            },
            request: { method: 'PUT', url: `Binary/${binaryId}` },
          },
          {
            fullUrl: docUrn,
            resource: {
              resourceType: 'DocumentReference',
              status: 'current',
              subject: { reference: patientUrn },
              content: [{ attachment: { contentType: 'text/plain', url: `Binary/${binaryId}` } }],
            },
            request: { method: 'POST', url: 'DocumentReference' },
          },
        ],
      },
    });
    assert.equal(bundle.status, 200, bundle.text);
    const newPatient = /Patient\/([^/]+)/.exec(bundle.body.entry![0]!.response!.location!)![1]!;
    assert.equal(patientOf(binaryId), t.fhir!.vault.patientPseudonym(newPatient));
    assert.notEqual(patientOf(binaryId), undefined);
  });

  it('$everything for the patient includes their Binaries', async () => {
    const id = await created(await upload('%PDF everything', `Patient/${patientId}`));
    const bundle = await call<Bundle>(fhir, 'GET', `/Patient/${patientId}/$everything`);
    assert.equal(bundle.status, 200);
    const binary = entriesOf<Binary>(bundle.body).find((r) => r.id === id);
    assert.equal(Buffer.from(binary!.data!, 'base64').toString(), '%PDF everything');
    const others = await call<Bundle>(fhir, 'GET', `/Patient/${otherId}/$everything`);
    assert.equal(
      entriesOf(others.body).some((r) => r.id === id),
      false,
    );
  });

  it('consent decides who reads the Binary, raw and as JSON', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF consent '), randomBytes(1000)]);
    const id = await created(await upload(pdf, `Patient/${patientId}`));
    const read = (accept: string) =>
      fetch(`${fhir}/Binary/${id}`, { headers: { accept, authorization: `Bearer ${readerToken}` } });
    assert.equal((await read('application/pdf')).status, 404, 'no consent: answered like a missing Binary');
    assert.equal((await read('application/fhir+json')).status, 404);
    const consent = randomPseudonym('cns');
    await t.commit(
      patientKey.sign({ type: 'consent.grant', body: { id: consent, patient: pseudonym, grantee: READER, purpose: 'TREAT' } }),
    );
    const raw = await read('application/pdf');
    assert.equal(raw.status, 200);
    assert.ok(Buffer.from(await raw.arrayBuffer()).equals(pdf));
    const json = (await (await read('application/fhir+json')).json()) as Binary;
    assert.ok(Buffer.from(json.data!, 'base64').equals(pdf));
    await t.commit(patientKey.sign({ type: 'consent.revoke', body: { id: consent } }));
    assert.equal((await read('application/pdf')).status, 404, 'revoked');
  });

  it('a patient token reads the patient’s own Binaries, raw and as JSON, and no one else’s', async () => {
    const mine = Buffer.from('%PDF my discharge letter');
    const own = await created(await upload(mine, `Patient/${patientId}`));
    const theirs = await created(await upload('%PDF not yours', `Patient/${otherId}`));
    await t.auth!.store.addAccount({
      id: pseudonym,
      kind: 'patient',
      username: 'binary-owner',
      password: 'binary-owner-password',
      patient: patientId,
      display: 'Owner',
    });
    const token = await t.auth!.mint({
      origin: t.url,
      subject: pseudonym,
      clientId: 'app',
      scope: 'patient/*.rs',
      patient: patientId,
    });
    const read = (id: string, accept: string) =>
      fetch(`${fhir}/Binary/${id}`, { headers: { accept, authorization: `Bearer ${token}` } });
    const raw = await read(own, 'application/pdf');
    assert.equal(raw.status, 200);
    assert.ok(Buffer.from(await raw.arrayBuffer()).equals(mine));
    const json = await read(own, 'application/fhir+json');
    assert.equal(json.status, 200);
    assert.ok(Buffer.from(((await json.json()) as Binary).data!, 'base64').equals(mine));
    // Another patient's record is answered like a missing one: its existence is not disclosed.
    assert.equal((await read(theirs, 'application/pdf')).status, 404, 'another patient’s letter');
    assert.equal((await read(theirs, 'application/fhir+json')).status, 404);
    const replace = await fetch(`${fhir}/Binary/${own}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/pdf', authorization: `Bearer ${token}` },
      body: 'forged',
    });
    assert.equal(replace.status, 403, 'a patient token cannot replace it');
  });

  it('record exchange carries the patient’s Binary to another organization only under consent', async () => {
    const orgB = await t.admitOrganization(ORG_B, orgBKeys, 'Binary Clinic');
    await t.commit(registerPractitioner(orgB, PRAC_B).tx);
    const pdf = Buffer.concat([Buffer.from('%PDF exchanged '), randomBytes(100_000)]);
    const id = await created(await upload(pdf, `Patient/${patientId}`));
    const client = new ExchangeClient({
      chain: t.node.chain,
      org: ORG_B,
      orgSigner: new Signer(orgBKeys),
      orgSeed: orgBKeys.secretKey,
      peers: new Map([[FOUNDER, t.url]]),
    });
    const refused = await client.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'everything' });
    assert.ok(refused.ok, JSON.stringify(refused));
    assert.deepEqual(refused.resources, []);

    await t.commit(
      patientKey.sign({
        type: 'consent.grant',
        body: { id: randomPseudonym('cns'), patient: pseudonym, grantee: ORG_B, purpose: 'TREAT' },
      }),
    );
    const result = await client.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'everything' });
    assert.ok(result.ok, JSON.stringify(result));
    const received = result.resources.find((r) => r.resource.resourceType === 'Binary' && r.resource.id === id);
    assert.ok(received, 'the Binary travels');
    // Opened and checked against the sealed content reference on the requester's side.
    assert.ok(Buffer.from((received.resource as Binary).data!, 'base64').equals(pdf));
  });
});
