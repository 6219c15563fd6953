/**
 * Writes are no oracle for records the writer may not see. For a practitioner without access to
 * patient P (and for a patient token of another patient), every write that names one of P's records
 * — as its target (PUT, PATCH, DELETE, If-Match, conditional update, Binary uploads, Bundle
 * entries) or as a reference (POST/PUT/Bundle references, versioned references, security contexts,
 * attachments) — answers exactly what it answers for an id that does not exist: same status, same
 * OperationOutcome once the ids are normalized, and nothing written. A PATCH reads what it patches:
 * it takes the right to read and is logged like a GET. The legitimate flows still work.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Observation, OperationOutcome } from '@medplum/fhirtypes';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import type { TxPayload } from '../src/ledger/tx.js';
import { accessEventsSince, startTestServer, type TestServer } from './support/fixtures.js';
import { call, type FhirReply } from './support/fhir-api.js';

type Who = 'system' | 'c1' | 'c1-update-only' | 'q';

let server: TestServer;
let base: string;
const tokens = new Map<Who, string>();
/** P: no consent, hidden from c1 and from Q. Q: consent to the organization, visible to c1. */
const P = { patient: '', obs: '', binary: '', practitionerObs: '' };
const Q = { patient: '', obs: '', device: undefined as Identity | undefined };
const ABSENT = 'does-not-exist-0001';
const ABSENT_PATIENT = 'no-such-patient-0001';

function as(who: Who, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<FhirReply> {
  return call(base, method, path, {
    headers: { authorization: `Bearer ${tokens.get(who)}`, ...headers },
    ...(body !== undefined && { body }),
  });
}

const observation = (patient: string, text: string, extra: Partial<Observation> = {}): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text },
  subject: { reference: `Patient/${patient}` },
  ...extra,
});

/** Replaces each id with a placeholder (longest first), so two answers can be compared byte for byte. */
function normalized(reply: FhirReply, ids: readonly string[]): string {
  return [...ids]
    .map((id, i) => [id, `<id${i}>`] as const)
    .sort((a, b) => b[0].length - a[0].length)
    .reduce((text, [id, placeholder]) => text.replaceAll(id, placeholder), reply.text);
}

/**
 * The answer about the hidden record and the answer about the absent one are the same: status,
 * and the OperationOutcome byte for byte once ids are normalized (hidden[i] ↔ absent[i]).
 */
function assertSame(hidden: FhirReply, absent: FhirReply, hiddenIds: string[], absentIds: string[], label: string): void {
  assert.equal(hidden.status, absent.status, `${label}: ${hidden.status} ${hidden.text} vs ${absent.status} ${absent.text}`);
  assert.equal(normalized(hidden, hiddenIds), normalized(absent, absentIds), label);
  if (hidden.status >= 400) assert.equal((hidden.body as OperationOutcome).resourceType, 'OperationOutcome', label);
}

/** What a write would change: every version in the vault, and the ledger height of record commits. */
function fingerprint(): string {
  const db = server.fhir!.vault.db;
  const versions = db.prepare('SELECT count(*) AS n FROM versions').get() as { n: number };
  const rows = db.prepare('SELECT type, id, version, deleted FROM current ORDER BY res').all();
  return JSON.stringify({ versions: versions.n, rows });
}

const patchJson = { 'content-type': 'application/json-patch+json' };
/** The reviewer's probe: a `test` of the content, then an operation that fails either way. */
const ops = (value: string) => [
  { op: 'test', path: '/code/text', value },
  { op: 'remove', path: '/nope' },
];

