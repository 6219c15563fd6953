/**
 * Provenance rules of the ledger: who may be named as a record's author, and what an access event
 * may claim. In memory (support/memory-ledger.ts): a patient authors only records about themselves
 * and a device only records about its patient while that patient is active; an access event names
 * only records its signer holds about the event's patient, happened close to block time, and its
 * consent or emergency basis was in force (for the purpose its action implies) or open at that
 * time; emergency access opens only for an enrolled patient or a pseudonym records name. Every refusal writes nothing and leaves the signer's sequence number unused. Then, on a
 * real node, a device of a patient who is no longer active cannot send readings.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity } from '../src/client/identity.js';
import { base64urlOf } from '../src/client/encoding.js';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { signBatch } from '../src/devices/batch.js';
import type { LedgerErrorCode } from '../src/ledger/errors.js';
import type { AccessEvent } from '../src/ledger/payloads/access.js';
import type { ConsentPurpose } from '../src/ledger/payloads/consent.js';
import type { TxPayload } from '../src/ledger/tx.js';
import { MAX_EVENT_AGE_MS, MAX_EVENT_LEAD_MS } from '../src/state/access.js';
import { attempt, buildWorld, payload, pseudonym, type World } from './support/memory-ledger.js';
import { startTestServer, txTypesSince, type TestServer } from './support/fixtures.js';
import { call } from './support/fhir-api.js';

let counter = 0;
const fresh = (prefix: 'rec' | 'cns' | 'bg'): string => pseudonym(prefix, `provenance-${++counter}`);

function accepted(w: World, signer: Identity, p: TxPayload, time?: number): void {
  assert.equal(attempt(w, signer, p, time), 'ok');
}

/** Refused with `code`: nothing is written and the signer's sequence number stays unused. */
function refused(w: World, signer: Identity, p: TxPayload, code: LedgerErrorCode, time?: number): void {
  const before = w.ledger.snapshot();
  const seq = w.ledger.app.nextSeq(signer.id);
  assert.equal(attempt(w, signer, p, time), code);
  assert.deepEqual(w.ledger.snapshot(), before, 'nothing written');
  assert.equal(w.ledger.app.nextSeq(signer.id), seq, 'sequence number not consumed');
}

/** A record.commit body of several entries, each about its own patient (or none). */
function mixedCommit(author: string, custodian: string, entries: [string, string | undefined][]): TxPayload {
  const parts = entries.map(([record, patient]) => payload.recordCommit(author, custodian, patient, [record]));
  const all = parts.flatMap((p) => (p.type === 'record.commit' ? p.body.entries : []));
  return { type: 'record.commit', body: { author, custodian, entries: all } };
}

describe('record.commit: the author is tied to the records’ patient', () => {
  test('accepted: the organization and its practitioners for any patient; a patient about themselves; a device about its active patient', () => {
    const w = buildWorld();
    const { orgA, orgB, clinicianA, patient, otherPatient, device } = w;
    accepted(w, orgA, payload.recordCommit(orgA.id, orgA.id, otherPatient.id, [fresh('rec')]));
    accepted(w, orgA, payload.recordCommit(orgA.id, orgA.id, undefined, [fresh('rec')]));
    accepted(w, orgA, payload.recordCommit(clinicianA.id, orgA.id, otherPatient.id, [fresh('rec'), fresh('rec')]));
    accepted(w, orgA, payload.recordCommit(patient.id, orgA.id, patient.id, [fresh('rec'), fresh('rec')]));
    accepted(w, orgA, payload.recordCommit(device.id, orgA.id, patient.id, [fresh('rec'), fresh('rec')]));
    // The rule binds author to patient, not to a custodian: another organization may hold the readings.
    accepted(w, orgB, payload.recordCommit(device.id, orgB.id, patient.id, [fresh('rec')]));
    // Next versions by the same authors.
    const r = fresh('rec');
    accepted(w, orgA, payload.recordCommit(device.id, orgA.id, patient.id, [r]));
    accepted(w, orgA, payload.recordCommit(patient.id, orgA.id, patient.id, [r], 2));
    assert.deepEqual(
      [w.ledger.app.recordVersion(r, 1)?.author, w.ledger.app.recordVersion(r, 2)?.author],
      [device.id, patient.id],
    );
  });

  test('refused: a patient or device named as author of records about another patient (or about no patient)', () => {
    const w = buildWorld();
    const { orgA, patient, otherPatient, device } = w;
    // Reviewer cases 3a and 3b.
    refused(w, orgA, payload.recordCommit(device.id, orgA.id, otherPatient.id, [fresh('rec')]), 'tx.unauthorized');
    refused(w, orgA, payload.recordCommit(patient.id, orgA.id, otherPatient.id, [fresh('rec')]), 'tx.unauthorized');
    refused(w, orgA, payload.recordCommit(patient.id, orgA.id, undefined, [fresh('rec')]), 'tx.unauthorized');
    refused(w, orgA, payload.recordCommit(device.id, orgA.id, undefined, [fresh('rec')]), 'tx.unauthorized');
    // Checked per entry: one foreign entry refuses the whole body.
    const mixed: [string, string | undefined][] = [
      [fresh('rec'), patient.id],
      [fresh('rec'), patient.id],
      [fresh('rec'), otherPatient.id],
    ];
    refused(w, orgA, mixedCommit(patient.id, orgA.id, mixed), 'tx.unauthorized');
    refused(w, orgA, mixedCommit(device.id, orgA.id, mixed), 'tx.unauthorized');
    refused(
      w,
      orgA,
      mixedCommit(device.id, orgA.id, [
        [fresh('rec'), patient.id],
        [fresh('rec'), undefined],
      ]),
      'tx.unauthorized',
    );
  });

  test('refused: a device of a revoked patient authors nothing, though the device itself is still active', () => {
    // A patient cannot be suspended under the current rules (only the patient speaks for the
    // patient, and may only revoke itself); the check is `status !== 'active'`, so it covers both.
    const w = buildWorld();
    const { orgA, patient, device } = w;
    const r = fresh('rec');
    accepted(w, orgA, payload.recordCommit(device.id, orgA.id, patient.id, [r]));
    // Reviewer cases 3d and 3e.
    accepted(w, patient, payload.setStatus(patient.id, 'revoked'));
    assert.equal(w.ledger.participant(device.id)?.status, 'active');
    refused(w, orgA, payload.recordCommit(device.id, orgA.id, patient.id, [fresh('rec')]), 'tx.unauthorized');
    refused(w, orgA, payload.recordCommit(device.id, orgA.id, patient.id, [r], 2), 'tx.unauthorized');
    // Nor can the patient, who is no longer active.
    refused(w, orgA, payload.recordCommit(patient.id, orgA.id, patient.id, [fresh('rec')]), 'state.not_found');
  });
});

