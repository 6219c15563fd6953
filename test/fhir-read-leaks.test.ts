/**
 * What a refused or hidden read tells the caller, over HTTP with real tokens: a record the caller
 * may not see is answered exactly like one that does not exist (Provenance read and search, batch
 * reads by a patient token, conditional creates), and every disclosure and refusal is an access
 * event on the ledger before the answer leaves — counted event by event. A practitioner's view of
 * their own refusals names the patient only as the ledger does (by pseudonym); the patient and the
 * privacy officer see the whole event.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AuditEvent, Bundle, Observation, Resource } from '@medplum/fhirtypes';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import type { PractitionerRole } from '../src/ledger/payloads/participant.js';
import type { TxPayload } from '../src/ledger/tx.js';
import { accessEventsSince, startTestServer, type TestServer } from './support/fixtures.js';

type Who = 'system' | 'c1' | 'officer' | 'p' | 'q';
interface Answer {
  status: number;
  body: Resource & Record<string, unknown>;
}
interface Person {
  id: string;
  obs: string;
  record: string;
  pseudonym: string;
  device: Identity;
}

const ABSENT = 'does-not-exist-0001';
const ABSENT_RECORD = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';

describe('hidden records answer like absent ones, and every read is on the access log', () => {
  let server: TestServer;
  let base: string;
  const tokens = new Map<Who, string>();
  let P: Person; // no consent: hidden from c1
  let Q: Person; // consented to the organization: visible to c1

  async function fhir(
    who: Who,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const res = await fetch(`${base}/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens.get(who)}`,
        ...(body !== undefined && { 'content-type': 'application/fhir+json' }),
        ...headers,
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as Answer['body'] };
  }

  async function own(payload: TxPayload): Promise<void> {
    const outcome = await server.node.submitOwn(payload);
    assert.ok(outcome.ok, JSON.stringify(outcome));
  }

  async function mint(who: Who, subject: string, scope: string, patient?: string): Promise<void> {
    tokens.set(
      who,
      await server.auth.mint({
        origin: server.url,
        subject,
        clientId: 'read-leaks',
        scope,
        ttlSeconds: 3600,
        ...(patient && { patient }),
      }),
    );
  }

  async function practitioner(who: Who, id: string, roles: PractitionerRole[]): Promise<void> {
    await own({
      type: 'participant.register',
      body: { kind: 'practitioner', id, key: generateKeyPair().publicKey, org: server.org.id, roles },
    });
    await server.auth.store.addAccount({ id, kind: 'practitioner', username: who, password: `${who}-password`, display: who });
    await mint(who, id, 'user/*.cruds');
  }

  const observation = (patient: string, text: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text },
    subject: { reference: `Patient/${patient}` },
  });

  async function person(family: string, who: Who): Promise<Person> {
    const patient = await fhir('system', 'POST', 'Patient', { resourceType: 'Patient', name: [{ family }] });
    assert.equal(patient.status, 201);
    const id = patient.body.id!;
    const obs = (await fhir('system', 'POST', 'Observation', observation(id, 'HIV viral load'))).body.id!;
    const pseudonym = server.fhir!.vault.patientPseudonym(id)!;
    const device = new Identity(server.node.chain.chainId, pseudonym, generateKeyPair());
    await own({ type: 'participant.register', body: { kind: 'patient', id: pseudonym, key: device.publicKey } });
    await server.auth.store.addAccount({
      id: pseudonym,
      kind: 'patient',
      username: `patient-${who}`,
      password: `patient-${who}-password`,
      patient: id,
      display: who,
    });
    await mint(who, pseudonym, 'patient/*.rs', id);
    return { id, obs, record: server.fhir!.recordOf('Observation', obs)!.record, pseudonym, device };
  }

  /** What `request` added to the access log: `actor decision action patient [records]` per event. */
  async function logged<T>(request: () => Promise<T>): Promise<{ result: T; events: string[] }> {
    const height = server.node.chain.head().height;
    const result = await request();
    const name = (pseudonym: string) => (pseudonym === P.pseudonym ? 'P' : pseudonym === Q.pseudonym ? 'Q' : pseudonym);
    const actor = (id: string) => (id === P.pseudonym ? 'p' : id === Q.pseudonym ? 'q' : id);
    const events = accessEventsSince(server.node, height).map(
      (e) => `${actor(e.actor)} ${e.decision} ${e.action} ${name(e.patient)} [${e.records.join(',')}]`,
    );
    return { result, events };
  }

  /** The answer with the given ids replaced by one placeholder, for comparing a hidden case to an absent one. */
  const normalized = (answer: Answer, ...ids: string[]): unknown => {
    let text = JSON.stringify(answer.body);
    for (const id of ids) text = text.split(id).join('<ID>');
    return { status: answer.status, body: JSON.parse(text) as unknown };
  };

  before(async () => {
    server = await startTestServer({ fhir: true });
    base = `${server.url}/fhir`;
    tokens.set('system', server.token);
    await practitioner('c1', 'prac_c1', ['clinician']);
    await practitioner('officer', 'prac_officer', ['privacy-officer']);
    P = await person('Hidden', 'p');
    Q = await person('Visible', 'q');
    // A second version of P's Observation.
    const v2 = await fhir('system', 'PUT', `Observation/${P.obs}`, {
      ...observation(P.id, 'HIV viral load'),
      id: P.obs,
      status: 'amended',
    });
    assert.equal(v2.status, 200);
    const grant = await server.submit(
      Q.device.sign({
        type: 'consent.grant',
        body: { id: randomPseudonym('cns', randomBytes(17)), patient: Q.device.id, purpose: 'TREAT', grantee: server.org.id },
      }),
    );
    assert.ok(grant.ok, JSON.stringify(grant));
    assert.equal((await fhir('c1', 'GET', `Observation/${P.obs}`)).status, 404, 'P is hidden from c1');
    assert.equal((await fhir('c1', 'GET', `Observation/${Q.obs}`)).status, 200, 'Q is visible to c1');
  });

  after(async () => {
    await server?.close();
  });

  describe('Provenance', () => {
    it('a hidden target is answered exactly like an unknown record, whatever the version, and the refusal is logged', async () => {
      const hidden = P.record.slice('rec_'.length);
      for (const version of [1, 2, 3]) {
        const unknown = await logged(() => fhir('c1', 'GET', `Provenance/${ABSENT_RECORD}-${version}`));
        assert.equal(unknown.result.status, 404);
        assert.deepEqual(unknown.events, [], 'an unknown record logs nothing');
        const { result, events } = await logged(() => fhir('c1', 'GET', `Provenance/${hidden}-${version}`));
        assert.deepEqual(normalized(result, hidden), normalized(unknown.result, ABSENT_RECORD), `version ${version}`);
        assert.ok(!JSON.stringify(result.body).includes(P.obs), 'the hidden resource is not named');
        assert.deepEqual(events, ['prac_c1 deny read P []'], `version ${version}: the refusal is on the ledger`);
      }
      // The custodian's own system sees it (and that is logged too).
      const system = await logged(() => fhir('system', 'GET', `Provenance/${hidden}-1`));
      assert.equal(system.result.status, 200);
    });

    it('a visible target: read and search are logged as access to its patient', async () => {
      const id = `${Q.record.slice('rec_'.length)}-1`;
      const read = await logged(() => fhir('c1', 'GET', `Provenance/${id}`));
      assert.equal(read.result.status, 200);
      assert.equal(
        (read.result.body as { target: { reference: string }[] }).target[0]!.reference,
        `Observation/${Q.obs}/_history/1`,
      );
      assert.deepEqual(read.events, [`prac_c1 permit read Q [${Q.record}]`]);
      const search = await logged(() => fhir('c1', 'GET', `Provenance?target=Observation/${Q.obs}`));
      assert.equal(search.result.status, 200);
      assert.equal((search.result.body as Bundle).entry?.length, 1);
      assert.deepEqual(search.events, [`prac_c1 permit search Q [${Q.record}]`]);
      const none = await logged(() => fhir('c1', 'GET', `Provenance?target=Observation/${Q.obs}/_history/9`));
      assert.equal((none.result.body as Bundle).entry, undefined);
      assert.deepEqual(none.events, [], 'nothing found, nothing disclosed');
    });

    it('a search by a hidden target finds what a search by an unknown one finds', async () => {
      for (const suffix of ['', '/_history/1']) {
        const hidden = await logged(() => fhir('c1', 'GET', `Provenance?target=Observation/${P.obs}${suffix}`));
        const absent = await logged(() => fhir('c1', 'GET', `Provenance?target=Observation/${ABSENT}${suffix}`));
        assert.equal(hidden.result.status, 200);
        assert.deepEqual(normalized(hidden.result, P.obs), normalized(absent.result, ABSENT));
        assert.deepEqual(hidden.events, absent.events);
      }
    });
  });

  describe('batch reads', () => {
    const batch = (...urls: string[]) => ({
      resourceType: 'Bundle',
      type: 'batch',
      entry: urls.map((url) => ({ request: { method: 'GET', url } })),
    });

    it("a patient token's batch read of another patient's record is answered like an absent id, per entry, and logged", async () => {
      const cases: [string, string, string][] = [
        [`Observation/${P.obs}`, `Observation/${ABSENT}`, P.obs],
        [`Observation/${P.obs}/_history/1`, `Observation/${ABSENT}/_history/1`, P.obs],
        [`Patient/${P.id}`, `Patient/${ABSENT}`, P.id],
      ];
      for (const [hiddenUrl, absentUrl, id] of cases) {
        const hidden = await logged(() => fhir('q', 'POST', '', batch(hiddenUrl)));
        const absent = await logged(() => fhir('q', 'POST', '', batch(absentUrl)));
        assert.equal(hidden.result.status, 200, hiddenUrl);
        assert.deepEqual(normalized(hidden.result, id), normalized(absent.result, ABSENT), hiddenUrl);
        assert.deepEqual(hidden.events, ['q deny read P []'], `${hiddenUrl}: the refusal is logged`);
        assert.deepEqual(absent.events, []);
      }
      // The direct read and vread answer the same way.
      for (const suffix of ['', '/_history/1']) {
        const direct = await fhir('q', 'GET', `Observation/${P.obs}${suffix}`);
        const directAbsent = await fhir('q', 'GET', `Observation/${ABSENT}${suffix}`);
        assert.equal(direct.status, 404);
        assert.deepEqual(normalized(direct, P.obs), normalized(directAbsent, ABSENT), suffix);
      }
    });

    it('a batch mixing own, hidden and absent reads answers each entry on its own; one refusal per patient', async () => {
      const { result, events } = await logged(() =>
        fhir('q', 'POST', '', batch(`Observation/${Q.obs}`, `Observation/${P.obs}`, `Patient/${P.id}`, `Observation/${ABSENT}`)),
      );
      assert.equal(result.status, 200);
      const statuses = (result.body as Bundle).entry!.map((e) => e.response!.status);
      assert.deepEqual(statuses, ['200 OK', '404 Not Found', '404 Not Found', '404 Not Found']);
      assert.deepEqual(events.sort(), [`q deny read P []`, `q permit read Q [${Q.record}]`]);
    });

    it("a practitioner's refused batch read is logged like a refused GET", async () => {
      const direct = await logged(() => fhir('c1', 'GET', `Observation/${P.obs}`));
      const inBatch = await logged(() => fhir('c1', 'POST', '', batch(`Observation/${P.obs}`)));
      const absent = await logged(() => fhir('c1', 'POST', '', batch(`Observation/${ABSENT}`)));
      assert.deepEqual(direct.events, ['prac_c1 deny read P []']);
      assert.deepEqual(inBatch.events, direct.events);
      assert.deepEqual(absent.events, []);
      assert.deepEqual(normalized(inBatch.result, P.obs), normalized(absent.result, ABSENT));
    });
  });

  describe('conditional create', () => {
    const probe = (text: string) => observation(Q.id, text);

    it('a match returned is a read: logged before it is sent, whatever Prefer asks for', async () => {
      for (const prefer of ['return=representation', 'return=minimal', 'return=OperationOutcome']) {
        const { result, events } = await logged(() =>
          fhir('c1', 'POST', 'Observation', probe('duplicate'), { 'if-none-exist': `_id=${Q.obs}`, prefer }),
        );
        assert.equal(result.status, 200, prefer);
        if (prefer === 'return=representation') assert.equal(result.body.id, Q.obs);
        assert.deepEqual(events, [`prac_c1 permit read Q [${Q.record}]`], prefer);
      }
    });

    it('a hidden resource does not match: the create goes ahead as if it did not exist, and nothing about it is logged', async () => {
      const hidden = await logged(() =>
        fhir('c1', 'POST', 'Observation', probe('hidden probe'), { 'if-none-exist': `_id=${P.obs}` }),
      );
      const absent = await logged(() =>
        fhir('c1', 'POST', 'Observation', probe('absent probe'), { 'if-none-exist': `_id=${ABSENT}` }),
      );
      assert.equal(hidden.result.status, 201);
      assert.equal(absent.result.status, 201);
      assert.notEqual(hidden.result.body.id, P.obs);
      assert.deepEqual(hidden.events, absent.events);
      assert.ok(!hidden.events.some((e) => e.includes(' P ')), 'nothing about P');
    });

    it('a match inside a batch or a transaction is logged as a read too', async () => {
      for (const type of ['batch', 'transaction']) {
        const bundle = {
          resourceType: 'Bundle',
          type,
          entry: [{ request: { method: 'POST', url: 'Observation', ifNoneExist: `_id=${Q.obs}` }, resource: probe('x') }],
        };
        const { result, events } = await logged(() => fhir('c1', 'POST', '', bundle));
        assert.equal(result.status, 200, type);
        assert.equal((result.body as Bundle).entry![0]!.response!.status, '200 OK', type);
        assert.deepEqual(events, [`prac_c1 permit read Q [${Q.record}]`], type);
      }
    });
  });

  describe('the access log as FHIR AuditEvents', () => {
    const audits = async (who: Who, query = ''): Promise<AuditEvent[]> =>
      ((await fhir(who, 'GET', `AuditEvent?_count=200${query}`)).body as Bundle<AuditEvent>).entry?.map((e) => e.resource!) ?? [];
    const refusalsBy = (events: AuditEvent[], actor: string) =>
      events.filter((e) => e.outcome === '4' && e.agent[0]!.who!.identifier!.value === actor);

    it("the requester's own view of a refused read does not name the Patient; a search by that patient does not find it", async () => {
      const before = await audits('c1');
      const absent = await logged(() => fhir('c1', 'GET', `Observation/${ABSENT}`));
      assert.deepEqual(absent.events, []);
      const hidden = await logged(() => fhir('c1', 'GET', `Observation/${P.obs}`));
      assert.deepEqual(hidden.events, ['prac_c1 deny read P []'], 'the refusal stays on the ledger');
      const after = await audits('c1');
      assert.equal(after.length, before.length + 1);
      const newest = after[0]!;
      assert.equal(newest.outcome, '4');
      assert.ok(!JSON.stringify(after).includes(P.id), "c1's view never names Patient/<P>");
      assert.deepEqual(newest.entity![0]!.what, { identifier: { system: 'urn:medledger:pseudonym', value: P.pseudonym } });
      // Just what the ledger API shows every staff member of the same event.
      const txs = (await (
        await fetch(`${server.url}/api/v1/subjects/prac_c1/txs?limit=1`, {
          headers: { authorization: `Bearer ${tokens.get('c1')}` },
        })
      ).json()) as { txs: { tx: { body: { events: { patient: string; decision: string }[] } } }[] };
      assert.deepEqual(
        txs.txs[0]!.tx.body.events.map((e) => [e.patient, e.decision]),
        [[P.pseudonym, 'deny']],
      );
      // Searching by patient would link the pseudonym to the Patient: a hidden patient looks like an unknown one.
      assert.deepEqual(await audits('c1', `&patient=Patient/${P.id}`), []);
      assert.deepEqual(await audits('c1', `&patient=Patient/${ABSENT}`), []);
      // c1's permitted accesses keep naming their patient.
      const permitted = await audits('c1', `&patient=Patient/${Q.id}`);
      assert.ok(permitted.length > 0);
      assert.ok(permitted.every((e) => e.outcome === '0' && e.entity![0]!.what!.reference === `Patient/${Q.id}`));
    });

    it('the patient sees every refused attempt on their record in full, and so does the privacy officer', async () => {
      const patient = refusalsBy(await audits('p'), 'prac_c1');
      const onLedger = accessEventsSince(server.node, 0).filter(
        (e) => e.actor === 'prac_c1' && e.decision === 'deny' && e.patient === P.pseudonym,
      );
      // Direct reads, batch reads and Provenance reads: every one of them.
      assert.ok(onLedger.length >= 6, `${onLedger.length} refusals`);
      assert.equal(patient.length, onLedger.length);
      for (const event of patient) assert.equal(event.entity![0]!.what!.reference, `Patient/${P.id}`);
      const officer = refusalsBy(await audits('officer', '&agent=prac_c1'), 'prac_c1');
      assert.equal(officer.length, onLedger.length);
      for (const event of officer) assert.equal(event.entity![0]!.what!.reference, `Patient/${P.id}`);
      // Q sees none of them (they are about P).
      assert.deepEqual(refusalsBy(await audits('q'), 'prac_c1'), []);
    });
  });
});