describe('writes are no oracle for hidden records', () => {
  before(async () => {
    server = await startTestServer({ fhir: true });
    base = `${server.url}/fhir`;
    tokens.set('system', server.token);
    const own = async (payload: TxPayload): Promise<void> => {
      const outcome = await server.node.submitOwn(payload);
      assert.ok(outcome.ok, JSON.stringify(outcome));
    };
    await own({
      type: 'participant.register',
      body: { kind: 'practitioner', id: 'prac_c1', key: generateKeyPair().publicKey, org: server.org.id, roles: ['clinician'] },
    });
    await own({
      type: 'participant.register',
      body: { kind: 'practitioner', id: 'prac_c2', key: generateKeyPair().publicKey, org: server.org.id, roles: ['clinician'] },
    });
    for (const id of ['prac_c1', 'prac_c2'])
      await server.auth.store.addAccount({ id, kind: 'practitioner', username: id, password: `${id}-password`, display: id });
    const mint = (subject: string, scope: string, patient?: string) =>
      server.auth.mint({
        origin: server.url,
        subject,
        clientId: 'oracles',
        scope,
        ttlSeconds: 3600,
        ...(patient && { patient }),
      });
    tokens.set('c1', await mint('prac_c1', 'user/*.cruds'));
    tokens.set('c1-update-only', await mint('prac_c1', 'user/Observation.u'));

    const enroll = async (family: string) => {
      const patient = await as('system', 'POST', '/Patient', { resourceType: 'Patient', name: [{ family }] });
      assert.equal(patient.status, 201);
      const id = (patient.body as { id: string }).id;
      const obs = await as('system', 'POST', '/Observation', observation(id, 'HIV viral load'));
      assert.equal(obs.status, 201);
      const pseudonym = server.fhir!.vault.patientPseudonym(id)!;
      const device = new Identity(server.node.chain.chainId, pseudonym, generateKeyPair());
      await own({ type: 'participant.register', body: { kind: 'patient', id: pseudonym, key: device.publicKey } });
      return { id, obs: (obs.body as { id: string }).id, device };
    };
    const p = await enroll('Hidden');
    P.patient = p.id;
    P.obs = p.obs;
    // A second version of P's Observation (so a versioned reference could probe the version count).
    const v2 = await as('system', 'PUT', `/Observation/${P.obs}`, {
      ...observation(P.patient, 'HIV viral load'),
      id: P.obs,
      status: 'amended',
    });
    assert.equal(v2.status, 200);
    const binary = await as('system', 'POST', '/Binary', '%PDF hidden letter', {
      'content-type': 'application/pdf',
      'x-security-context': `Patient/${P.patient}`,
    });
    assert.equal(binary.status, 201, binary.text);
    P.binary = (binary.body as { id: string }).id;
    // A record of P only a practitioner wrote: hidden from the organization's system token too (rule `authors`).
    P.practitionerObs = (await server.fhir!.create(observation(P.patient, 'by c2'), { author: 'prac_c2' })).resource.id!;

    const q = await enroll('Visible');
    Q.patient = q.id;
    Q.obs = q.obs;
    Q.device = q.device;
    const grant = await server.submit(
      q.device.sign({
        type: 'consent.grant',
        body: { id: randomPseudonym('cns', randomBytes(17)), patient: q.device.id, purpose: 'TREAT', grantee: server.org.id },
      }),
    );
    assert.ok(grant.ok);
    await server.auth.store.addAccount({
      id: q.device.id,
      kind: 'patient',
      username: 'oracle-q',
      password: 'oracle-q-password',
      patient: Q.patient,
      display: 'q',
    });
    tokens.set('q', await mint(q.device.id, 'patient/*.cruds', Q.patient));
    // The premise: c1 and Q cannot see P's records; c1 sees Q's.
    assert.equal((await as('c1', 'GET', `/Observation/${P.obs}`)).status, 404);
    assert.equal((await as('c1', 'GET', `/Patient/${P.patient}`)).status, 404);
    assert.equal((await as('c1', 'GET', `/Binary/${P.binary}`, undefined, { accept: 'application/fhir+json' })).status, 404);
    assert.equal((await as('q', 'GET', `/Observation/${P.obs}`)).status, 404);
    assert.equal((await as('c1', 'GET', `/Observation/${Q.obs}`)).status, 200);
  });
  after(async () => server?.close());

  /** Runs `probe` on the hidden id and on the absent one; both answers must be the same and nothing written. */
  async function sameForHiddenAndAbsent(
    label: string,
    probe: (id: string) => Promise<FhirReply>,
    hidden: string = P.obs,
    absent: string = ABSENT,
  ): Promise<FhirReply> {
    const before = fingerprint();
    const h = await probe(hidden);
    const a = await probe(absent);
    assertSame(h, a, [hidden], [absent], label);
    assert.equal(fingerprint(), before, `${label}: nothing written`);
    return h;
  }

  it('PUT: invalid or valid body, with or without If-Match, by a practitioner or a patient token', async () => {
    const body = (id: string) => ({ ...observation(Q.patient, 'overwrite'), id });
    assertOutcomeStatus(
      await sameForHiddenAndAbsent('PUT invalid body', (id) =>
        as('c1', 'PUT', `/Observation/${id}`, { resourceType: 'Observation', id }),
      ),
      400,
    );
    assertOutcomeStatus(
      await sameForHiddenAndAbsent('PUT valid body', (id) => as('c1', 'PUT', `/Observation/${id}`, body(id))),
      405,
    );
    for (const etag of ['W/"1"', 'W/"2"', 'W/"3"'])
      await sameForHiddenAndAbsent(`PUT If-Match ${etag}`, (id) =>
        as('c1', 'PUT', `/Observation/${id}`, body(id), { 'if-match': etag }),
      );
    assertOutcomeStatus(
      await sameForHiddenAndAbsent('PUT bad If-Match', (id) =>
        as('c1', 'PUT', `/Observation/${id}`, body(id), { 'if-match': 'nonsense' }),
      ),
      400,
    );
    await sameForHiddenAndAbsent('PUT a body with another id', (id) => as('c1', 'PUT', `/Observation/${id}`, body('elsewhere')));
    // A patient token: another patient's record used to be 403 (compartment) where a free id was created.
    assertOutcomeStatus(await sameForHiddenAndAbsent('patient PUT', (id) => as('q', 'PUT', `/Observation/${id}`, body(id))), 405);
    await sameForHiddenAndAbsent('patient PUT invalid', (id) =>
      as('q', 'PUT', `/Observation/${id}`, { resourceType: 'Observation', id }),
    );
    // The hidden record is untouched.
    const stored = server.fhir!.read('Observation', P.obs);
    assert.equal(stored.version, 2);
    assert.equal((stored.resource as Observation).code.text, 'HIV viral load');
  });

  it('Binary: a JSON or raw PUT to a hidden Binary is refused like one to a free id, never written', async () => {
    const json = (id: string) => ({
      resourceType: 'Binary',
      id,
      contentType: 'text/plain',
      data: Buffer.from('mine now').toString('base64'),
    });
    assertOutcomeStatus(
      await sameForHiddenAndAbsent('PUT Binary JSON', (id) => as('c1', 'PUT', `/Binary/${id}`, json(id)), P.binary),
      405,
    );
    await sameForHiddenAndAbsent(
      'PUT Binary raw',
      (id) => as('c1', 'PUT', `/Binary/${id}`, '%PDF replaced', { 'content-type': 'application/pdf' }),
      P.binary,
    );
    await sameForHiddenAndAbsent(
      'PUT Binary raw with a context',
      (id) =>
        as('c1', 'PUT', `/Binary/${id}`, '%PDF replaced', {
          'content-type': 'application/pdf',
          'x-security-context': `Patient/${Q.patient}`,
        }),
      P.binary,
    );
    assert.equal(server.fhir!.current('Binary', P.binary)!.version, 1);
  });

  it('PATCH: hidden is 404 like absent whatever the operations, If-Match or token', async () => {
    for (const value of ['HIV viral load', 'diabetes']) {
      assertOutcomeStatus(
        await sameForHiddenAndAbsent(`PATCH test ${value}`, (id) =>
          as('c1', 'PATCH', `/Observation/${id}`, ops(value), patchJson),
        ),
        404,
      );
      await sameForHiddenAndAbsent(`patient PATCH test ${value}`, (id) =>
        as('q', 'PATCH', `/Observation/${id}`, ops(value), patchJson),
      );
    }
    await sameForHiddenAndAbsent('PATCH not an array', (id) => as('c1', 'PATCH', `/Observation/${id}`, { op: 'x' }, patchJson));
    for (const etag of ['W/"1"', 'W/"2"', 'nonsense'])
      await sameForHiddenAndAbsent(`PATCH If-Match ${etag}`, (id) =>
        as('c1', 'PATCH', `/Observation/${id}`, [{ op: 'replace', path: '/status', value: 'amended' }], {
          ...patchJson,
          'if-match': etag,
        }),
      );
  });

  it('DELETE: hidden is 404 like absent, with or without If-Match, for a practitioner or a patient token', async () => {
    for (const headers of [{}, { 'if-match': 'W/"2"' }, { 'if-match': 'W/"1"' }, { 'if-match': 'nonsense' }]) {
      await sameForHiddenAndAbsent(`DELETE ${JSON.stringify(headers)}`, (id) =>
        as('c1', 'DELETE', `/Observation/${id}`, undefined, headers),
      );
      await sameForHiddenAndAbsent(`patient DELETE ${JSON.stringify(headers)}`, (id) =>
        as('q', 'DELETE', `/Observation/${id}`, undefined, headers),
      );
    }
    await sameForHiddenAndAbsent('DELETE Binary', (id) => as('c1', 'DELETE', `/Binary/${id}`), P.binary);
  });

  it('Bundle entries: update, conditional update and delete of a hidden id answer like an absent one', async () => {
    const transaction = (...entry: unknown[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });
    const invalid = { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation' } };
    const put = (id: string) => ({
      request: { method: 'PUT', url: `Observation/${id}` },
      resource: { ...observation(Q.patient, 'x'), id },
    });
    for (const [label, entries] of [
      ['PUT', (id: string) => [put(id)]],
      ['PUT, then an invalid entry', (id: string) => [put(id), invalid]],
      [
        'PUT invalid',
        (id: string) => [{ request: { method: 'PUT', url: `Observation/${id}` }, resource: { resourceType: 'Observation', id } }],
      ],
      ['PUT If-Match', (id: string) => [{ ...put(id), request: { method: 'PUT', url: `Observation/${id}`, ifMatch: 'W/"2"' } }]],
      [
        'conditional PUT',
        (id: string) => [
          { request: { method: 'PUT', url: `Observation?_id=${id}` }, resource: { ...observation(Q.patient, 'x'), id } },
        ],
      ],
      ['DELETE', (id: string) => [{ request: { method: 'DELETE', url: `Observation/${id}` } }]],
      ['DELETE If-Match', (id: string) => [{ request: { method: 'DELETE', url: `Observation/${id}`, ifMatch: 'W/"2"' } }]],
    ] as const) {
      await sameForHiddenAndAbsent(`transaction ${label}`, (id) => as('c1', 'POST', '', transaction(...entries(id))));
      await sameForHiddenAndAbsent(`batch ${label}`, (id) =>
        as('c1', 'POST', '', { ...transaction(...entries(id)), type: 'batch' }),
      );
      // Q's patient token: P's record used to refuse the whole Bundle (403, compartment).
      if (label.startsWith('conditional')) continue; // conditional writes are not open to patient tokens
      await sameForHiddenAndAbsent(`patient transaction ${label}`, (id) => as('q', 'POST', '', transaction(...entries(id))));
      await sameForHiddenAndAbsent(`patient batch ${label}`, (id) =>
        as('q', 'POST', '', { ...transaction(...entries(id)), type: 'batch' }),
      );
    }
  });

  it('references: a hidden record (any version) is "does not exist" like an absent one, in POST, PUT and Bundles', async () => {
    const probe = (ref: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          request: { method: 'POST', url: 'Observation' },
          resource: observation(Q.patient, 'x', { hasMember: [{ reference: ref }] }),
        },
        { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation' } },
      ],
    });
    for (const suffix of ['', '/_history/1', '/_history/2', '/_history/3']) {
      const h = await sameForHiddenAndAbsent(`transaction reference${suffix}`, (id) =>
        as('c1', 'POST', '', probe(`Observation/${id}${suffix}`)),
      );
      assertOutcomeStatus(h, 422);
      await sameForHiddenAndAbsent(`POST reference${suffix}`, (id) =>
        as(
          'c1',
          'POST',
          '/Observation',
          observation(Q.patient, 'x', { hasMember: [{ reference: `Observation/${id}${suffix}` }] }),
        ),
      );
      await sameForHiddenAndAbsent(`PUT reference${suffix}`, (id) =>
        as('c1', 'PUT', `/Observation/${Q.obs}`, {
          ...observation(Q.patient, 'x', { hasMember: [{ reference: `Observation/${id}${suffix}` }] }),
          id: Q.obs,
        }),
      );
      await sameForHiddenAndAbsent(`PATCH reference${suffix}`, (id) =>
        as(
          'c1',
          'PATCH',
          `/Observation/${Q.obs}`,
          [{ op: 'add', path: '/hasMember', value: [{ reference: `Observation/${id}${suffix}` }] }],
          patchJson,
        ),
      );
    }
    // The hidden patient as a subject, and as a Binary's security context.
    await sameForHiddenAndAbsent(
      'subject',
      (id) => as('c1', 'POST', '/Observation', observation(id, 'x')),
      P.patient,
      ABSENT_PATIENT,
    );
    await sameForHiddenAndAbsent(
      'transaction subject',
      (id) => as('c1', 'POST', '', probe(`Patient/${id}`)),
      P.patient,
      ABSENT_PATIENT,
    );
    await sameForHiddenAndAbsent(
      'raw upload security context',
      (id) => as('c1', 'POST', '/Binary', '%PDF x', { 'content-type': 'application/pdf', 'x-security-context': `Patient/${id}` }),
      P.patient,
      ABSENT_PATIENT,
    );
    await sameForHiddenAndAbsent('JSON Binary security context', (id) =>
      as('c1', 'POST', '/Binary', {
        resourceType: 'Binary',
        contentType: 'text/plain',
        data: 'eA==',
        securityContext: { reference: `Observation/${id}` },
      }),
    );
    // The patient token of Q likewise.
    await sameForHiddenAndAbsent('patient POST reference', (id) =>
      as('q', 'POST', '/Observation', observation(Q.patient, 'x', { hasMember: [{ reference: `Observation/${id}` }] })),
    );
  });

  it('attachments: a hidden Binary is treated like one not held here', async () => {
    const note = (binary: string) => ({
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: `Patient/${Q.patient}` },
      content: [{ attachment: { contentType: 'application/pdf', url: `Binary/${binary}` } }],
    });
    const hidden = await as('c1', 'POST', '/DocumentReference', note(P.binary));
    const absent = await as('c1', 'POST', '/DocumentReference', note(ABSENT));
    assert.equal(hidden.status, 201, hidden.text);
    assert.equal(absent.status, 201, absent.text);
    // Whoever sees P's Binary still gets the integrity check: the system token is refused.
    assert.equal((await as('system', 'POST', '/DocumentReference', note(P.binary))).status, 422);
  });

  it('PATCH reads: it needs the read scope and logs the read before applying operations; answers on visible records follow', async () => {
    const denied = await as(
      'c1-update-only',
      'PATCH',
      `/Observation/${Q.obs}`,
      [{ op: 'replace', path: '/status', value: 'amended' }],
      patchJson,
    );
    assert.equal(denied.status, 403);
    const version = server.fhir!.current('Observation', Q.obs)!.version;
    const height = server.node.chain.head().height;
    const matched = await as('c1', 'PATCH', `/Observation/${Q.obs}`, ops('HIV viral load'), patchJson);
    const unmatched = await as('c1', 'PATCH', `/Observation/${Q.obs}`, ops('diabetes'), patchJson);
    assert.equal(matched.status, 422);
    assert.equal(unmatched.status, 422);
    assert.equal(server.fhir!.current('Observation', Q.obs)!.version, version, 'nothing written');
    // Each read of Q's Observation is on the access log, permitted (the consent), like a GET's.
    const record = server.fhir!.recordOf('Observation', Q.obs)!.record;
    const reads = accessEventsSince(server.node, height).filter(
      (e) => e.actor === 'prac_c1' && e.action === 'read' && e.records.includes(record),
    );
    assert.equal(reads.length, 2, JSON.stringify(accessEventsSince(server.node, height)));
    assert.ok(reads.every((e) => e.decision === 'permit'));
    // A refused PATCH on a hidden record discloses nothing, and logs no read of it.
    const before = server.node.chain.head().height;
    assert.equal((await as('c1', 'PATCH', `/Observation/${P.obs}`, ops('x'), patchJson)).status, 404);
    const pRecord = server.fhir!.recordOf('Observation', P.obs)!.record;
    assert.ok(accessEventsSince(server.node, before).every((e) => !e.records.includes(pRecord)));
  });

  it('legitimate writes still work: a practitioner with access updates, patches, deletes and references; the system token imports with ids', async () => {
    const put = await as('c1', 'PUT', `/Observation/${Q.obs}`, {
      ...observation(Q.patient, 'HIV viral load'),
      id: Q.obs,
      status: 'amended',
    });
    assert.equal(put.status, 200, put.text);
    const patched = await as(
      'c1',
      'PATCH',
      `/Observation/${Q.obs}`,
      [{ op: 'replace', path: '/status', value: 'final' }],
      patchJson,
    );
    assert.equal(patched.status, 200, patched.text);
    const version = server.fhir!.current('Observation', Q.obs)!.version;
    const referencing = await as(
      'c1',
      'POST',
      '/Observation',
      observation(Q.patient, 'panel', {
        hasMember: [{ reference: `Observation/${Q.obs}` }, { reference: `Observation/${Q.obs}/_history/${version}` }],
      }),
    );
    assert.equal(referencing.status, 201, referencing.text);
    const tx = await as('c1', 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:6f1d9c1e-1b7e-4d0e-9a43-2d7f1c7e0a11',
          request: { method: 'POST', url: 'Observation' },
          resource: observation(Q.patient, 'a'),
        },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: observation(Q.patient, 'b', {
            hasMember: [{ reference: 'urn:uuid:6f1d9c1e-1b7e-4d0e-9a43-2d7f1c7e0a11' }, { reference: `Observation/${Q.obs}` }],
          }),
        },
        {
          request: { method: 'PUT', url: `Observation/${Q.obs}` },
          resource: { ...observation(Q.patient, 'HIV viral load'), id: Q.obs },
        },
      ],
    });
    assert.equal(tx.status, 200, tx.text);
    const doomed = (await as('c1', 'POST', '/Observation', observation(Q.patient, 'to delete'))).body as { id: string };
    assert.equal((await as('c1', 'DELETE', `/Observation/${doomed.id}`)).status, 204);
    // c1 does not see every Observation here, so it may not choose ids (one refusal, taken or free).
    assert.equal(
      (await as('c1', 'PUT', '/Observation/chosen-by-c1', { ...observation(Q.patient, 'x'), id: 'chosen-by-c1' })).status,
      405,
    );
    // The system token imports with its ids and references what the organization wrote.
    const imported = await as('system', 'PUT', '/Observation/chosen-by-system', {
      ...observation(P.patient, 'x', { hasMember: [{ reference: `Observation/${P.obs}/_history/2` }] }),
      id: 'chosen-by-system',
    });
    assert.equal(imported.status, 201, imported.text);
    // It never writes over a record hidden from it (one only a practitioner wrote, rule `authors`).
    const over = await as('system', 'PUT', `/Observation/${P.practitionerObs}`, {
      ...observation(P.patient, 'x'),
      id: P.practitionerObs,
    });
    assert.equal(over.status, 404);
    assert.equal(server.fhir!.current('Observation', P.practitionerObs)!.version, 1);
  });

  it('an amendment keeps the references its record already holds, seen or not; new ones must be seen', async () => {
    // The organization writes Q's panel naming P's Observation (it sees both); c1 sees Q's panel only.
    const panel = await as(
      'system',
      'POST',
      '/Observation',
      observation(Q.patient, 'panel', { hasMember: [{ reference: `Observation/${P.obs}` }] }),
    );
    assert.equal(panel.status, 201, panel.text);
    const id = (panel.body as { id: string }).id;
    const kept = await as('c1', 'PUT', `/Observation/${id}`, {
      ...observation(Q.patient, 'panel', { hasMember: [{ reference: `Observation/${P.obs}` }] }),
      id,
      status: 'amended',
    });
    assert.equal(kept.status, 200, kept.text);
    const patched = await as(
      'c1',
      'PATCH',
      `/Observation/${id}`,
      [{ op: 'replace', path: '/status', value: 'final' }],
      patchJson,
    );
    assert.equal(patched.status, 200, patched.text);
    // A reference it does not already hold is checked like any other: hidden is absent.
    await sameForHiddenAndAbsent(
      'new reference in an amendment',
      (other) =>
        as('c1', 'PUT', `/Observation/${id}`, {
          ...observation(Q.patient, 'panel', {
            hasMember: [{ reference: `Observation/${P.obs}` }, { reference: `Patient/${other}` }],
          }),
          id,
        }),
      P.patient,
      ABSENT_PATIENT,
    );
  });
});

function assertOutcomeStatus(reply: FhirReply, status: number): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal((reply.body as OperationOutcome).resourceType, 'OperationOutcome');
}