describe('access.log: events name the signer’s own records, a recent time and a basis in force then', () => {
  /** An event about `patient` by `actor` (a permit under treatment unless said), at the next block's time unless given. */
  function event(w: World, actor: string, patient: string, extra: Partial<AccessEvent> = {}): AccessEvent {
    const common = { actor, patient, action: 'read' as const, at: w.ledger.time + 1_000, records: [] as string[] };
    if (extra.decision === 'deny') return { ...common, ...extra, decision: 'deny' } as AccessEvent;
    return { ...common, decision: 'permit', basis: 'treatment', ...extra } as AccessEvent;
  }
  const underConsent = (grant: string, extra: Partial<AccessEvent> = {}) =>
    ({ decision: 'permit', basis: 'consent', grant, ...extra }) as Partial<AccessEvent>;
  const underBreakGlass = (grant: string, extra: Partial<AccessEvent> = {}) =>
    ({ decision: 'permit', basis: 'break-glass', grant, ...extra }) as Partial<AccessEvent>;
  const denied = (extra: Partial<AccessEvent> = {}) => ({ ...extra, decision: 'deny' }) as Partial<AccessEvent>;

  /** orgA holds `mine` about the patient and `other` about the other patient; orgB holds `theirs` about the patient. */
  function setup() {
    const w = buildWorld();
    const mine = [fresh('rec'), fresh('rec')];
    const other = fresh('rec');
    const theirs = fresh('rec');
    accepted(w, w.orgA, payload.recordCommit(w.clinicianA.id, w.orgA.id, w.patient.id, mine));
    accepted(w, w.orgA, payload.recordCommit(w.clinicianA.id, w.orgA.id, w.otherPatient.id, [other]));
    accepted(w, w.orgB, payload.recordCommit(w.clinicianB.id, w.orgB.id, w.patient.id, [theirs]));
    return { w, mine, other, theirs };
  }

  function grant(w: World, grantee: string, purpose: ConsentPurpose = 'TREAT', terms: { from?: number; until?: number } = {}) {
    const id = fresh('cns');
    accepted(w, w.patient, payload.grant(id, w.patient.id, grantee, { purpose, ...terms }));
    return id;
  }

  test('accepted: own records of the patient under treatment, self, consent, break-glass, refusals, exchange and aggregates', () => {
    const { w, mine } = setup();
    const { orgA, clinicianA, clinicianB, patient } = w;
    const toB = grant(w, w.orgB.id);
    const research = grant(w, orgA.id, 'HRESCH');
    const bg = fresh('bg');
    accepted(w, w.orgB, payload.breakGlass(bg, clinicianB.id, patient.id));
    accepted(
      w,
      orgA,
      payload.accessLog(
        event(w, clinicianA.id, patient.id, { records: mine }),
        event(w, patient.id, patient.id, { basis: 'self', records: mine.slice(0, 1) } as Partial<AccessEvent>),
        event(w, clinicianA.id, patient.id, denied({ records: mine })),
        event(w, clinicianA.id, patient.id, denied({ action: 'search' })),
        // Record exchange: orgA discloses its records to orgB's clinician under the consent to orgB or their emergency access.
        event(w, clinicianB.id, patient.id, underConsent(toB, { records: mine })),
        event(w, clinicianB.id, patient.id, underBreakGlass(bg, { action: 'everything', records: mine })),
        event(w, clinicianB.id, patient.id, denied({ records: mine })),
        // A population query uses the patient's data under a research consent; it names no records.
        event(w, w.analystA.id, patient.id, underConsent(research, { action: 'aggregate' })),
      ),
    );
  });

  test('refused: records held by another custodian, about another patient, or that do not exist (reviewer cases 4c–4e)', () => {
    const { w, mine, other, theirs } = setup();
    const { orgA, orgB, clinicianA, clinicianB, patient } = w;
    const toB = grant(w, orgB.id);
    refused(
      w,
      orgA,
      payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(toB, { records: [theirs] }))),
      'tx.unauthorized',
    );
    refused(w, orgA, payload.accessLog(event(w, clinicianB.id, patient.id, denied({ records: [theirs] }))), 'tx.unauthorized');
    refused(w, orgA, payload.accessLog(event(w, clinicianA.id, patient.id, { records: [...mine, theirs] })), 'tx.unauthorized');
    refused(w, orgA, payload.accessLog(event(w, clinicianA.id, patient.id, { records: [other] })), 'tx.invalid');
    refused(w, orgA, payload.accessLog(event(w, clinicianA.id, patient.id, denied({ records: [other] }))), 'tx.invalid');
    refused(w, orgA, payload.accessLog(event(w, clinicianA.id, patient.id, { records: [fresh('rec')] })), 'tx.invalid');
    // orgB logs its own record correctly; one bad event refuses the whole transaction.
    accepted(w, orgB, payload.accessLog(event(w, clinicianB.id, patient.id, { records: [theirs] })));
    refused(
      w,
      orgB,
      payload.accessLog(
        event(w, clinicianB.id, patient.id, { records: [theirs] }),
        event(w, clinicianB.id, patient.id, { records: mine }),
      ),
      'tx.unauthorized',
    );
  });

  test('refused: a consent revoked, expired or not yet in force at the event’s time, or for another purpose', () => {
    const { w, mine } = setup();
    const { orgA, orgB, clinicianB, patient } = w;
    const revoked = grant(w, orgB.id);
    const revokedAt = w.ledger.time;
    accepted(w, patient, payload.revoke(revoked));
    // Reviewer case 4c, and backdating to before the revocation does not help: revocation is final.
    refused(
      w,
      orgA,
      payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(revoked, { records: mine }))),
      'tx.invalid',
    );
    refused(
      w,
      orgA,
      payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(revoked, { at: revokedAt }))),
      'tx.invalid',
    );
    // A consent that ends: in force before `until`, not at or after.
    const until = w.ledger.time + 5_000;
    const ending = grant(w, orgB.id, 'TREAT', { until });
    accepted(
      w,
      orgA,
      payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(ending, { at: until - 1, records: mine }))),
    );
    refused(w, orgA, payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(ending, { at: until }))), 'tx.invalid');
    // A consent that starts later.
    const from = w.ledger.time + 30 * 60_000;
    const later = grant(w, orgB.id, 'TREAT', { from });
    refused(w, orgA, payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(later))), 'tx.invalid');
    // Purpose: reads are under treatment consents, population queries under research or public health.
    const research = grant(w, orgB.id, 'HRESCH');
    const treatment = grant(w, orgB.id, 'TREAT');
    refused(
      w,
      orgA,
      payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(research, { records: mine }))),
      'tx.invalid',
    );
    refused(
      w,
      orgA,
      payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(treatment, { action: 'aggregate' }))),
      'tx.invalid',
    );
    accepted(w, orgA, payload.accessLog(event(w, clinicianB.id, patient.id, underConsent(research, { action: 'aggregate' }))));
  });

  test('refused: an emergency access not open at the event’s time', () => {
    const { w, mine } = setup();
    const { orgA, clinicianA, patient } = w;
    const bg = fresh('bg');
    accepted(w, orgA, payload.breakGlass(bg, clinicianA.id, patient.id, 1));
    const opening = w.ledger.app.breakGlass(bg)!;
    accepted(
      w,
      orgA,
      payload.accessLog(event(w, clinicianA.id, patient.id, underBreakGlass(bg, { at: opening.openedTime, records: mine }))),
    );
    refused(
      w,
      orgA,
      payload.accessLog(event(w, clinicianA.id, patient.id, underBreakGlass(bg, { at: opening.openedTime - 1 }))),
      'tx.invalid',
    );
    const later = opening.until + 1_000;
    refused(
      w,
      orgA,
      payload.accessLog(event(w, clinicianA.id, patient.id, underBreakGlass(bg, { at: opening.until, records: mine }))),
      'tx.invalid',
      later,
    );
    // Logged after it closed, an access made while it was open is accepted.
    const last = underBreakGlass(bg, { at: opening.until - 1, records: mine });
    accepted(w, orgA, payload.accessLog(event(w, clinicianA.id, patient.id, last)), later + 1_000);
  });

  test('emergency access opens for an enrolled patient or a pseudonym records name, never for a stranger id', () => {
    const w = buildWorld();
    const { orgA, clinicianA, patient, device } = w;
    const unenrolled = pseudonym('pat', 'provenance-unenrolled');
    accepted(w, orgA, payload.recordCommit(clinicianA.id, orgA.id, unenrolled, [fresh('rec')]));
    accepted(w, orgA, payload.breakGlass(fresh('bg'), clinicianA.id, patient.id));
    accepted(w, orgA, payload.breakGlass(fresh('bg'), clinicianA.id, unenrolled));
    refused(w, orgA, payload.breakGlass(fresh('bg'), clinicianA.id, pseudonym('pat', 'provenance-nobody')), 'state.not_found');
    refused(w, orgA, payload.breakGlass(fresh('bg'), clinicianA.id, device.id), 'state.not_found');
  });

  test(`refused: an event more than ${MAX_EVENT_AGE_MS / 60_000} minutes before its block or more than ${MAX_EVENT_LEAD_MS / 1000} s after it`, () => {
    const { w, mine } = setup();
    const { orgA, clinicianA, patient } = w;
    const at = (t: number) => payload.accessLog(event(w, clinicianA.id, patient.id, { at: t, records: mine }));
    // Reviewer's events at time 1.
    refused(w, orgA, at(1), 'tx.invalid');
    // Blocks an hour later: the window is measured from each block's time.
    const block = w.ledger.time + 60 * 60_000;
    refused(w, orgA, at(block - MAX_EVENT_AGE_MS - 1), 'tx.invalid', block);
    refused(w, orgA, at(block + 1_000 + MAX_EVENT_LEAD_MS + 1), 'tx.invalid', block + 1_000);
    accepted(w, orgA, at(block + 2_000 - MAX_EVENT_AGE_MS), block + 2_000);
    accepted(w, orgA, at(block + 3_000 + MAX_EVENT_LEAD_MS), block + 3_000);
  });
});

