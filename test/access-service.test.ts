/**
 * The access service on a real node: decisions and search scopes follow patient-signed consents
 * as they commit, disclosures are logged on the ledger grouped by basis, and emergency access
 * takes a written justification that stays encrypted off the ledger, is committed to on it, and
 * is reviewed by the organization's privacy officer — signing as themselves.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import { decodeTx, type TxPayload } from '../src/ledger/tx.js';
import type { Principal } from '../src/auth/principal.js';
import { parseScopes } from '../src/auth/scopes.js';
import { AccessDenied, AccessService } from '../src/access/service.js';
import { AccessStore, noteCommitment } from '../src/access/store.js';
import { accessLedgerOf } from '../src/node/access-ledger.js';
import { registerPatient, registerPractitioner, startTestNode, type TestNode } from './support/fixtures.js';
import type { Identity } from '../src/client/identity.js';

const scopes = parseScopes('user/*.cruds').scopes;
const MARKER = 'justification-marker-7f3a2c unconscious after a fall, allergy history needed';

describe('AccessService', () => {
  let t: TestNode;
  let store: AccessStore;
  let service: AccessService;
  let patient: Identity;
  const clinician = 'prac_svc-clinician';
  const analyst = 'prac_svc-analyst';
  const officer = 'prac_svc-officer';
  const as = (id: string, roles: ('clinician' | 'analyst' | 'privacy-officer')[]): Principal => ({
    kind: 'practitioner',
    id,
    org: t.org.id,
    roles,
    scopes,
    client: 'test',
  });

  before(async () => {
    t = await startTestNode();
    for (const [id, roles] of [
      [clinician, ['clinician']],
      [analyst, ['analyst']],
      [officer, ['privacy-officer']],
    ] as const) {
      const keys = generateKeyPair();
      t.node.keystore.put(id, keys.secretKey);
      await t.commit(registerPractitioner(t.org, id, [...roles], keys).tx);
    }
    const p = registerPatient(t.org);
    patient = p.patient;
    await t.commit(p.tx);
    store = AccessStore.open(t.dir, t.node.keystore);
    service = new AccessService(accessLedgerOf(t.node), store);
  });
  after(async () => {
    await service.recorder.drain();
    store.close();
    await t.close();
  });

  const record = (authors: string[] = [t.org.id]) => ({ patient: patient.id, type: 'Observation', custodian: t.org.id, authors });

  test('consent decides: denied before the grant, permitted after, on the decision and in the search scope', async () => {
    const me = as(clinician, ['clinician']);
    assert.equal(service.decide(me, record()).permit, false);
    assert.equal(service.scope(me, 'Observation').patients.has(patient.id), false);
    const grant: TxPayload = {
      type: 'consent.grant',
      body: {
        id: randomPseudonym('cns'),
        patient: patient.id,
        grantee: clinician,
        purpose: 'TREAT',
        types: ['Observation'],
      },
    };
    await t.commit(patient.sign(grant));
    assert.deepEqual(service.decide(me, record()), { permit: true, basis: 'consent', grant: (grant.body as { id: string }).id });
    assert.equal(service.scope(me, 'Observation').patients.has(patient.id), true, 'the memo follows the block that granted');
    assert.equal(service.scope(me, 'Condition').patients.has(patient.id), false);
    assert.deepEqual(service.decide(me, record([clinician])), { permit: true, basis: 'treatment' });
  });

  test('a search scope is kept across blocks that change no consent or emergency access, recomputed after one that does', async () => {
    const me = as(clinician, ['clinician']);
    const first = service.scope(me, 'Procedure');
    const before = t.node.chain.app.grantsChangedAt();
    // An enrollment changes state, but no grant: same height of the last grant change, same scope object.
    await t.commit(registerPatient(t.org).tx);
    assert.equal(t.node.chain.app.grantsChangedAt(), before);
    assert.equal(service.scope(me, 'Procedure'), first, 'kept across a block without grants');
    const granted = registerPatient(t.org);
    await t.commit(granted.tx);
    await t.commit(
      granted.patient.sign({
        type: 'consent.grant',
        body: { id: randomPseudonym('cns'), patient: granted.patient.id, grantee: clinician, purpose: 'TREAT' },
      }),
    );
    assert.equal(t.node.chain.app.grantsChangedAt(), t.node.chain.head().height);
    const after = service.scope(me, 'Procedure');
    assert.notEqual(after, first);
    assert.equal(after.patients.has(granted.patient.id), true);
  });

  test('a memoized search scope does not outlive a consent that expires, even without a new block', async () => {
    let now = Date.now();
    const clocked = new AccessService(accessLedgerOf(t.node), store, { clock: () => now });
    const p = registerPatient(t.org);
    await t.commit(p.tx);
    const until = now + 60_000;
    await t.commit(
      p.patient.sign({
        type: 'consent.grant',
        body: { id: randomPseudonym('cns'), patient: p.patient.id, grantee: analyst, purpose: 'TREAT', until },
      }),
    );
    const me = as(analyst, ['analyst']);
    const height = t.node.chain.head().height;
    assert.equal(clocked.scope(me, 'Observation').patients.has(p.patient.id), true);
    now = until;
    assert.equal(t.node.chain.head().height, height, 'no block in between');
    assert.equal(clocked.scope(me, 'Observation').patients.has(p.patient.id), false);
  });

  test('disclosures are logged on the ledger, one event per basis, before log() resolves', async () => {
    const me = as(clinician, ['clinician']);
    const permitted = service.decide(me, record());
    // The ledger logs only records this organization holds about the patient.
    const entries = ['a', 'b', 'c', 'd'].map((c) => ({
      record: `rec_${c.repeat(26)}`,
      version: 1,
      patient: patient.id,
      op: 'write' as const,
      commitment: new Uint8Array(32),
    }));
    assert.ok((await t.node.submitOwn({ type: 'record.commit', body: { author: t.org.id, custodian: t.org.id, entries } })).ok);
    await service.log(me, 'search', patient.id, [
      { record: 'rec_aaaaaaaaaaaaaaaaaaaaaaaaaa', decision: permitted },
      { record: 'rec_bbbbbbbbbbbbbbbbbbbbbbbbbb', decision: permitted },
      { record: 'rec_cccccccccccccccccccccccccc', decision: { permit: true, basis: 'treatment' } },
    ]);
    const [latest] = t.node.chain.store.txsBySubject(patient.id, { limit: 1 });
    const tx = decodeTx(latest!.wire, t.node.chain.chainId);
    assert.ok(tx.ok && tx.value.tx.type === 'access.log');
    const events = tx.value.tx.type === 'access.log' ? tx.value.tx.body.events : [];
    assert.deepEqual(
      events.map((e) => [e.decision, 'basis' in e ? e.basis : undefined, e.records.length]),
      [
        ['permit', 'consent', 2],
        ['permit', 'treatment', 1],
      ],
    );
    await service.log(as(analyst, ['analyst']), 'read', patient.id, [
      { record: 'rec_dddddddddddddddddddddddddd', decision: { permit: false, reason: 'no' } },
    ]);
    const [denied] = t.node.chain.store.txsBySubject(analyst, { limit: 1 });
    const deniedTx = decodeTx(denied!.wire, t.node.chain.chainId);
    assert.ok(deniedTx.ok && deniedTx.value.tx.type === 'access.log' && deniedTx.value.tx.body.events[0]!.decision === 'deny');
  });

  test('break-glass: a justified opening permits the clinician; the text stays off the ledger, encrypted, committed to', async () => {
    const me = as(analyst, ['analyst']);
    await assert.rejects(
      service.openBreakGlass(me, { patient: patient.id, reason: 'emergency-treatment', justification: MARKER, minutes: 30 }),
      (e: unknown) => e instanceof AccessDenied && e.code === 'access.forbidden',
      'analysts may not',
    );
    await assert.rejects(
      service.openBreakGlass(as(clinician, ['clinician']), {
        patient: patient.id,
        reason: 'emergency-treatment',
        justification: 'short',
        minutes: 30,
      }),
      (e: unknown) => e instanceof AccessDenied && e.code === 'access.invalid',
    );
    const opening = await service.openBreakGlass(as(clinician, ['clinician']), {
      patient: patient.id,
      reason: 'patient-unable-to-consent',
      justification: MARKER,
      minutes: 30,
    });
    assert.equal(opening.practitioner, clinician);
    assert.deepEqual(service.decide(as(clinician, ['clinician']), { ...record(), type: 'Condition' }), {
      permit: true,
      basis: 'break-glass',
      grant: opening.id,
    });
    const note = store.note(opening.id, 'justification')!;
    assert.deepEqual(note.commitment, opening.justification);
    assert.notDeepEqual(noteCommitment(new Uint8Array(32), MARKER), opening.justification, 'salted');
    // Nothing in the data directory holds the justification in plaintext.
    for (const file of readdirSync(t.dir)) {
      if (file.endsWith('.sqlite') || file.endsWith('-wal')) {
        assert.equal(readFileSync(join(t.dir, file)).includes('justification-marker-7f3a2c'), false, file);
      }
    }
    // Only the organization's privacy officers read it.
    assert.throws(() => service.justification(as(clinician, ['clinician']), opening.id), AccessDenied);
    assert.equal(service.justification(as(officer, ['privacy-officer']), opening.id), MARKER);

    await assert.rejects(
      service.reviewBreakGlass(as(clinician, ['clinician']), { opening: opening.id, outcome: 'justified', notes: 'self-review' }),
      AccessDenied,
    );
    const reviewed = await service.reviewBreakGlass(as(officer, ['privacy-officer']), {
      opening: opening.id,
      outcome: 'justified',
      notes: 'confirmed with the ward',
    });
    assert.equal(reviewed.review?.by, officer, 'signed by the officer, not the organization');
    assert.equal(reviewed.review?.outcome, 'justified');
    await assert.rejects(
      service.reviewBreakGlass(as(officer, ['privacy-officer']), { opening: opening.id, outcome: 'unjustified', notes: 'again' }),
      (e: unknown) => e instanceof AccessDenied && e.code === 'access.invalid',
    );
    assert.equal(
      store.note(opening.id, 'review')?.text,
      'confirmed with the ward',
      'the refused second review left the first note',
    );
  });
});
