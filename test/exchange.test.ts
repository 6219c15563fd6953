/**
 * Record exchange between custodians, against a real node's HTTP API: organization B (keys held
 * by the test, admitted on the same ledger) asks custodian A for a patient's records on behalf of
 * B's practitioner. A decides on its ledger state (no grant → nothing, and the refusal is logged;
 * a consent to B → the records, logged under that consent; revoked → nothing again), answers with
 * ciphertext and data keys wrapped for B only, and refuses unauthenticated, misdirected, stale,
 * replayed or malformed requests without logging or disclosing anything. B accepts nothing a
 * custodian signs unless it matches the ledger's commitments.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { fromBase64, toBase64 } from '../src/crypto/bytes.js';
import { generateKeyPair, keyPairFromSeed, Signer, type KeyPair } from '../src/crypto/ed25519.js';
import { decodeTx, type TxPayload } from '../src/ledger/tx.js';
import type { AccessEvent } from '../src/ledger/payloads/access.js';
import { ORG_KEY } from '../src/node/data-dir.js';
import { ExchangeClient } from '../src/exchange/requester.js';
import { AGGREGATE_PATH, EXCHANGE_PATH } from '../src/exchange/protocol.js';
import { unwrapWith } from '../src/exchange/rewrap.js';
import {
  newStamp,
  parseRequestHeader,
  REQUEST_HEADER,
  RESPONSE_HEADER,
  signRequest,
  signResponse,
  verifyResponse,
} from '../src/exchange/signing.js';
import { PSEUDONYM_SYSTEM } from '../src/fhir/repository.js';
import { CHAIN, FOUNDER, registerPractitioner, startTestServer, type TestServer } from './support/fixtures.js';
import { authFetch, call, entriesOf } from './support/fhir-api.js';
import { CONTENT_FIELD } from '../src/vault/content-ref.js';
import { decryptVersion, IntegrityError } from '../src/vault/vault.js';
import { receivedWith } from '../src/fhir/attachments.js';

const MARKER = `xchg${randomBytes(4).toString('hex')}`;
const ORG_B = 'org_other-clinic';
const PRAC_B = 'prac_b-clinician';

describe('record exchange (custodian A, asking organization B)', () => {
  let a: TestServer;
  let fhir: string;
  const orgBKeys: KeyPair = generateKeyPair();
  const orgB = new Identity(CHAIN, ORG_B, orgBKeys);
  let pseudonym: string;
  let patientKey: Identity;
  let observationId: string;
  let client: ExchangeClient;

  /** Access events about the patient committed so far, oldest first. */
  function accessEvents(): AccessEvent[] {
    const events: AccessEvent[] = [];
    for (const stored of a.node.chain.store.txsBySubject(pseudonym, { limit: 1000 }).reverse()) {
      const decoded = decodeTx(stored.wire, CHAIN, { skipSignature: true });
      if (decoded.ok && decoded.value.tx.type === 'access.log') events.push(...decoded.value.tx.body.events);
    }
    return events;
  }

  /** POSTs a signed exchange request as organization B (or as told) and returns status and body. */
  async function ask(
    body: unknown,
    options: { signer?: Signer; from?: string; to?: string; at?: number; header?: string } = {},
  ): Promise<{ status: number; json: { code?: string; entries?: unknown[] }; header: string; raw: Buffer; text: string }> {
    const raw = Buffer.from(JSON.stringify(body));
    const stamp = newStamp(options.from ?? ORG_B, options.to ?? FOUNDER, options.at ?? Date.now());
    const header = options.header ?? signRequest(CHAIN, options.signer ?? new Signer(orgBKeys), stamp, EXCHANGE_PATH, raw);
    const res = await fetch(`${a.url}${EXCHANGE_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [REQUEST_HEADER]: header },
      body: raw,
    });
    const text = await res.text();
    return { status: res.status, json: JSON.parse(text), header, raw, text };
  }
  /** Commits a transaction of A's organization (signed by the node, which keeps its sequence). */
  async function asA(payload: TxPayload): Promise<void> {
    const outcome = await a.node.submitOwn(payload);
    assert.ok(outcome.ok, JSON.stringify(outcome));
  }
  const everything = () => ({ requester: PRAC_B, patient: pseudonym, query: { kind: 'everything' }, height: 0 });

  before(async () => {
    a = await startTestServer({ fhir: true, exchange: { peers: new Map() } });
    fhir = `${a.url}/fhir`;
    // B joins the network through governance (the single validator approves), then registers a clinician.
    await a.admitOrganization(ORG_B, orgBKeys, 'Other Clinic');
    await a.commit(registerPractitioner(orgB, PRAC_B).tx);
    await a.addPractitioner('prac_a-clinician');

    const patient = await call<Resource>(fhir, 'POST', '/Patient', {
      body: { resourceType: 'Patient', name: [{ family: MARKER }] },
    });
    assert.equal(patient.status, 201, patient.text);
    const obs = await call<Observation>(fhir, 'POST', '/Observation', {
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: `pulse ${MARKER}` },
        subject: { reference: `Patient/${patient.body.id}` },
        valueQuantity: { value: 72, unit: '/min' },
      },
    });
    assert.equal(obs.status, 201, obs.text);
    observationId = obs.body.id!;
    pseudonym = a.fhir!.vault.patientPseudonym(patient.body.id!)!;
    // The patient enrolls with a key of their own, so they can sign consents.
    const keys = generateKeyPair();
    await asA({ type: 'participant.register', body: { kind: 'patient', id: pseudonym, key: keys.publicKey } });
    patientKey = new Identity(CHAIN, pseudonym, keys);
    client = new ExchangeClient({
      chain: a.node.chain,
      org: ORG_B,
      orgSigner: new Signer(orgBKeys),
      orgSeed: orgBKeys.secretKey,
      peers: new Map([[FOUNDER, a.url]]),
    });
  });
  after(async () => {
    await a?.close();
  });

  it('B finds A as a custodian of the patient from the ledger', () => {
    assert.deepEqual(client.custodiansOf(pseudonym), [FOUNDER]);
  });

  it('without a grant B gets nothing, and the refusal is on the ledger', async () => {
    const result = await client.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'everything' });
    assert.ok(result.ok);
    assert.deepEqual(result.resources, []);
    const last = accessEvents().at(-1)!;
    assert.equal(last.actor, PRAC_B);
    assert.equal(last.decision, 'deny');
    assert.equal(last.action, 'everything');
  });

  let consent: string;
  it('with a consent to B, B receives and opens the records; the disclosure is logged under that consent', async () => {
    consent = randomPseudonym('cns');
    await a.commit(
      patientKey.sign({
        type: 'consent.grant',
        body: { id: consent, patient: pseudonym, grantee: ORG_B, purpose: 'TREAT', until: Date.now() + 3_600_000 },
      }),
    );
    const result = await client.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'everything' });
    assert.ok(result.ok, JSON.stringify(result));
    const types = result.resources.map((r) => r.resource.resourceType).sort();
    assert.deepEqual(types, ['Observation', 'Patient']);
    const obs = result.resources.find((r) => r.resource.resourceType === 'Observation')!;
    assert.equal(obs.resource.id, observationId);
    assert.match(JSON.stringify(obs.resource), new RegExp(MARKER));
    assert.equal(obs.base, fhir);
    const last = accessEvents().at(-1)!;
    assert.deepEqual([last.actor, last.decision, 'grant' in last && last.grant], [PRAC_B, 'permit', consent]);
    assert.equal(last.records.length, 2);
  });

  it('a search runs at the custodian within the patient compartment and the grant', async () => {
    const hit = await client.fromOne(FOUNDER, PRAC_B, pseudonym, {
      kind: 'search',
      type: 'Observation',
      params: 'code=http://loinc.org|8867-4&_total=accurate',
    });
    assert.ok(hit.ok);
    assert.deepEqual(
      hit.resources.map((r) => r.resource.id),
      [observationId],
    );
    assert.equal(hit.total, 1);
    const miss = await client.fromOne(FOUNDER, PRAC_B, pseudonym, {
      kind: 'search',
      type: 'Observation',
      params: 'code=http://loinc.org|4548-4',
    });
    assert.ok(miss.ok);
    assert.deepEqual(miss.resources, []);
    const invalid = await client.fromOne(FOUNDER, PRAC_B, pseudonym, {
      kind: 'search',
      type: 'Observation',
      params: 'nonsense=1',
    });
    assert.equal(invalid.ok, false);
    assert.equal(!invalid.ok && invalid.code, 'exchange.invalid');
  });

  it('a search runs at the custodian page by page (_count, _offset), still within the patient compartment', async () => {
    const patientId = a.fhir!.vault.patientIdOf(pseudonym)!;
    const other = await call<Resource>(fhir, 'POST', '/Patient', { body: { resourceType: 'Patient' } });
    const respiration = async (subject: string): Promise<string> => {
      const created = await call<Observation>(fhir, 'POST', '/Observation', {
        body: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '9279-1' }] },
          subject: { reference: `Patient/${subject}` },
        },
      });
      assert.equal(created.status, 201, created.text);
      return created.body.id!;
    };
    const mine = [await respiration(patientId), await respiration(patientId)];
    await respiration(other.body.id!);
    const page = async (params: string) => {
      const result = await client.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'search', type: 'Observation', params });
      assert.ok(result.ok, JSON.stringify(result));
      return { ids: result.resources.map((r) => r.resource.id), total: result.total };
    };
    const code = 'code=http://loinc.org|9279-1&_total=accurate&_count=1';
    const pages = [await page(code), await page(`${code}&_offset=1`), await page(`${code}&_offset=2`)];
    assert.deepEqual(
      pages.map((p) => p.total),
      [2, 2, 2],
    );
    assert.deepEqual(pages[2]!.ids, []);
    assert.deepEqual(pages.flatMap((p) => p.ids).sort(), [...mine].sort());
    // A requester naming another patient only narrows the search: the custodian adds this one's.
    const escape = await page(`code=http://loinc.org|9279-1&patient=Patient/${other.body.id}&_offset=0`);
    assert.deepEqual(escape, { ids: [], total: undefined });
  });

  it('on the wire: ciphertext only, a key only B can open, and A’s signature over the answer', async () => {
    const reply = await ask(everything());
    assert.equal(reply.status, 200);
    assert.ok(!reply.text.includes(MARKER), 'no plaintext content in the answer');
    const entry = reply.json.entries![0] as { record: string; version: number; key: { enc: string; ct: string } };
    const wrapped = { enc: fromBase64(entry.key.enc)!, ct: fromBase64(entry.key.ct)! };
    const context = { chain: CHAIN, record: entry.record, version: entry.version, recipient: ORG_B };
    assert.equal((await unwrapWith(orgBKeys.secretKey, wrapped, context)).length, 32);
    // Not for anyone else, and not for another record or recipient name.
    await assert.rejects(unwrapWith(generateKeyPair().secretKey, wrapped, context));
    await assert.rejects(unwrapWith(orgBKeys.secretKey, wrapped, { ...context, version: entry.version + 1 }));
    await assert.rejects(unwrapWith(orgBKeys.secretKey, wrapped, { ...context, recipient: FOUNDER }));
  });

  it('refuses unauthenticated, forged, misdirected, stale, replayed and malformed requests, logging nothing', async () => {
    const before = accessEvents().length;
    const height = a.node.chain.head().height;
    const unsigned = await fetch(`${a.url}${EXCHANGE_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(everything()),
    });
    assert.equal(unsigned.status, 401);
    assert.equal(((await unsigned.json()) as { code: string }).code, 'exchange.unauthenticated');
    const forged = await ask(everything(), { signer: new Signer(generateKeyPair()) });
    assert.deepEqual([forged.status, forged.json.code], [401, 'exchange.unauthenticated']);
    const misdirected = await ask(everything(), { to: 'org_somebody-else' });
    assert.deepEqual([misdirected.status, misdirected.json.code], [421, 'exchange.misdirected']);
    const stale = await ask(everything(), { at: Date.now() - 10 * 60_000 });
    assert.deepEqual([stale.status, stale.json.code], [401, 'exchange.stale']);
    const unknownOrg = await ask(everything(), { from: 'org_stranger', signer: new Signer(generateKeyPair()) });
    assert.deepEqual([unknownOrg.status, unknownOrg.json.code], [401, 'exchange.unauthenticated']);
    // B may not ask on behalf of A's practitioner.
    const impersonating = await ask({ ...everything(), requester: 'prac_a-clinician' });
    assert.deepEqual([impersonating.status, impersonating.json.code], [403, 'exchange.forbidden']);
    for (const body of [{}, { ...everything(), patient: 'Patient/1' }, { ...everything(), query: { kind: 'drop' } }, [1, 2]]) {
      const bad = await ask(body);
      assert.deepEqual([bad.status, bad.json.code], [400, 'exchange.invalid'], JSON.stringify(body));
    }
    const garbage = await fetch(`${a.url}${EXCHANGE_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [REQUEST_HEADER]: 'from=;;;' },
      body: '{"not json',
    });
    assert.equal(garbage.status, 400);
    // The same signed request twice: the second is a replay.
    const first = await ask(everything());
    assert.equal(first.status, 200);
    const replay = await fetch(`${a.url}${EXCHANGE_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [REQUEST_HEADER]: first.header },
      body: first.raw,
    });
    assert.equal(replay.status, 409);
    assert.equal(((await replay.json()) as { code: string }).code, 'exchange.replayed');
    // Only the one valid request was logged.
    await waitUntil(() => accessEvents().length === before + 1);
    assert.ok(a.node.chain.head().height > height);
  });

  it('B rejects an answer that A signed but that does not match the ledger', async () => {
    // A custodian that lies: signs with A's real key but flips a byte of the first envelope.
    const honest = await ask(everything());
    const orgA = new Signer(keyPairFromSeed(a.node.keystore.secretKey(ORG_KEY)!));
    const tampered = structuredClone(honest.json) as { entries: { envelope: string }[] };
    const envelope = fromBase64(tampered.entries[0]!.envelope)!;
    envelope[envelope.length - 1]! ^= 1;
    tampered.entries[0]!.envelope = toBase64(envelope);
    const liar = await fakeCustodian((stampHeader) => {
      const parsed = parseRequestHeader(stampHeader);
      assert.ok(parsed.ok);
      const body = Buffer.from(JSON.stringify(tampered));
      return { body, signature: signResponse(CHAIN, orgA, parsed.stamp, 200, body) };
    });
    try {
      const lying = new ExchangeClient({
        chain: a.node.chain,
        org: ORG_B,
        orgSigner: new Signer(orgBKeys),
        orgSeed: orgBKeys.secretKey,
        peers: new Map([[FOUNDER, liar.url]]),
      });
      const result = await lying.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'everything' });
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.code, 'exchange.integrity');
      assert.match(!result.ok ? result.message : '', /does not match the ledger commitment/);
      // Signed by someone else than A: refused before anything is read.
      const impostor = await fakeCustodian(() => {
        const body = Buffer.from(JSON.stringify(honest.json));
        return { body, signature: toBase64(new Uint8Array(64)) };
      });
      try {
        const fooled = new ExchangeClient({
          chain: a.node.chain,
          org: ORG_B,
          orgSigner: new Signer(orgBKeys),
          orgSeed: orgBKeys.secretKey,
          peers: new Map([[FOUNDER, impostor.url]]),
        });
        const refused = await fooled.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'everything' });
        assert.equal(!refused.ok && refused.code, 'exchange.unauthenticated');
      } finally {
        impostor.server.close();
      }
    } finally {
      liar.server.close();
    }
    // The honest answer verifies under A's key for exactly that request.
    const parsed = parseRequestHeader(honest.header);
    assert.ok(parsed.ok);
  });

  it('an attachment travels with its content file as ciphertext, which B checks against the sealed reference', async () => {
    const pdf = Buffer.concat([Buffer.from(`%PDF-1.7 ${MARKER}`), randomBytes(200_000)]);
    const patientId = a.fhir!.vault.patientIdOf(pseudonym)!;
    // The patient's, through its security context: a record of this patient on the ledger.
    const uploaded = await authFetch(`${fhir}/Binary`, {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', 'x-security-context': `Patient/${patientId}` },
      body: pdf,
    });
    assert.equal(uploaded.status, 201);
    const binaryId = ((await uploaded.json()) as { id: string }).id;
    const doc = await call(fhir, 'POST', '/DocumentReference', {
      body: {
        resourceType: 'DocumentReference',
        status: 'current',
        subject: { reference: `Patient/${patientId}` },
        content: [{ attachment: { contentType: 'application/pdf', url: `Binary/${binaryId}` } }],
        context: { related: [{ reference: `Binary/${binaryId}` }] },
      },
    });
    assert.equal(doc.status, 201, doc.text);
    const query = { kind: 'search', type: 'DocumentReference', params: '_include=DocumentReference:related' };
    const reply = await ask({ ...everything(), query });
    assert.equal(reply.status, 200, reply.text);
    assert.ok(!reply.text.includes(MARKER), 'no plaintext content in the answer');
    const entry = (
      reply.json.entries as {
        type: string;
        id: string;
        record: string;
        version: number;
        envelope: string;
        key: { enc: string; ct: string };
        content?: string;
      }[]
    ).find((e) => e.type === 'Binary')!;
    assert.ok(entry.content, 'the content file travels with the version');
    // What B's node does (src/exchange/requester.ts) once the envelope matches the ledger.
    const context = { chain: CHAIN, record: entry.record, version: entry.version, recipient: ORG_B };
    const dataKey = await unwrapWith(
      orgBKeys.secretKey,
      { enc: fromBase64(entry.key.enc)!, ct: fromBase64(entry.key.ct)! },
      context,
    );
    const at = { type: 'Binary', id: entry.id, version: entry.version, author: FOUNDER, record: entry.record };
    const sealed = decryptVersion(dataKey, fromBase64(entry.envelope)!, at);
    const binary = receivedWith(at, sealed, fromBase64(entry.content)!);
    assert.ok(Buffer.from(binary['data'] as string, 'base64').equals(pdf));
    assert.equal(CONTENT_FIELD in binary, false);
    const altered = fromBase64(entry.content)!;
    altered[1000]! ^= 1;
    assert.throws(() => receivedWith(at, sealed, altered), IntegrityError);
    assert.throws(() => receivedWith(at, sealed, undefined), IntegrityError);
    // B's node accepts it as the patient's record and opens it the same way.
    const received = await client.fromOne(FOUNDER, PRAC_B, pseudonym, {
      kind: 'search',
      type: 'DocumentReference',
      params: '_include=DocumentReference:related',
    });
    assert.ok(received.ok, JSON.stringify(received));
    const opened = received.resources.find((r) => r.resource.resourceType === 'Binary')!;
    assert.ok(Buffer.from((opened.resource as { data: string }).data, 'base64').equals(pdf));
  });

  it('after the patient revokes, B gets nothing again', async () => {
    await a.commit(patientKey.sign({ type: 'consent.revoke', body: { id: consent } }));
    const result = await client.fromOne(FOUNDER, PRAC_B, pseudonym, { kind: 'everything' });
    assert.ok(result.ok);
    assert.deepEqual(result.resources, []);
    assert.equal(accessEvents().at(-1)!.decision, 'deny');
  });

  it('a second organization registers the patient by pseudonym; unknown or taken pseudonyms are refused', async () => {
    const linked = await call<Resource>(fhir, 'POST', '/Patient', {
      body: { resourceType: 'Patient', identifier: [{ system: PSEUDONYM_SYSTEM, value: randomPseudonym('pat') }] },
    });
    assert.equal(linked.status, 422, 'a pseudonym nobody enrolled');
    const taken = await call<Resource>(fhir, 'POST', '/Patient', {
      body: { resourceType: 'Patient', identifier: [{ system: PSEUDONYM_SYSTEM, value: pseudonym }] },
    });
    assert.equal(taken.status, 409, 'already linked to another Patient here');
    const enrolled = generateKeyPair();
    const other = randomPseudonym('pat');
    await asA({ type: 'participant.register', body: { kind: 'patient', id: other, key: enrolled.publicKey } });
    const ok = await call<Resource>(fhir, 'POST', '/Patient', {
      body: { resourceType: 'Patient', identifier: [{ system: PSEUDONYM_SYSTEM, value: other }] },
    });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(a.fhir!.vault.patientPseudonym(ok.body.id!), other);
    const bundle = await call<Bundle>(fhir, 'GET', `/Patient/${ok.body.id}/$everything`);
    assert.equal(bundle.status, 200);
    assert.deepEqual(
      entriesOf(bundle.body).map((r) => r.resourceType),
      ['Patient'],
    );
  });

  it('population partials go only to another organization’s analysts, for well-formed queries', async () => {
    const post = async (body: unknown) => {
      const raw = Buffer.from(JSON.stringify(body));
      const stamp = newStamp(ORG_B, FOUNDER, Date.now());
      const res = await fetch(`${a.url}${AGGREGATE_PATH}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [REQUEST_HEADER]: signRequest(CHAIN, new Signer(orgBKeys), stamp, AGGREGATE_PATH, raw),
        },
        body: raw,
      });
      return { status: res.status, json: (await res.json()) as { code?: string; partial?: { v: number } } };
    };
    const query = {
      purpose: 'PUBHLTH',
      type: 'Condition',
      code: 'http://snomed.info/sct|44054006',
      interval: 'year',
      from: Date.UTC(2025, 0, 1),
      to: Date.UTC(2026, 0, 1),
      groupBy: [],
      asOf: Date.UTC(2026, 0, 1),
    };
    const clinicianAsks = await post({ requester: PRAC_B, query, height: 0 });
    assert.deepEqual([clinicianAsks.status, clinicianAsks.json.code], [403, 'population.forbidden']);
    await a.commit(registerPractitioner(orgB, 'prac_b-analyst', ['analyst']).tx);
    const ok = await post({ requester: 'prac_b-analyst', query, height: 0 });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.partial?.v, 1);
    for (const bad of [{ ...query, interval: 'century' }, { ...query, to: query.from }, { ...query, groupBy: ['name'] }, 'x']) {
      const refused = await post({ requester: 'prac_b-analyst', query: bad, height: 0 });
      assert.equal(refused.status, 400, JSON.stringify(bad));
    }
  });

  it('response signatures bind the request stamp and status', () => {
    const signer = new Signer(orgBKeys);
    const stamp = newStamp(FOUNDER, ORG_B, Date.now());
    const body = Buffer.from('{"entries":[]}');
    const sig = signResponse(CHAIN, signer, stamp, 200, body);
    assert.ok(verifyResponse(CHAIN, stamp, sig, signer.publicKey, 200, body));
    assert.ok(!verifyResponse(CHAIN, stamp, sig, signer.publicKey, 403, body));
    assert.ok(!verifyResponse(CHAIN, { ...stamp, nonce: newStamp(FOUNDER, ORG_B, 0).nonce }, sig, signer.publicKey, 200, body));
    assert.ok(!verifyResponse(CHAIN, stamp, null, signer.publicKey, 200, body));
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A node that answers every exchange request with what `answer` returns (a misbehaving custodian). */
async function fakeCustodian(
  answer: (header: string | undefined) => { body: Buffer; signature: string },
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const { body, signature } = answer(req.headers[REQUEST_HEADER] as string | undefined);
      res.writeHead(200, { 'content-type': 'application/json', [RESPONSE_HEADER]: signature });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, url: `http://127.0.0.1:${address.port}` };
}
