/**
 * Patient consent, emergency access, the access log and erasure in the state machine, and the
 * access decision built on them. In memory (see support/memory-ledger.ts); every rule is shown
 * as a permitted and a refused case, and the consent state machine is checked against a model.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomPseudonym } from '../src/client/identity.js';
import { utf8 } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import type { AccessEvent } from '../src/ledger/payloads/access.js';
import type { ConsentGrantBody, ConsentPurpose } from '../src/ledger/payloads/consent.js';
import { decodeTx, type TxPayload } from '../src/ledger/tx.js';
import { decide, TREATMENT_RULES, type AccessState, type Requester, type TreatmentRule } from '../src/access/policy.js';
import { inScope, searchScope, type VisibilitySource } from '../src/access/visibility.js';
import { attempt, buildWorld, codeOf, commitAll, GENESIS_TIME, identity, type World } from './support/memory-ledger.js';

let counter = 0;
/** A fresh id in one of the ledger's random-id formats (`cns_…`, `bg_…`, `ers_…`, `rec_…`). */
function freshId(prefix: 'cns' | 'bg' | 'ers' | 'rec'): string {
  return randomPseudonym(prefix, sha256(utf8(`consent-test:${++counter}`)));
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function grant(body: Partial<ConsentGrantBody> & Pick<ConsentGrantBody, 'patient' | 'grantee'>): TxPayload {
  return { type: 'consent.grant', body: { id: freshId('cns'), purpose: 'TREAT', ...body } };
}

const revoke = (id: string): TxPayload => ({ type: 'consent.revoke', body: { id } });

function breakGlass(practitioner: string, patient: string, minutes = 60): TxPayload {
  return {
    type: 'access.break_glass',
    body: {
      id: freshId('bg'),
      practitioner,
      patient,
      reason: 'emergency-treatment',
      justification: sha256(utf8('unconscious on arrival')),
      minutes,
    },
  };
}

function recordCommit(w: World, patient: string, records: string[]): TxPayload {
  return {
    type: 'record.commit',
    body: {
      author: w.clinicianA.id,
      custodian: w.orgA.id,
      entries: records.map((record) => ({ record, version: 1, patient, op: 'write', commitment: sha256(utf8(record)) })),
    },
  };
}

const idOf = (p: TxPayload): string => (p.body as { id: string }).id;

function practitioner(w: World, who: 'clinicianA' | 'clinicianB' | 'analystA'): Requester {
  const org = who === 'clinicianB' ? w.orgB.id : w.orgA.id;
  return { kind: 'practitioner', id: w[who].id, org };
}

function accessState(w: World): AccessState {
  return {
    consentsFor: (p, g) => w.ledger.app.consentsFor(p, g),
    latestBreakGlass: (p, pr) => w.ledger.app.latestBreakGlass(p, pr),
  };
}

/** The in-memory ledger as a visibility source: sorted key listing over its Map. */
function visibilitySource(w: World): VisibilitySource {
  return {
    ...accessState(w),
    grantsChangedAt: () => w.ledger.app.grantsChangedAt(),
    stateKeys: (prefix, options = {}) =>
      [...w.ledger.store.keys()]
        .filter((k) => k.startsWith(prefix) && (options.after === undefined || k > options.after))
        .sort()
        .slice(0, options.limit ?? 100),
  };
}

function decideFor(
  w: World,
  requester: Requester,
  options: { type?: string; purpose?: ConsentPurpose; authors?: string[]; rule?: TreatmentRule; now?: number } = {},
): ReturnType<typeof decide> {
  return decide(
    { consentsFor: (p, g) => w.ledger.app.consentsFor(p, g), latestBreakGlass: (p, pr) => w.ledger.app.latestBreakGlass(p, pr) },
    options.rule ?? 'authors',
    {
      requester,
      record: {
        patient: w.patient.id,
        type: options.type ?? 'Observation',
        custodian: w.orgA.id,
        authors: options.authors ?? [],
      },
      purpose: options.purpose ?? 'TREAT',
      now: options.now ?? w.ledger.time,
    },
  );
}

describe('consent.grant and consent.revoke', () => {
  test('the patient grants an organization; its practitioners may then read, for the covered types and purpose', () => {
    const w = buildWorld();
    const before = decideFor(w, practitioner(w, 'clinicianB'));
    assert.equal(before.permit, false);
    const g = grant({ patient: w.patient.id, grantee: w.orgB.id, types: ['Condition', 'Observation'] });
    commitAll(w.ledger, [w.patient.sign(g)]);
    const consent = w.ledger.app.consent(idOf(g));
    assert.equal(consent?.patient, w.patient.id);
    assert.equal(consent?.grantedAt, w.ledger.height);
    assert.deepEqual(decideFor(w, practitioner(w, 'clinicianB')), { permit: true, basis: 'consent', grant: idOf(g) });
    assert.equal(decideFor(w, practitioner(w, 'clinicianB'), { type: 'MedicationRequest' }).permit, false);
    assert.equal(decideFor(w, practitioner(w, 'clinicianB'), { purpose: 'HRESCH' }).permit, false);
    // A grant to org B says nothing about org A's practitioners, nor about the patient's other records.
    assert.equal(decideFor(w, practitioner(w, 'analystA')).permit, false);
  });

  test('a grant to one practitioner covers that practitioner only', () => {
    const w = buildWorld();
    const g = grant({ patient: w.patient.id, grantee: w.clinicianA.id });
    commitAll(w.ledger, [w.patient.sign(g)]);
    assert.equal(decideFor(w, practitioner(w, 'clinicianA'), { rule: 'none' }).permit, true);
    assert.equal(decideFor(w, practitioner(w, 'analystA'), { rule: 'none' }).permit, false);
    assert.equal(decideFor(w, { kind: 'organization', id: w.orgA.id }, { rule: 'none' }).permit, false);
  });

  test('a consent is in force only inside its period', () => {
    const w = buildWorld();
    const from = w.ledger.time + DAY;
    const until = from + DAY;
    const g = grant({ patient: w.patient.id, grantee: w.orgB.id, from, until });
    commitAll(w.ledger, [w.patient.sign(g)]);
    const at = (now: number): boolean => decideFor(w, practitioner(w, 'clinicianB'), { now }).permit;
    assert.deepEqual([at(from - 1), at(from), at(until - 1), at(until)], [false, true, true, false]);
  });

  test('revocation ends access at once and is final', () => {
    const w = buildWorld();
    const g = grant({ patient: w.patient.id, grantee: w.orgB.id });
    commitAll(w.ledger, [w.patient.sign(g)]);
    commitAll(w.ledger, [w.patient.sign(revoke(idOf(g)))]);
    assert.equal(decideFor(w, practitioner(w, 'clinicianB')).permit, false);
    assert.equal(w.ledger.app.consent(idOf(g))?.revokedAt, w.ledger.height);
    assert.equal(attempt(w, w.patient, revoke(idOf(g))), 'state.conflict');
  });

  test('refused: grants and revocations by anyone but the patient, bad grantees, expired or duplicate grants', () => {
    const w = buildWorld();
    const forPatient = { patient: w.patient.id, grantee: w.orgB.id };
    assert.equal(attempt(w, w.orgA, grant(forPatient)), 'tx.unauthorized');
    assert.equal(attempt(w, w.otherPatient, grant(forPatient)), 'tx.unauthorized');
    assert.equal(attempt(w, w.device, grant(forPatient)), 'tx.unauthorized');
    assert.equal(attempt(w, w.patient, grant({ ...forPatient, grantee: 'org_nobody' })), 'state.not_found');
    assert.equal(
      attempt(w, w.patient, grant({ ...forPatient, until: w.ledger.time })),
      'tx.invalid',
      'a grant that expires before its block is refused',
    );
    const g = grant(forPatient);
    commitAll(w.ledger, [w.patient.sign(g)]);
    assert.equal(attempt(w, w.patient, { type: 'consent.grant', body: { ...(g.body as ConsentGrantBody) } }), 'state.conflict');
    assert.equal(attempt(w, w.orgB, revoke(idOf(g))), 'tx.unauthorized');
    assert.equal(attempt(w, w.otherPatient, revoke(idOf(g))), 'tx.unauthorized');
    assert.equal(attempt(w, w.patient, revoke(freshId('cns'))), 'state.not_found');
    assert.equal(decideFor(w, practitioner(w, 'clinicianB')).permit, true, 'the refused revocations changed nothing');
  });

  test('a patient holds at most 16 active grants per grantee; expired ones make room', () => {
    const w = buildWorld();
    const soon = w.ledger.time + 10 * 1000;
    const txs = Array.from({ length: 16 }, () =>
      w.patient.sign(grant({ patient: w.patient.id, grantee: w.orgB.id, until: soon })),
    );
    commitAll(w.ledger, txs);
    assert.equal(attempt(w, w.patient, grant({ patient: w.patient.id, grantee: w.orgB.id })), 'state.limit');
    assert.equal(attempt(w, w.patient, grant({ patient: w.patient.id, grantee: w.orgB.id }), soon + 1), 'ok');
    assert.equal(w.ledger.app.consentsFor(w.patient.id, w.orgB.id).length, 1);
  });

  test('malformed consent payloads do not decode', () => {
    const w = buildWorld();
    const bad: unknown[] = [
      { ...grant({ patient: w.patient.id, grantee: w.orgB.id }).body, types: ['Observation', 'Condition'] },
      { ...grant({ patient: w.patient.id, grantee: w.orgB.id }).body, types: [] },
      { ...grant({ patient: w.patient.id, grantee: w.orgB.id }).body, from: 10, until: 10 },
      { ...grant({ patient: w.patient.id, grantee: w.orgB.id }).body, purpose: 'MARKETING' },
      { ...grant({ patient: w.patient.id, grantee: w.device.id }).body },
      { ...grant({ patient: w.patient.id, grantee: w.orgB.id }).body, id: 'cns_short' },
      { ...grant({ patient: w.patient.id, grantee: w.orgB.id }).body, note: 'free text' },
    ];
    for (const body of bad) {
      const tx = w.patient.sign({ type: 'consent.grant', body } as TxPayload);
      const decoded = decodeTx(tx.wire, w.ledger.app.info().chain);
      assert.equal(decoded.ok ? 'ok' : decoded.error.code, 'tx.malformed', JSON.stringify(body));
    }
  });
});

describe('the consent state machine against a model', () => {
  type Op =
    | { kind: 'grant'; grantee: 0 | 1 | 2; types?: string[]; purpose: ConsentPurpose; from?: number; span?: number }
    | { kind: 'revoke'; pick: number }
    | { kind: 'emergency'; who: 0 | 1; minutes: number }
    | { kind: 'wait'; ms: number };
  const TYPES = ['Condition', 'Observation', 'Procedure'];
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record(
      {
        kind: fc.constant('grant' as const),
        grantee: fc.constantFrom(0 as const, 1 as const, 2 as const),
        types: fc.subarray(TYPES, { minLength: 1 }),
        purpose: fc.constantFrom<ConsentPurpose>('TREAT', 'HRESCH'),
        from: fc.integer({ min: -5, max: 5 }),
        span: fc.integer({ min: 1, max: 20 }),
      },
      { requiredKeys: ['kind', 'grantee', 'purpose'] },
    ),
    fc.record({ kind: fc.constant('revoke' as const), pick: fc.nat() }),
    fc.record({
      kind: fc.constant('emergency' as const),
      who: fc.constantFrom(0 as const, 1 as const),
      minutes: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 60 }) }),
  );

  test('every decision matches a model of grants, periods, purposes, types, revocations and emergencies, and search scopes agree with decisions', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const w = buildWorld();
        const unit = 1000;
        const grantees = [w.orgB.id, w.clinicianB.id, w.clinicianA.id];
        type Model = {
          id: string;
          grantee: string;
          types?: string[];
          purpose: ConsentPurpose;
          from?: number;
          until?: number;
          revoked: boolean;
        };
        const model: Model[] = [];
        const emergencies = new Map<string, { opened: number; until: number }>();
        for (const o of ops) {
          if (o.kind === 'wait') {
            w.ledger.time += o.ms * unit;
            continue;
          }
          const time = w.ledger.time + unit;
          if (o.kind === 'emergency') {
            const [who, org] = o.who === 0 ? [w.clinicianB, w.orgB] : [w.clinicianA, w.orgA];
            commitAll(w.ledger, [org.sign(breakGlass(who.id, w.patient.id, o.minutes))], time);
            emergencies.set(who.id, { opened: time, until: time + o.minutes * MINUTE });
            continue;
          }
          if (o.kind === 'grant') {
            const from = o.from === undefined ? undefined : time + o.from * unit;
            const until = o.span === undefined ? undefined : (from ?? time) + o.span * unit;
            const body = {
              patient: w.patient.id,
              grantee: grantees[o.grantee]!,
              purpose: o.purpose,
              ...(o.types && { types: o.types }),
              ...(from !== undefined && { from }),
              ...(until !== undefined && { until }),
            };
            const p = grant(body);
            const code = codeOf(w.ledger.block([w.patient.sign(p)], time).results[0]!);
            const expected = until !== undefined && until <= time ? 'tx.invalid' : 'ok';
            assert.equal(code, expected);
            if (code === 'ok') model.push({ ...body, id: idOf(p), revoked: false });
            else w.patient.setNextSeq(w.ledger.app.participant(w.patient.id)!.nextSeq);
          } else if (model.length > 0) {
            const target = model[o.pick % model.length]!;
            const code = codeOf(w.ledger.block([w.patient.sign(revoke(target.id))], time).results[0]!);
            assert.equal(code, target.revoked ? 'state.conflict' : 'ok');
            if (code !== 'ok') w.patient.setNextSeq(w.ledger.app.participant(w.patient.id)!.nextSeq);
            target.revoked = true;
          }
        }
        // Probe every requester × type × purpose at several times from the last block on: decisions
        // are made at the node's clock, never before the latest committed block (whose writes
        // prune grants that had expired by then).
        const requesters = [practitioner(w, 'clinicianB'), practitioner(w, 'clinicianA')];
        for (const requester of requesters) {
          for (const type of TYPES) {
            for (const purpose of ['TREAT', 'HRESCH'] as const) {
              for (const dt of [0, 1, 2, 7, 30]) {
                const now = w.ledger.time + dt * unit;
                const holders = requester.kind === 'practitioner' ? [requester.id, requester.org] : [];
                const emergency = emergencies.get(requester.id);
                const expected =
                  model.some(
                    (m) =>
                      !m.revoked &&
                      holders.includes(m.grantee) &&
                      m.purpose === purpose &&
                      (m.types === undefined || m.types.includes(type)) &&
                      (m.from === undefined || now >= m.from) &&
                      (m.until === undefined || now < m.until),
                  ) ||
                  (emergency !== undefined && now >= emergency.opened && now < emergency.until);
                const actual = decideFor(w, requester, { type, purpose, now, rule: 'none' }).permit;
                assert.equal(actual, expected, `${requester.id} ${type} ${purpose} at +${dt}`);
                // The search scope is the set form of the decision, under every treatment rule.
                for (const rule of TREATMENT_RULES) {
                  const scope = searchScope(visibilitySource(w), rule, { requester, type, purpose, now });
                  for (const authors of [[], [requester.id]]) {
                    for (const patient of [w.patient.id, w.otherPatient.id]) {
                      const record = { patient, type, custodian: w.orgA.id, authors };
                      const decided = decide(accessState(w), rule, { requester, record, purpose, now }).permit;
                      assert.equal(inScope(scope, record), decided, `scope ${rule} ${requester.id} ${type} ${authors.join()}`);
                    }
                  }
                }
              }
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('treatment relationship', () => {
  test('authors keep what they wrote under "authors"; the whole custodian under "organization"; nobody under "none"', () => {
    const w = buildWorld();
    const clinician = practitioner(w, 'clinicianA');
    const analyst = practitioner(w, 'analystA');
    const byClinician = [w.clinicianA.id];
    assert.deepEqual(decideFor(w, clinician, { authors: byClinician }), { permit: true, basis: 'treatment' });
    assert.equal(decideFor(w, analyst, { authors: byClinician }).permit, false);
    assert.equal(decideFor(w, analyst, { authors: byClinician, rule: 'organization' }).permit, true);
    assert.equal(decideFor(w, clinician, { authors: byClinician, rule: 'none' }).permit, false);
    // Org B's clinician is not in the custodian: no treatment basis under any rule.
    for (const rule of ['authors', 'organization'] as const) {
      assert.equal(decideFor(w, practitioner(w, 'clinicianB'), { authors: [w.clinicianB.id], rule }).permit, false);
    }
  });

  test('a patient sees their own record and nobody else’s', () => {
    const w = buildWorld();
    assert.deepEqual(decideFor(w, { kind: 'patient', id: w.patient.id }), { permit: true, basis: 'self' });
    assert.equal(decideFor(w, { kind: 'patient', id: w.otherPatient.id }).permit, false);
  });
});

describe('access.break_glass', () => {
  test('a clinician opens time-limited emergency access; it ends by itself', () => {
    const w = buildWorld();
    const p = breakGlass(w.clinicianB.id, w.patient.id, 30);
    commitAll(w.ledger, [w.orgB.sign(p)]);
    const opened = w.ledger.app.breakGlass(idOf(p))!;
    assert.equal(opened.until, w.ledger.time + 30 * MINUTE);
    assert.equal(opened.org, w.orgB.id);
    const requester = practitioner(w, 'clinicianB');
    assert.deepEqual(decideFor(w, requester), { permit: true, basis: 'break-glass', grant: idOf(p) });
    assert.equal(decideFor(w, requester, { now: opened.until - 1 }).permit, true);
    assert.equal(decideFor(w, requester, { now: opened.until }).permit, false);
    assert.equal(decideFor(w, practitioner(w, 'clinicianA')).permit, false, 'only the practitioner who opened it');
  });

  test('a consent takes precedence as the basis over an open emergency', () => {
    const w = buildWorld();
    const g = grant({ patient: w.patient.id, grantee: w.orgB.id });
    commitAll(w.ledger, [w.orgB.sign(breakGlass(w.clinicianB.id, w.patient.id)), w.patient.sign(g)]);
    assert.deepEqual(decideFor(w, practitioner(w, 'clinicianB')), { permit: true, basis: 'consent', grant: idOf(g) });
  });

  test('refused: non-clinical roles, another organization, patients, unknown practitioners, over-long openings', () => {
    const w = buildWorld();
    assert.equal(attempt(w, w.orgA, breakGlass(w.analystA.id, w.patient.id)), 'tx.unauthorized');
    assert.equal(attempt(w, w.orgA, breakGlass(w.clinicianB.id, w.patient.id)), 'tx.unauthorized');
    assert.equal(attempt(w, w.patient, breakGlass(w.clinicianA.id, w.patient.id)), 'tx.unauthorized');
    assert.equal(attempt(w, w.orgA, breakGlass('prac_nobody', w.patient.id)), 'state.not_found');
    assert.equal(attempt(w, w.clinicianA, breakGlass(w.clinicianA.id, w.patient.id)), 'ok');
    const tooLong = w.orgA.sign(breakGlass(w.clinicianA.id, w.patient.id, 241));
    const decoded = decodeTx(tooLong.wire, w.ledger.app.info().chain);
    assert.equal(decoded.ok ? 'ok' : decoded.error.code, 'tx.malformed');
  });
});

describe('access.review', () => {
  const review = (opening: string, outcome: 'justified' | 'unjustified' = 'justified'): TxPayload => ({
    type: 'access.review',
    body: { opening, outcome, notes: sha256(utf8('reviewed with the attending physician')) },
  });

  test('the organization’s privacy officer reviews an emergency access once', () => {
    const w = buildWorld();
    const officer = identity('prac_privacy-b');
    commitAll(w.ledger, [
      w.orgB.sign({
        type: 'participant.register',
        body: { kind: 'practitioner', id: officer.id, key: officer.publicKey, org: w.orgB.id, roles: ['privacy-officer'] },
      }),
    ]);
    const bg = breakGlass(w.clinicianB.id, w.patient.id);
    commitAll(w.ledger, [w.orgB.sign(bg)]);
    assert.equal(w.ledger.store.has(`break-glass-unreviewed/${w.orgB.id}/${idOf(bg)}`), true);
    assert.equal(attempt(w, w.clinicianB, review(idOf(bg))), 'tx.unauthorized', 'not by the one who opened it');
    assert.equal(attempt(w, w.orgA, review(idOf(bg))), 'tx.unauthorized', 'not by another organization');
    assert.equal(attempt(w, w.adminA, review(idOf(bg))), 'tx.unauthorized');
    assert.equal(attempt(w, officer, review(idOf(bg), 'unjustified')), 'ok');
    const reviewed = w.ledger.app.breakGlass(idOf(bg))!;
    assert.deepEqual([reviewed.review?.by, reviewed.review?.outcome], [officer.id, 'unjustified']);
    assert.equal(w.ledger.store.has(`break-glass-unreviewed/${w.orgB.id}/${idOf(bg)}`), false);
    assert.equal(attempt(w, w.orgB, review(idOf(bg))), 'state.conflict', 'once');
    assert.equal(attempt(w, officer, review(freshId('bg'))), 'state.not_found');
  });
});

describe('access.log', () => {
  // A few blocks after genesis, when these events are logged (the ledger takes events close to
  // block time); records are left to ledger-provenance-rules.test.ts, which checks them.
  function event(actor: string, patient: string, extra: Partial<AccessEvent> = {}): AccessEvent {
    return { actor, patient, action: 'read', at: GENESIS_TIME + 10_000, records: [], decision: 'deny', ...extra } as AccessEvent;
  }
  const log = (...events: AccessEvent[]): TxPayload => ({ type: 'access.log', body: { events } });

  test('the organization logs its practitioners’ and patients’ accesses with a checked basis', () => {
    const w = buildWorld();
    const g = grant({ patient: w.patient.id, grantee: w.orgB.id });
    const bg = breakGlass(w.clinicianB.id, w.otherPatient.id);
    commitAll(w.ledger, [w.patient.sign(g), w.orgB.sign(bg)]);
    const events = [
      event(w.clinicianB.id, w.patient.id, { decision: 'permit', basis: 'consent', grant: idOf(g) } as Partial<AccessEvent>),
      event(w.clinicianB.id, w.otherPatient.id, {
        decision: 'permit',
        basis: 'break-glass',
        grant: idOf(bg),
      } as Partial<AccessEvent>),
      event(w.clinicianB.id, w.otherPatient.id, { action: 'search', records: [] }),
      event(w.patient.id, w.patient.id, { decision: 'permit', basis: 'self' } as Partial<AccessEvent>),
      event(w.orgB.id, w.patient.id, { decision: 'permit', basis: 'consent', grant: idOf(g) } as Partial<AccessEvent>),
    ];
    assert.equal(attempt(w, w.orgB, log(...events)), 'ok');
  });

  test('a custodian logs another organization’s practitioner only as refused or under their own grant (record exchange)', () => {
    const w = buildWorld();
    const g = grant({ patient: w.patient.id, grantee: w.orgB.id });
    const bg = breakGlass(w.clinicianB.id, w.otherPatient.id);
    commitAll(w.ledger, [w.patient.sign(g), w.orgB.sign(bg)]);
    const consentBasis = { decision: 'permit', basis: 'consent', grant: idOf(g) } as Partial<AccessEvent>;
    // Organization A, custodian, discloses to B's clinician under the consent to B, or their break-glass, or refuses.
    assert.equal(attempt(w, w.orgA, log(event(w.clinicianB.id, w.patient.id, consentBasis))), 'ok');
    const opened = { decision: 'permit', basis: 'break-glass', grant: idOf(bg) } as Partial<AccessEvent>;
    assert.equal(attempt(w, w.orgA, log(event(w.clinicianB.id, w.otherPatient.id, opened))), 'ok');
    assert.equal(attempt(w, w.orgA, log(event(w.clinicianB.id, w.otherPatient.id))), 'ok');
    // Never under its own treatment relationship, and never a grant the actor does not hold.
    const treatment = { decision: 'permit', basis: 'treatment' } as Partial<AccessEvent>;
    assert.equal(attempt(w, w.orgA, log(event(w.clinicianB.id, w.patient.id, treatment))), 'tx.unauthorized');
    assert.equal(attempt(w, w.orgB, log(event(w.clinicianA.id, w.patient.id, consentBasis))), 'tx.invalid');
  });

  test('refused: foreign actors without a basis, grants that do not cover the access, signers other than an organization', () => {
    const w = buildWorld();
    const g = grant({ patient: w.patient.id, grantee: w.orgB.id });
    commitAll(w.ledger, [w.patient.sign(g)]);
    const consentBasis = { decision: 'permit', basis: 'consent', grant: idOf(g) } as Partial<AccessEvent>;
    const treatment = { decision: 'permit', basis: 'treatment' } as Partial<AccessEvent>;
    assert.equal(attempt(w, w.orgB, log(event(w.clinicianA.id, w.patient.id, treatment))), 'tx.unauthorized');
    assert.equal(attempt(w, w.orgB, log(event('prac_nobody', w.patient.id))), 'tx.unauthorized');
    assert.equal(attempt(w, w.orgA, log(event(w.clinicianA.id, w.patient.id, consentBasis))), 'tx.invalid');
    assert.equal(attempt(w, w.orgB, log(event(w.clinicianB.id, w.otherPatient.id, consentBasis))), 'tx.invalid');
    const wrongKind = { ...consentBasis, basis: 'break-glass' } as Partial<AccessEvent>;
    assert.equal(attempt(w, w.orgB, log(event(w.clinicianB.id, w.patient.id, wrongKind))), 'tx.invalid');
    assert.equal(attempt(w, w.clinicianB, log(event(w.clinicianB.id, w.patient.id))), 'tx.unauthorized');
  });
});

describe('erasure.request and erasure.tombstone', () => {
  function setup(): { w: World; records: string[] } {
    const w = buildWorld();
    const records = [freshId('rec'), freshId('rec'), freshId('rec')];
    commitAll(w.ledger, [w.orgA.sign(recordCommit(w, w.patient.id, records))]);
    return { w, records };
  }
  const request = (w: World, records?: string[]): TxPayload => ({
    type: 'erasure.request',
    body: { id: freshId('ers'), patient: w.patient.id, custodian: w.orgA.id, ...(records && { records }) },
  });
  const tombstone = (req: string, erased: string[], retained: string[] = [], done = true): TxPayload => ({
    type: 'erasure.tombstone',
    body: {
      request: req,
      erased,
      retained: retained.map((record) => ({ record, reason: 'statutory-retention' as const })),
      done,
    },
  });

  test('the custodian erases what the patient asked, retains what it must, and erased records take no new versions', () => {
    const { w, records } = setup();
    const req = request(w);
    commitAll(w.ledger, [w.patient.sign(req)]);
    assert.equal(w.ledger.app.erasureRequest(idOf(req))?.status, 'requested');
    commitAll(w.ledger, [w.orgA.sign(tombstone(idOf(req), records.slice(0, 1), [], false))]);
    commitAll(w.ledger, [w.orgA.sign(tombstone(idOf(req), records.slice(1, 2), records.slice(2)))]);
    const done = w.ledger.app.erasureRequest(idOf(req));
    assert.deepEqual([done?.status, done?.erased, done?.retained], ['completed', 2, 1]);
    assert.equal(w.ledger.app.recordHead(records[0]!)?.erased, true);
    assert.equal(w.ledger.app.recordHead(records[2]!)?.erased, undefined, 'retained');
    assert.ok(w.ledger.app.recordVersion(records[0]!, 1)?.commitment, 'commitments stay for the log');
    const next: TxPayload = {
      type: 'record.commit',
      body: {
        author: w.clinicianA.id,
        custodian: w.orgA.id,
        entries: [{ record: records[0]!, version: 2, patient: w.patient.id, op: 'write', commitment: sha256(utf8('x')) }],
      },
    };
    assert.equal(attempt(w, w.orgA, next), 'state.conflict');
    assert.equal(attempt(w, w.orgA, tombstone(idOf(req), [])), 'state.conflict', 'a completed request takes no more tombstones');
  });

  test('refused: requests by others or for records the custodian does not hold; tombstones by others or outside the request', () => {
    const { w, records } = setup();
    assert.equal(attempt(w, w.orgA, request(w)), 'tx.unauthorized');
    assert.equal(
      attempt(w, w.otherPatient, { ...request(w), body: { ...request(w).body, patient: w.otherPatient.id } } as TxPayload),
      'ok',
    );
    assert.equal(attempt(w, w.patient, request(w, [freshId('rec')])), 'state.not_found');
    const req = request(w, records.slice(0, 2));
    commitAll(w.ledger, [w.patient.sign(req)]);
    assert.equal(attempt(w, w.orgB, tombstone(idOf(req), records.slice(0, 1))), 'tx.unauthorized');
    assert.equal(attempt(w, w.orgA, tombstone(idOf(req), records.slice(2))), 'tx.invalid');
    assert.equal(attempt(w, w.orgA, tombstone(freshId('ers'), records.slice(0, 1))), 'state.not_found');
    assert.equal(attempt(w, w.orgA, tombstone(idOf(req), records.slice(0, 2))), 'ok');
  });
});