describe('device ingest: the device’s patient must be active', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ fhir: true });
  });
  after(() => server.close());

  test('a batch from the device of a revoked patient is refused (403 device.patient_inactive) with nothing stored', async () => {
    const created = await call(`${server.url}/fhir`, 'POST', '/Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'Wearer' }] },
    });
    assert.equal(created.status, 201);
    const pseudonymOf = server.fhir!.vault.patientPseudonym(created.body.id!)!;
    const patient = await server.enrollPatient(pseudonymOf);
    const keys = generateKeyPair();
    const registered = await fetch(`${server.url}/api/v1/patients/${created.body.id}/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ publicKey: base64urlOf(keys.publicKey) }),
    });
    assert.equal(registered.status, 201);
    const device = ((await registered.json()) as { device: string }).device;
    const send = (seq: number) =>
      fetch(`${server.url}/api/v1/devices/${device}/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: signBatch(
          {
            chain: server.node.chain.chainId,
            device,
            seq,
            series: [{ code: '8867-4', start: Date.now() - 60_000 + seq * 10_000, period: 1000, values: [70, 71] }],
          },
          new Signer(keys),
        ).wire,
      });
    assert.equal((await send(0)).status, 201, 'accepted while the patient is active');

    const revoke = payload.setStatus(pseudonymOf, 'revoked');
    const outcome = await server.submit(patient.signAt(revoke, server.node.chain.app.nextSeq(pseudonymOf)));
    assert.ok(outcome.ok);
    assert.equal(server.node.chain.app.participant(device)?.status, 'active', 'the device itself stays active');
    const height = server.node.chain.head().height;
    const versions = () => server.fhir!.vault.db.prepare('SELECT count(*) FROM versions').pluck().get() as number;
    const before = versions();
    const refusedBatch = await send(1);
    assert.equal(refusedBatch.status, 403);
    assert.equal(((await refusedBatch.json()) as { code: string }).code, 'device.patient_inactive');
    assert.equal(versions(), before, 'nothing stored');
    assert.deepEqual(txTypesSince(server.node, height), [], 'nothing on the ledger');
  });
});
