/**
 * The deterministic state machine (LedgerApplication) run entirely in memory: a Map is the
 * committed store, blocks are applied with finalizeBlock and committed by hand.
 *
 * Covers determinism of state roots, replay protection (sequence numbers, expiry, signer checks)
 * and the participant registry's authorization rules, each as permit and deny cases.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { toHex } from '../src/crypto/bytes.js';
import type { LedgerErrorCode } from '../src/ledger/errors.js';
import { decodeTx, type Expiry, type SignedTx, type TxPayload } from '../src/ledger/tx.js';
import { nextStateRoot } from '../src/state/application.js';
import {
  attempt,
  BLOCK_INTERVAL,
  buildWorld,
  CHAIN,
  changesHex,
  codeOf,
  commitAll,
  describeResult,
  FOUNDER,
  freshKey,
  GENESIS,
  GENESIS_TIME,
  hexOf,
  identity,
  keysFrom,
  MemoryLedger,
  mustFind,
  payload,
  pseudonym,
  submit,
  validatorIdentity,
  type World,
} from './support/memory-ledger.js';

// ---------------------------------------------------------------------------------------------
// Genesis
// ---------------------------------------------------------------------------------------------

describe('genesis state', () => {
  test('the founder exists as an active organization holding the genesis key', () => {
    const ledger = new MemoryLedger();
    const founder = mustFind(ledger, FOUNDER);
    assert.equal(founder.kind, 'organization');
    assert.equal(founder.status, 'active');
    assert.equal(founder.name, 'Test Hospital');
    assert.equal(founder.nextSeq, 0);
    assert.equal(hexOf(founder.key), hexOf(GENESIS.founder.key));
    assert.equal(ledger.app.info().height, 0);
    assert.equal(ledger.app.info().chain, CHAIN);
  });

  test('the genesis root depends on the genesis document', () => {
    const a = new MemoryLedger();
    const b = new MemoryLedger();
    const c = new MemoryLedger({ ...GENESIS, time: GENESIS_TIME + 1 });
    assert.equal(hexOf(a.root), hexOf(b.root));
    assert.notEqual(hexOf(a.root), hexOf(c.root));
  });
});

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

/** A fixed multi-block history touching every transaction type. */
function scriptedHistory(): { txs: SignedTx[]; time: number }[] {
  const orgA = identity(FOUNDER, 'founder');
  const orgB = identity('org_history-b');
  const admin = identity('prac_history-admin');
  const nurse = identity('prac_history-nurse');
  const patient = identity(pseudonym('pat', 'history-patient'));
  const device = identity(pseudonym('dev', 'history-device'));
  const t = (n: number): number => GENESIS_TIME + n * BLOCK_INTERVAL;
  const blocks = [
    {
      time: t(1),
      txs: [
        validatorIdentity().sign(payload.admitOrganization(orgB.id, orgB.publicKey)),
        orgA.sign(payload.practitioner(admin.id, admin.publicKey, orgA.id, ['registrar', 'admin'])),
      ],
    },
    {
      time: t(2),
      txs: [
        admin.sign(payload.practitioner(nurse.id, nurse.publicKey, orgA.id, ['nurse'])),
        admin.sign(payload.patient(patient.id, patient.publicKey)),
        orgB.sign(payload.patient(patient.id, keysFrom('dup').publicKey)), // fails: duplicate id
      ],
    },
    { time: t(3), txs: [nurse.sign(payload.device(device.id, device.publicKey, patient.id))] },
    { time: t(4), txs: [] },
  ];
  const rotated = keysFrom('history-patient-2');
  blocks.push({
    time: t(5),
    txs: [
      patient.sign(payload.rotateKey(patient.id, rotated.publicKey)),
      admin.sign(payload.setRoles(nurse.id, ['clinician', 'nurse'])),
      orgA.sign(payload.setStatus(nurse.id, 'suspended')),
    ],
  });
  patient.useKey(rotated);
  blocks.push({ time: t(6), txs: [patient.sign(payload.setStatus(device.id, 'revoked'))] });
  return blocks;
}

describe('determinism', () => {
  test('two independent applications fed the same blocks agree byte for byte on roots, changes and store', () => {
    const history = scriptedHistory();
    const a = new MemoryLedger();
    const b = new MemoryLedger();
    assert.equal(hexOf(a.root), hexOf(b.root));
    for (const { txs, time } of history) {
      // Ledger b gets its own decoded copies of the wire bytes, not the same objects.
      const copies = txs.map((tx) => {
        const decoded = decodeTx(tx.wire, CHAIN);
        assert.ok(decoded.ok);
        return decoded.value;
      });
      const outA = a.block(txs, time);
      const outB = b.block(copies, time);
      assert.deepStrictEqual(outA.results.map(codeOf), outB.results.map(codeOf));
      assert.deepStrictEqual(changesHex(outA.changes), changesHex(outB.changes));
      assert.equal(hexOf(outA.stateRoot), hexOf(outB.stateRoot));
    }
    assert.deepStrictEqual(a.snapshot(), b.snapshot());
    assert.equal(a.participant(pseudonym('dev', 'history-device'))?.status, 'revoked');
  });

  test('the state root follows the documented hash chain over sorted changes', () => {
    const ledger = new MemoryLedger();
    let previous = ledger.root;
    for (const { txs, time } of scriptedHistory()) {
      const height = ledger.height + 1;
      const outcome = ledger.block(txs, time);
      const keys = outcome.changes.map((c) => c.key);
      assert.deepStrictEqual(
        keys,
        [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
      );
      assert.equal(hexOf(outcome.stateRoot), hexOf(nextStateRoot(previous, height, outcome.changes)));
      previous = outcome.stateRoot;
    }
  });

  test('a different transaction order gives a different root when it changes the outcome', () => {
    // Two organizations race to enroll the same pseudonym: whoever comes first wins.
    const contested = pseudonym('pat', 'contested');
    const build = (): { fromA: SignedTx; fromB: SignedTx; ledger: MemoryLedger } => {
      const w = buildWorld();
      return {
        ledger: w.ledger,
        fromA: w.orgA.sign(payload.patient(contested, keysFrom('contested-a').publicKey)),
        fromB: w.orgB.sign(payload.patient(contested, keysFrom('contested-b').publicKey)),
      };
    };
    const first = build();
    const second = build();
    const ab = first.ledger.block([first.fromA, first.fromB]);
    const ba = second.ledger.block([second.fromB, second.fromA]);
    assert.deepStrictEqual(ab.results.map(codeOf), ['ok', 'state.conflict']);
    assert.deepStrictEqual(ba.results.map(codeOf), ['ok', 'state.conflict']);
    assert.equal(first.ledger.participant(contested)?.registeredBy, FOUNDER);
    assert.equal(second.ledger.participant(contested)?.registeredBy, 'org_other-clinic');
    assert.notEqual(hexOf(ab.stateRoot), hexOf(ba.stateRoot));
  });

  test('a different order of one signer’s transactions changes the root (sequence numbers)', () => {
    const first = buildWorld();
    const second = buildWorld();
    const make = (w: World): SignedTx[] => [
      w.orgA.sign(payload.patient(pseudonym('pat', 'seq-1'), keysFrom('seq-1').publicKey)),
      w.orgA.sign(payload.patient(pseudonym('pat', 'seq-2'), keysFrom('seq-2').publicKey)),
    ];
    const [s0, s1] = make(first) as [SignedTx, SignedTx];
    const [t0, t1] = make(second) as [SignedTx, SignedTx];
    const inOrder = first.ledger.block([s0, s1]);
    const swapped = second.ledger.block([t1, t0]);
    assert.deepStrictEqual(inOrder.results.map(codeOf), ['ok', 'ok']);
    assert.deepStrictEqual(swapped.results.map(codeOf), ['tx.sequence_gap', 'ok']);
    assert.notEqual(hexOf(inOrder.stateRoot), hexOf(swapped.stateRoot));
  });

  test('independent transactions commute: the root commits to the resulting state, not the order', () => {
    const first = buildWorld();
    const second = buildWorld();
    const make = (w: World): [SignedTx, SignedTx] => [
      w.orgA.sign(payload.patient(pseudonym('pat', 'commute-a'), keysFrom('commute-a').publicKey)),
      w.orgB.sign(payload.patient(pseudonym('pat', 'commute-b'), keysFrom('commute-b').publicKey)),
    ];
    const [a1, b1] = make(first);
    const [a2, b2] = make(second);
    const ab = first.ledger.block([a1, b1]);
    const ba = second.ledger.block([b2, a2]);
    assert.deepStrictEqual([...ab.results, ...ba.results].map(codeOf), ['ok', 'ok', 'ok', 'ok']);
    assert.equal(hexOf(ab.stateRoot), hexOf(ba.stateRoot));
  });

  test('a different block time gives a different root when it changes state (time-based expiry)', () => {
    const first = buildWorld();
    const second = buildWorld();
    const deadline = first.ledger.time + 5_000;
    const make = (w: World): SignedTx =>
      w.orgA.sign(payload.patient(pseudonym('pat', 'deadline'), keysFrom('deadline').publicKey), { time: deadline });
    const onTime = first.ledger.block([make(first)], deadline);
    const late = second.ledger.block([make(second)], deadline + 1);
    assert.equal(codeOf(onTime.results[0]!), 'ok');
    assert.equal(codeOf(late.results[0]!), 'tx.expired');
    assert.notEqual(hexOf(onTime.stateRoot), hexOf(late.stateRoot));
  });

  test('block time alone is not part of the state: no time-dependent tx, same root', () => {
    const first = buildWorld();
    const second = buildWorld();
    const make = (w: World): SignedTx =>
      w.orgA.sign(payload.patient(pseudonym('pat', 'timeless'), keysFrom('timeless').publicKey));
    const early = first.ledger.block([make(first)], first.ledger.time + 1);
    const later = second.ledger.block([make(second)], second.ledger.time + 86_400_000);
    assert.equal(hexOf(early.stateRoot), hexOf(later.stateRoot));
  });

  test('the same changes at another height give another root (the root chains the height)', () => {
    const first = buildWorld();
    const second = buildWorld();
    second.ledger.block([]);
    // set_status records no height, so the change set is identical at both heights.
    const make = (w: World): SignedTx => w.orgA.sign(payload.setStatus(w.clinicianA.id, 'suspended'));
    const a = first.ledger.block([make(first)]);
    const b = second.ledger.block([make(second)]);
    assert.deepStrictEqual(changesHex(a.changes), changesHex(b.changes));
    assert.notEqual(hexOf(a.stateRoot), hexOf(b.stateRoot));
  });

  test('property: random registration sequences give identical roots on two replicas and match a model', () => {
    type SignerSlot = 'org' | 'registrar' | 'clinician';
    type Op =
      | { op: 'patient'; signer: SignerSlot; id: number; key: number }
      | { op: 'device'; signer: SignerSlot; id: number; key: number; patient: number }
      | { op: 'replay'; pick: number };
    const ID_SLOTS = 4;
    const KEY_SLOTS = 5; // the last slot is the founder's own key
    const signerArb = fc.constantFrom<SignerSlot>('org', 'registrar', 'clinician');
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        op: fc.constant('patient' as const),
        signer: signerArb,
        id: fc.nat(ID_SLOTS - 1),
        key: fc.nat(KEY_SLOTS - 1),
      }),
      fc.record({
        op: fc.constant('device' as const),
        signer: signerArb,
        id: fc.nat(ID_SLOTS - 1),
        key: fc.nat(KEY_SLOTS - 1),
        patient: fc.nat(ID_SLOTS - 1),
      }),
      fc.record({ op: fc.constant('replay' as const), pick: fc.nat() }),
    );
    const blocksArb = fc.array(fc.record({ ops: fc.array(opArb, { maxLength: 6 }), gap: fc.integer({ min: 0, max: 10_000 }) }), {
      minLength: 1,
      maxLength: 6,
    });

    fc.assert(
      fc.property(fc.integer(), blocksArb, (runSeed, blocks) => {
        const tag = (s: string): string => `${runSeed}:${s}`;
        const replicaA = new MemoryLedger();
        const replicaB = new MemoryLedger();
        const org = identity(FOUNDER, 'founder');
        const registrar = identity('prac_prop-registrar', tag('registrar'));
        const clinician = identity('prac_prop-clinician', tag('clinician'));
        const setup = [
          org.sign(payload.practitioner(registrar.id, registrar.publicKey, org.id, ['registrar'])),
          org.sign(payload.practitioner(clinician.id, clinician.publicKey, org.id, ['clinician'])),
        ];
        commitAll(replicaA, setup);
        commitAll(replicaB, setup);

        const signers: Record<SignerSlot, Identity> = { org, registrar, clinician };
        const patientIds = Array.from({ length: ID_SLOTS }, (_, i) => pseudonym('pat', tag(`p${i}`)));
        const deviceIds = Array.from({ length: ID_SLOTS }, (_, i) => pseudonym('dev', tag(`d${i}`)));
        const keys = [...Array.from({ length: KEY_SLOTS - 1 }, (_, i) => keysFrom(tag(`k${i}`)).publicKey), org.publicKey];
        // The model: which ids exist and which keys are taken.
        const ids = new Set<string>([org.id, registrar.id, clinician.id]);
        const usedKeys = new Set<string>([org.publicKey, registrar.publicKey, clinician.publicKey].map(toHex));
        const applied: SignedTx[] = [];
        let time = replicaA.time;

        for (const block of blocks) {
          const txs: SignedTx[] = [];
          const expected: (LedgerErrorCode | 'ok')[] = [];
          for (const op of block.ops) {
            if (op.op === 'replay') {
              if (applied.length === 0) continue;
              txs.push(applied[op.pick % applied.length]!);
              expected.push('tx.replayed');
              continue;
            }
            const signer = signers[op.signer];
            const key = keys[op.key]!;
            let outcome: LedgerErrorCode | 'ok';
            let tx: SignedTx;
            if (op.op === 'patient') {
              const id = patientIds[op.id]!;
              tx = signer.sign(payload.patient(id, key));
              outcome = ids.has(id)
                ? 'state.conflict'
                : op.signer === 'clinician'
                  ? 'tx.unauthorized'
                  : usedKeys.has(toHex(key))
                    ? 'state.conflict'
                    : 'ok';
              if (outcome === 'ok') ids.add(id);
            } else {
              const id = deviceIds[op.id]!;
              const patient = patientIds[op.patient]!;
              tx = signer.sign(payload.device(id, key, patient));
              outcome = ids.has(id)
                ? 'state.conflict'
                : !ids.has(patient)
                  ? 'state.not_found'
                  : op.signer === 'registrar'
                    ? 'tx.unauthorized'
                    : usedKeys.has(toHex(key))
                      ? 'state.conflict'
                      : 'ok';
              if (outcome === 'ok') ids.add(id);
            }
            if (outcome === 'ok') {
              usedKeys.add(toHex(key));
              applied.push(tx);
            } else {
              signer.setNextSeq(signer.nextSeq - 1); // a failed tx does not consume its sequence number
            }
            txs.push(tx);
            expected.push(outcome);
          }
          time += block.gap;
          const outA = replicaA.block(txs, time);
          const outB = replicaB.block(txs, time);
          assert.deepStrictEqual(outA.results.map(codeOf), expected);
          assert.deepStrictEqual(outB.results.map(codeOf), expected);
          assert.deepStrictEqual(changesHex(outA.changes), changesHex(outB.changes));
          assert.equal(hexOf(outA.stateRoot), hexOf(outB.stateRoot));
          if (expected.every((e) => e !== 'ok')) assert.deepStrictEqual(outA.changes, []);
        }
        assert.deepStrictEqual(replicaA.snapshot(), replicaB.snapshot());
        for (const [slot, signer] of Object.entries(signers)) {
          assert.equal(replicaA.participant(signer.id)?.nextSeq, signer.nextSeq, `nextSeq of ${slot}`);
        }
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Replay protection and signer checks
// ---------------------------------------------------------------------------------------------

describe('replay protection', () => {
  test('the same transaction in a later block → tx.replayed', () => {
    const w = buildWorld();
    const tx = w.orgA.sign(payload.patient(pseudonym('pat', 'once'), freshKey()));
    assert.equal(submit(w.ledger, tx), 'ok');
    const before = w.ledger.snapshot();
    assert.equal(submit(w.ledger, tx), 'tx.replayed');
    assert.deepStrictEqual(w.ledger.snapshot(), before);
  });

  test('the same transaction twice in one block applies once; the copy is tx.replayed', () => {
    const w = buildWorld();
    const tx = w.orgA.sign(payload.patient(pseudonym('pat', 'twice'), freshKey()));
    const outcome = w.ledger.block([tx, tx]);
    assert.deepStrictEqual(outcome.results.map(codeOf), ['ok', 'tx.replayed']);
    assert.equal(mustFind(w.ledger, w.orgA.id).nextSeq, w.orgA.nextSeq);
  });

  test('an old sequence number with a new payload is still tx.replayed', () => {
    const w = buildWorld();
    const used = w.orgA.nextSeq - 1;
    w.orgA.setNextSeq(used);
    assert.equal(submit(w.ledger, w.orgA.sign(payload.patient(pseudonym('pat', 'old-seq'), freshKey()))), 'tx.replayed');
  });

  test('a sequence number ahead of the next one → tx.sequence_gap; it applies once the gap is filled', () => {
    const w = buildWorld();
    const next = w.orgA.nextSeq;
    w.orgA.setNextSeq(next + 1);
    const ahead = w.orgA.sign(payload.patient(pseudonym('pat', 'ahead'), freshKey()));
    assert.equal(submit(w.ledger, ahead), 'tx.sequence_gap');
    assert.equal(mustFind(w.ledger, w.orgA.id).nextSeq, next);
    w.orgA.setNextSeq(next);
    const filler = w.orgA.sign(payload.patient(pseudonym('pat', 'filler'), freshKey()));
    const outcome = w.ledger.block([filler, ahead]);
    assert.deepStrictEqual(outcome.results.map(codeOf), ['ok', 'ok']);
    assert.equal(mustFind(w.ledger, w.orgA.id).nextSeq, next + 2);
  });

  test('checkTx (mempool admission) rejects used sequence numbers but lets future ones wait', () => {
    const w = buildWorld();
    const next = w.orgA.nextSeq;
    w.orgA.setNextSeq(next - 1);
    assert.equal(codeOf(w.ledger.app.checkTx(w.orgA.sign(payload.patient(pseudonym('pat', 'c1'), freshKey())))), 'tx.replayed');
    assert.equal(codeOf(w.ledger.app.checkTx(w.orgA.sign(payload.patient(pseudonym('pat', 'c2'), freshKey())))), 'ok');
    w.orgA.setNextSeq(next + 5);
    assert.equal(codeOf(w.ledger.app.checkTx(w.orgA.sign(payload.patient(pseudonym('pat', 'c3'), freshKey())))), 'ok');
    const stranger = identity(pseudonym('pat', 'never-registered'));
    assert.equal(codeOf(w.ledger.app.checkTx(stranger.sign(payload.setStatus(stranger.id, 'revoked')))), 'tx.unknown_signer');
    const impostor = new Identity(CHAIN, FOUNDER, keysFrom('impostor'), next);
    assert.equal(
      codeOf(w.ledger.app.checkTx(impostor.sign(payload.patient(pseudonym('pat', 'c4'), freshKey())))),
      'tx.key_mismatch',
    );
  });

  const expiryCases: {
    name: string;
    expires: (ledger: MemoryLedger) => Expiry;
    time?: (ledger: MemoryLedger) => number;
    expected: LedgerErrorCode | 'ok';
  }[] = [
    {
      name: 'expiry height = the block’s height is still valid',
      expires: (l) => ({ height: l.height + 1 }),
      expected: 'ok',
    },
    {
      name: 'expiry height below the block’s height → tx.expired',
      expires: (l) => ({ height: l.height }),
      expected: 'tx.expired',
    },
    { name: 'expiry height 0 → tx.expired', expires: () => ({ height: 0 }), expected: 'tx.expired' },
    {
      name: 'expiry time = the block’s time is still valid',
      expires: (l) => ({ time: l.time + 500 }),
      time: (l) => l.time + 500,
      expected: 'ok',
    },
    {
      name: 'expiry time 1 ms before the block’s time → tx.expired',
      expires: (l) => ({ time: l.time + 499 }),
      time: (l) => l.time + 500,
      expected: 'tx.expired',
    },
    {
      name: 'height fine but time past → tx.expired',
      expires: (l) => ({ height: l.height + 100, time: l.time }),
      time: (l) => l.time + 1,
      expected: 'tx.expired',
    },
    {
      name: 'time fine but height past → tx.expired',
      expires: (l) => ({ height: l.height, time: l.time + 10_000 }),
      time: (l) => l.time + 1,
      expected: 'tx.expired',
    },
  ];
  for (const c of expiryCases) {
    test(c.name, () => {
      const w = buildWorld();
      const seq = w.orgA.nextSeq;
      const tx = w.orgA.sign(payload.patient(pseudonym('pat', `exp-${c.name}`), freshKey()), c.expires(w.ledger));
      const before = w.ledger.snapshot();
      assert.equal(submit(w.ledger, tx, c.time?.(w.ledger)), c.expected);
      if (c.expected !== 'ok') {
        assert.deepStrictEqual(w.ledger.snapshot(), before, 'an expired tx changes nothing');
        assert.equal(mustFind(w.ledger, w.orgA.id).nextSeq, seq, 'an expired tx does not consume its sequence number');
      }
    });
  }

  test('unknown signer → tx.unknown_signer', () => {
    const w = buildWorld();
    const ghost = identity(pseudonym('pat', 'ghost'));
    assert.equal(submit(w.ledger, ghost.sign(payload.rotateKey(ghost.id, freshKey()))), 'tx.unknown_signer');
    const ghostOrg = identity('org_ghost');
    assert.equal(submit(w.ledger, ghostOrg.sign(payload.patient(pseudonym('pat', 'g'), freshKey()))), 'tx.unknown_signer');
  });

  test('a key that is not the signer’s current key → tx.key_mismatch', () => {
    const w = buildWorld();
    // Someone else's (registered) key, and a never-registered key.
    const withClinicianKey = new Identity(CHAIN, w.orgA.id, keysFrom('prac_clinician-a'), w.orgA.nextSeq);
    assert.equal(
      submit(w.ledger, withClinicianKey.sign(payload.patient(pseudonym('pat', 'km1'), freshKey()))),
      'tx.key_mismatch',
    );
    const withRandomKey = new Identity(CHAIN, w.patient.id, keysFrom('random'), w.patient.nextSeq);
    assert.equal(submit(w.ledger, withRandomKey.sign(payload.rotateKey(w.patient.id, freshKey()))), 'tx.key_mismatch');
  });

  test('suspended and revoked signers → tx.signer_inactive', () => {
    const w = buildWorld();
    commitAll(w.ledger, [
      w.orgA.sign(payload.setStatus(w.clinicianA.id, 'suspended')),
      w.orgA.sign(payload.setStatus(w.registrarA.id, 'revoked')),
    ]);
    assert.equal(
      submit(w.ledger, w.clinicianA.sign(payload.device(pseudonym('dev', 's1'), freshKey(), w.patient.id))),
      'tx.signer_inactive',
    );
    assert.equal(submit(w.ledger, w.registrarA.sign(payload.patient(pseudonym('pat', 's2'), freshKey()))), 'tx.signer_inactive');
  });

  test('a block of only failed transactions changes no state and consumes no sequence number', () => {
    const w = buildWorld();
    const before = w.ledger.snapshot();
    const previousRoot = w.ledger.root;
    const seqs = { orgA: w.orgA.nextSeq, clinicianA: w.clinicianA.nextSeq, patient: w.patient.nextSeq };
    const ghost = identity(pseudonym('pat', 'ghost'));
    const failing = [
      w.clinicianA.sign(payload.patient(pseudonym('pat', 'f1'), freshKey())), // unauthorized
      w.orgA.sign(payload.patient(w.patient.id, freshKey())), // duplicate id
      w.patient.sign(payload.rotateKey(w.patient.id, w.orgB.publicKey)), // key already in use
      w.orgA.sign(payload.patient(pseudonym('pat', 'f2'), freshKey()), { height: 0 }), // expired
      ghost.sign(payload.setStatus(ghost.id, 'revoked')), // unknown signer
    ];
    const height = w.ledger.height + 1;
    const outcome = w.ledger.block(failing);
    assert.deepStrictEqual(outcome.results.map(codeOf), [
      'tx.unauthorized',
      'state.conflict',
      'state.conflict',
      'tx.expired', // expiry is checked before the sequence number
      'tx.unknown_signer',
    ]);
    assert.deepStrictEqual(outcome.changes, []);
    assert.deepStrictEqual(w.ledger.snapshot(), before);
    // The root advances only as the hash chain of an empty block would.
    assert.equal(hexOf(outcome.stateRoot), hexOf(nextStateRoot(previousRoot, height, [])));
    const emptyTwin = buildWorld();
    assert.equal(hexOf(emptyTwin.ledger.block([]).stateRoot), hexOf(outcome.stateRoot));
    assert.equal(mustFind(w.ledger, w.orgA.id).nextSeq, seqs.orgA);
    assert.equal(mustFind(w.ledger, w.clinicianA.id).nextSeq, seqs.clinicianA);
    assert.equal(mustFind(w.ledger, w.patient.id).nextSeq, seqs.patient);
    // The unused sequence numbers are still available.
    w.clinicianA.setNextSeq(seqs.clinicianA);
    w.orgA.setNextSeq(seqs.orgA);
    commitAll(w.ledger, [
      w.clinicianA.sign(payload.device(pseudonym('dev', 'f3'), freshKey(), w.patient.id)),
      w.orgA.sign(payload.patient(pseudonym('pat', 'f4'), freshKey())),
    ]);
  });

  test('a failed transaction between successful ones leaves the block as if it were absent', () => {
    const withFailure = buildWorld();
    const without = buildWorld();
    const good = (w: World): SignedTx[] => [
      w.orgA.sign(payload.patient(pseudonym('pat', 'mid-1'), keysFrom('mid-1').publicKey)),
      w.registrarA.sign(payload.patient(pseudonym('pat', 'mid-2'), keysFrom('mid-2').publicKey)),
    ];
    const [g1, g2] = good(withFailure) as [SignedTx, SignedTx];
    // A device registration that fails on its key (already held by org A), between two successes.
    const bad = withFailure.patient.sign(
      payload.device(pseudonym('dev', 'mid'), withFailure.orgA.publicKey, withFailure.patient.id),
    );
    const a = withFailure.ledger.block([g1, bad, g2]);
    const b = without.ledger.block(good(without));
    assert.deepStrictEqual(a.results.map(codeOf), ['ok', 'state.conflict', 'ok']);
    assert.deepStrictEqual(changesHex(a.changes), changesHex(b.changes));
    assert.equal(hexOf(a.stateRoot), hexOf(b.stateRoot));
  });
});

// ---------------------------------------------------------------------------------------------
// Registry authorization: a table of permit and deny cases
// ---------------------------------------------------------------------------------------------

interface AuthCase {
  readonly name: string;
  readonly signer: (w: World) => Identity;
  readonly payload: (w: World) => TxPayload;
  readonly expected: LedgerErrorCode | 'ok';
}

const AUTH_CASES: readonly AuthCase[] = [
  // Registering practitioners
  {
    name: 'org registers a practitioner of itself',
    signer: (w) => w.orgA,
    payload: (w) => payload.practitioner('prac_new', freshKey(), w.orgA.id, ['nurse']),
    expected: 'ok',
  },
  {
    name: 'org registers a practitioner of another org',
    signer: (w) => w.orgB,
    payload: (w) => payload.practitioner('prac_new', freshKey(), w.orgA.id, ['nurse']),
    expected: 'tx.unauthorized',
  },
  {
    name: 'admin practitioner registers a practitioner in its own org',
    signer: (w) => w.adminA,
    payload: (w) => payload.practitioner('prac_new', freshKey(), w.orgA.id, ['clinician', 'admin']),
    expected: 'ok',
  },
  {
    name: 'admin practitioner registers a practitioner in another org',
    signer: (w) => w.adminA,
    payload: (w) => payload.practitioner('prac_new', freshKey(), w.orgB.id, ['clinician']),
    expected: 'tx.unauthorized',
  },
  {
    name: 'clinician (not admin) registers a practitioner in its own org',
    signer: (w) => w.clinicianA,
    payload: (w) => payload.practitioner('prac_new', freshKey(), w.orgA.id, ['nurse']),
    expected: 'tx.unauthorized',
  },
  {
    name: 'patient registers a practitioner',
    signer: (w) => w.patient,
    payload: (w) => payload.practitioner('prac_new', freshKey(), w.orgA.id, ['nurse']),
    expected: 'tx.unauthorized',
  },
  {
    name: 'practitioner for an organization that does not exist',
    signer: (w) => w.orgA,
    payload: () => payload.practitioner('prac_new', freshKey(), 'org_nowhere', ['nurse']),
    expected: 'state.not_found',
  },
  // Registering patients
  {
    name: 'registrar registers a patient',
    signer: (w) => w.registrarA,
    payload: () => payload.patient(pseudonym('pat', 'new'), freshKey()),
    expected: 'ok',
  },
  {
    name: 'organization registers a patient',
    signer: (w) => w.orgB,
    payload: () => payload.patient(pseudonym('pat', 'new'), freshKey()),
    expected: 'ok',
  },
  {
    name: 'admin practitioner registers a patient',
    signer: (w) => w.adminA,
    payload: () => payload.patient(pseudonym('pat', 'new'), freshKey()),
    expected: 'ok',
  },
  {
    name: 'clinician without the registrar role registers a patient',
    signer: (w) => w.clinicianA,
    payload: () => payload.patient(pseudonym('pat', 'new'), freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'analyst registers a patient',
    signer: (w) => w.analystA,
    payload: () => payload.patient(pseudonym('pat', 'new'), freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'patient registers another patient',
    signer: (w) => w.patient,
    payload: () => payload.patient(pseudonym('pat', 'new'), freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'device registers a patient',
    signer: (w) => w.device,
    payload: () => payload.patient(pseudonym('pat', 'new'), freshKey()),
    expected: 'tx.unauthorized',
  },
  // Registering devices
  {
    name: 'patient registers its own device',
    signer: (w) => w.patient,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'ok',
  },
  {
    name: 'clinician of the organization that enrolled the patient registers a device',
    signer: (w) => w.clinicianA,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'ok',
  },
  {
    name: 'organization that enrolled the patient registers a device',
    signer: (w) => w.orgA,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'ok',
  },
  {
    name: 'clinician of another organization, without a consent, registers a device',
    signer: (w) => w.clinicianB,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'tx.unauthorized',
  },
  {
    name: 'another organization, without a consent, registers a device',
    signer: (w) => w.orgB,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'tx.unauthorized',
  },
  {
    name: 'registrar of the enrolling organization registers a device (not a care role)',
    signer: (w) => w.registrarA,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'tx.unauthorized',
  },
  {
    name: 'stranger patient registers a device for someone else',
    signer: (w) => w.otherPatient,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'tx.unauthorized',
  },
  {
    name: 'analyst registers a device',
    signer: (w) => w.analystA,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'tx.unauthorized',
  },
  {
    name: 'device registers another device',
    signer: (w) => w.device,
    payload: (w) => payload.device(pseudonym('dev', 'new'), freshKey(), w.patient.id),
    expected: 'tx.unauthorized',
  },
  {
    name: 'device for a patient that does not exist',
    signer: (w) => w.orgA,
    payload: () => payload.device(pseudonym('dev', 'new'), freshKey(), pseudonym('pat', 'nobody')),
    expected: 'state.not_found',
  },
  // Registering organizations
  {
    name: 'organization admits another organization (only governance may)',
    signer: (w) => w.orgB,
    payload: () => payload.organization('org_third', freshKey(), 'Third Clinic'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'organization signs a governance proposal (only validators may)',
    signer: (w) => w.orgA,
    payload: () => payload.admitOrganization('org_third', freshKey(), 'Third Clinic'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'organization suspends another organization (only governance may)',
    signer: (w) => w.orgA,
    payload: (w) => payload.setStatus(w.orgB.id, 'suspended'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'admin practitioner admits an organization',
    signer: (w) => w.adminA,
    payload: () => payload.organization('org_third', freshKey(), 'Third Clinic'),
    expected: 'tx.unauthorized',
  },
  // Conflicts
  {
    name: 'duplicate id (patient enrolled twice)',
    signer: (w) => w.orgA,
    payload: (w) => payload.patient(w.patient.id, freshKey()),
    expected: 'state.conflict',
  },
  {
    name: 'duplicate id (practitioner registered twice)',
    signer: (w) => w.orgA,
    payload: (w) => payload.practitioner(w.clinicianA.id, freshKey(), w.orgA.id, ['nurse']),
    expected: 'state.conflict',
  },
  {
    name: 'reused key of another participant',
    signer: (w) => w.registrarA,
    payload: (w) => payload.patient(pseudonym('pat', 'new'), w.patient.publicKey),
    expected: 'state.conflict',
  },
  {
    name: 'reused key of the signer itself',
    signer: (w) => w.orgA,
    payload: (w) => payload.patient(pseudonym('pat', 'new'), w.orgA.publicKey),
    expected: 'state.conflict',
  },
  // rotate_key
  {
    name: 'patient re-keys itself',
    signer: (w) => w.patient,
    payload: (w) => payload.rotateKey(w.patient.id, freshKey()),
    expected: 'ok',
  },
  {
    name: 'practitioner re-keys itself',
    signer: (w) => w.clinicianA,
    payload: (w) => payload.rotateKey(w.clinicianA.id, freshKey()),
    expected: 'ok',
  },
  {
    name: 'organization re-keys itself',
    signer: (w) => w.orgA,
    payload: (w) => payload.rotateKey(w.orgA.id, freshKey()),
    expected: 'ok',
  },
  {
    name: 'managing org re-keys its practitioner',
    signer: (w) => w.orgA,
    payload: (w) => payload.rotateKey(w.clinicianA.id, freshKey()),
    expected: 'ok',
  },
  {
    name: 'admin re-keys a practitioner of its org',
    signer: (w) => w.adminA,
    payload: (w) => payload.rotateKey(w.clinicianA.id, freshKey()),
    expected: 'ok',
  },
  {
    name: 'another org re-keys a practitioner',
    signer: (w) => w.orgB,
    payload: (w) => payload.rotateKey(w.clinicianA.id, freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'colleague without admin re-keys a practitioner',
    signer: (w) => w.registrarA,
    payload: (w) => payload.rotateKey(w.clinicianA.id, freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'another org re-keys a patient',
    signer: (w) => w.orgB,
    payload: (w) => payload.rotateKey(w.patient.id, freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'the enrolling registrar re-keys a patient',
    signer: (w) => w.registrarA,
    payload: (w) => payload.rotateKey(w.patient.id, freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'the enrolling org re-keys a patient',
    signer: (w) => w.orgA,
    payload: (w) => payload.rotateKey(w.otherPatient.id, freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 'patient re-keys its device',
    signer: (w) => w.patient,
    payload: (w) => payload.rotateKey(w.device.id, freshKey()),
    expected: 'ok',
  },
  {
    name: 'stranger patient re-keys a device',
    signer: (w) => w.otherPatient,
    payload: (w) => payload.rotateKey(w.device.id, freshKey()),
    expected: 'tx.unauthorized',
  },
  {
    name: 're-key to a key that is already registered',
    signer: (w) => w.patient,
    payload: (w) => payload.rotateKey(w.patient.id, w.otherPatient.publicKey),
    expected: 'state.conflict',
  },
  {
    name: 're-key to the current key',
    signer: (w) => w.patient,
    payload: (w) => payload.rotateKey(w.patient.id, w.patient.publicKey),
    expected: 'state.conflict',
  },
  {
    name: 're-key a participant that does not exist',
    signer: (w) => w.orgA,
    payload: () => payload.rotateKey('prac_nobody', freshKey()),
    expected: 'state.not_found',
  },
  // set_status
  {
    name: 'org suspends its practitioner',
    signer: (w) => w.orgA,
    payload: (w) => payload.setStatus(w.clinicianA.id, 'suspended'),
    expected: 'ok',
  },
  {
    name: 'admin suspends a practitioner of its org',
    signer: (w) => w.adminA,
    payload: (w) => payload.setStatus(w.clinicianA.id, 'suspended'),
    expected: 'ok',
  },
  {
    name: 'another org suspends a practitioner',
    signer: (w) => w.orgB,
    payload: (w) => payload.setStatus(w.clinicianA.id, 'suspended'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'org suspends a patient',
    signer: (w) => w.orgA,
    payload: (w) => payload.setStatus(w.otherPatient.id, 'suspended'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'practitioner suspends itself',
    signer: (w) => w.clinicianA,
    payload: (w) => payload.setStatus(w.clinicianA.id, 'suspended'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'practitioner revokes itself',
    signer: (w) => w.clinicianA,
    payload: (w) => payload.setStatus(w.clinicianA.id, 'revoked'),
    expected: 'ok',
  },
  {
    name: 'patient revokes itself',
    signer: (w) => w.patient,
    payload: (w) => payload.setStatus(w.patient.id, 'revoked'),
    expected: 'ok',
  },
  {
    name: 'patient suspends itself',
    signer: (w) => w.patient,
    payload: (w) => payload.setStatus(w.patient.id, 'suspended'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'patient revokes its device',
    signer: (w) => w.patient,
    payload: (w) => payload.setStatus(w.device.id, 'revoked'),
    expected: 'ok',
  },
  {
    name: 'organization revokes itself (only the validators remove an organization)',
    signer: (w) => w.orgB,
    payload: (w) => payload.setStatus(w.orgB.id, 'revoked'),
    expected: 'tx.unauthorized',
  },
  {
    name: 'setting the status a participant already has',
    signer: (w) => w.orgA,
    payload: (w) => payload.setStatus(w.clinicianA.id, 'active'),
    expected: 'state.conflict',
  },
  {
    name: 'status of a participant that does not exist',
    signer: (w) => w.orgA,
    payload: () => payload.setStatus('prac_nobody', 'suspended'),
    expected: 'state.not_found',
  },
  // set_roles
  {
    name: 'managing org sets roles of its practitioner',
    signer: (w) => w.orgA,
    payload: (w) => payload.setRoles(w.clinicianA.id, ['clinician', 'registrar']),
    expected: 'ok',
  },
  {
    name: 'admin sets roles of a practitioner of its org',
    signer: (w) => w.adminA,
    payload: (w) => payload.setRoles(w.clinicianA.id, ['nurse']),
    expected: 'ok',
  },
  {
    name: 'another org sets roles of a practitioner',
    signer: (w) => w.orgB,
    payload: (w) => payload.setRoles(w.clinicianA.id, ['admin']),
    expected: 'tx.unauthorized',
  },
  {
    name: 'admin of another org sets roles',
    signer: (w) => w.clinicianB,
    payload: (w) => payload.setRoles(w.clinicianA.id, ['nurse']),
    expected: 'tx.unauthorized',
  },
  {
    name: 'practitioner without admin grants itself admin',
    signer: (w) => w.clinicianA,
    payload: (w) => payload.setRoles(w.clinicianA.id, ['clinician', 'admin']),
    expected: 'tx.unauthorized',
  },
  {
    name: 'roles for a patient (not a practitioner)',
    signer: (w) => w.orgA,
    payload: (w) => payload.setRoles(w.otherPatient.id, ['clinician']),
    expected: 'tx.invalid',
  },
  {
    name: 'roles for an organization (not a practitioner)',
    signer: (w) => w.orgA,
    payload: (w) => payload.setRoles(w.orgB.id, ['admin']),
    expected: 'tx.invalid',
  },
];

/** What an applied transaction must have done to the registry. */
function assertApplied(w: World, signer: Identity, p: TxPayload): void {
  switch (p.type) {
    case 'participant.register': {
      const created = mustFind(w.ledger, p.body.id);
      assert.equal(created.kind, p.body.kind);
      assert.equal(created.status, 'active');
      assert.equal(created.registeredBy, signer.id);
      assert.equal(created.registeredAt, w.ledger.height);
      assert.equal(created.nextSeq, 0);
      assert.equal(hexOf(created.key), hexOf(p.body.key));
      if (p.body.kind === 'practitioner') {
        assert.equal(created.org, p.body.org);
        assert.deepStrictEqual(created.roles, p.body.roles);
      }
      if (p.body.kind === 'device') assert.equal(created.patient, p.body.patient);
      break;
    }
    case 'participant.rotate_key': {
      const rotated = mustFind(w.ledger, p.body.id);
      assert.equal(hexOf(rotated.key), hexOf(p.body.key));
      assert.equal(rotated.keySince, w.ledger.height);
      assert.equal(rotated.rotations, 1);
      break;
    }
    case 'participant.set_status':
      assert.equal(mustFind(w.ledger, p.body.id).status, p.body.status);
      break;
    case 'participant.set_roles':
      assert.deepStrictEqual(mustFind(w.ledger, p.body.id).roles, p.body.roles);
      break;
  }
}

describe('registry authorization', () => {
  for (const c of AUTH_CASES) {
    const verdict = c.expected === 'ok' ? 'permitted' : `denied (${c.expected})`;
    test(`${c.name}: ${verdict}`, () => {
      const w = buildWorld();
      const signer = c.signer(w);
      const p = c.payload(w);
      const seqBefore = mustFind(w.ledger, signer.id).nextSeq;
      const before = w.ledger.snapshot();
      const outcome = w.ledger.block([signer.sign(p)]);
      const result = outcome.results[0]!;
      assert.equal(codeOf(result), c.expected, describeResult(result));
      if (c.expected === 'ok') {
        assertApplied(w, signer, p);
        assert.equal(mustFind(w.ledger, signer.id).nextSeq, seqBefore + 1);
      } else {
        assert.deepStrictEqual(outcome.changes, [], 'a denied tx writes nothing');
        assert.deepStrictEqual(w.ledger.snapshot(), before);
      }
    });
  }
});

describe('device registration by a care team', () => {
  // Org B's clinician has no tie to the patient (enrolled by org A's registrar) until a consent.
  const consentId = (tag: string): string => `cns_${tag.padEnd(26, 'a')}`;
  /** Registers a device for the patient. */
  const registerB = (w: World, signer: Identity = w.clinicianB): LedgerErrorCode | 'ok' =>
    attempt(w, signer, payload.device(randomPseudonym('dev'), freshKey(), w.patient.id));

  test('a treatment consent to the organization lets it and its clinicians register devices; revoking it stops them', () => {
    const w = buildWorld();
    assert.equal(registerB(w), 'tx.unauthorized');
    commitAll(w.ledger, [w.patient.sign(payload.grant(consentId('org'), w.patient.id, w.orgB.id))]);
    assert.equal(registerB(w), 'ok');
    assert.equal(registerB(w, w.orgB), 'ok');
    commitAll(w.ledger, [w.patient.sign(payload.revoke(consentId('org')))]);
    assert.equal(registerB(w), 'tx.unauthorized');
  });

  test('a consent to one practitioner covers that practitioner, not their organization', () => {
    const w = buildWorld();
    commitAll(w.ledger, [w.patient.sign(payload.grant(consentId('prac'), w.patient.id, w.clinicianB.id))]);
    assert.equal(registerB(w), 'ok');
    assert.equal(registerB(w, w.orgB), 'tx.unauthorized');
  });

  test('a consent for research, or one not covering Observations, or one not yet or no longer in force does not count', () => {
    const w = buildWorld();
    const now = w.ledger.time;
    commitAll(w.ledger, [
      w.patient.sign(payload.grant(consentId('research'), w.patient.id, w.orgB.id, { purpose: 'HRESCH' })),
      w.patient.sign(payload.grant(consentId('types'), w.patient.id, w.orgB.id, { types: ['AllergyIntolerance', 'Condition'] })),
      w.patient.sign(payload.grant(consentId('later'), w.patient.id, w.orgB.id, { from: now + 3_600_000 })),
      w.patient.sign(payload.grant(consentId('brief'), w.patient.id, w.orgB.id, { until: now + 2 * BLOCK_INTERVAL })),
    ]);
    w.ledger.block([]);
    w.ledger.block([]);
    assert.equal(registerB(w), 'tx.unauthorized');
    commitAll(w.ledger, [
      w.patient.sign(payload.grant(consentId('vitals'), w.patient.id, w.orgB.id, { types: ['Observation'] })),
    ]);
    assert.equal(registerB(w), 'ok');
  });

  test('another patient’s consent to the organization does not reach this patient', () => {
    const w = buildWorld();
    commitAll(w.ledger, [w.otherPatient.sign(payload.grant(consentId('other'), w.otherPatient.id, w.orgB.id))]);
    assert.equal(registerB(w), 'tx.unauthorized');
  });
});

// ---------------------------------------------------------------------------------------------
// Registry lifecycles
// ---------------------------------------------------------------------------------------------

describe('key rotation', () => {
  test('after rotation the old key is rejected (tx.key_mismatch) and the new one works', () => {
    const w = buildWorld();
    const newKeys = keysFrom('patient-rotated');
    const oldKey = w.patient.publicKey;
    assert.equal(submit(w.ledger, w.patient.sign(payload.rotateKey(w.patient.id, newKeys.publicKey))), 'ok');
    // Still signing with the old key:
    const stale = w.patient.sign(payload.rotateKey(w.patient.id, freshKey()));
    assert.equal(submit(w.ledger, stale), 'tx.key_mismatch');
    assert.equal(codeOf(w.ledger.app.checkTx(stale)), 'tx.key_mismatch');
    w.patient.setNextSeq(w.patient.nextSeq - 1);
    w.patient.useKey(newKeys);
    assert.equal(
      submit(w.ledger, w.patient.sign(payload.device(pseudonym('dev', 'after-rotation'), freshKey(), w.patient.id))),
      'ok',
    );
    const record = mustFind(w.ledger, w.patient.id);
    assert.equal(hexOf(record.key), hexOf(newKeys.publicKey));
    assert.equal(record.rotations, 1);
    assert.notEqual(hexOf(record.key), hexOf(oldKey));
  });

  test('a rotated-away key can never be registered again, nor rotated back to', () => {
    const w = buildWorld();
    const oldKey = w.patient.publicKey;
    const newKeys = keysFrom('patient-rotated');
    commitAll(w.ledger, [w.patient.sign(payload.rotateKey(w.patient.id, newKeys.publicKey))]);
    w.patient.useKey(newKeys);
    assert.equal(submit(w.ledger, w.registrarA.sign(payload.patient(pseudonym('pat', 'reuse'), oldKey))), 'state.conflict');
    w.registrarA.setNextSeq(w.registrarA.nextSeq - 1);
    const validator = validatorIdentity('validator', w.ledger.app.nextSeq(validatorIdentity().id));
    assert.equal(submit(w.ledger, validator.sign(payload.admitOrganization('org_reuse', oldKey))), 'state.conflict');
    assert.equal(submit(w.ledger, w.patient.sign(payload.rotateKey(w.patient.id, oldKey))), 'state.conflict');
    w.patient.setNextSeq(w.patient.nextSeq - 1);
    assert.equal(submit(w.ledger, w.clinicianA.sign(payload.rotateKey(w.clinicianA.id, oldKey))), 'state.conflict');
  });

  test('an org re-keys its practitioner; the practitioner must then use the new key', () => {
    const w = buildWorld();
    const newKeys = keysFrom('clinician-rotated');
    commitAll(w.ledger, [w.orgA.sign(payload.rotateKey(w.clinicianA.id, newKeys.publicKey))]);
    assert.equal(
      submit(w.ledger, w.clinicianA.sign(payload.device(pseudonym('dev', 'k1'), freshKey(), w.patient.id))),
      'tx.key_mismatch',
    );
    w.clinicianA.setNextSeq(w.clinicianA.nextSeq - 1);
    w.clinicianA.useKey(newKeys);
    assert.equal(submit(w.ledger, w.clinicianA.sign(payload.device(pseudonym('dev', 'k2'), freshKey(), w.patient.id))), 'ok');
  });

  test('rotation and a use of the new key in the same block: the second tx must carry the new key', () => {
    const w = buildWorld();
    const newKeys = keysFrom('same-block');
    const rotate = w.patient.sign(payload.rotateKey(w.patient.id, newKeys.publicKey));
    w.patient.useKey(newKeys);
    const use = w.patient.sign(payload.device(pseudonym('dev', 'same-block'), freshKey(), w.patient.id));
    assert.deepStrictEqual(w.ledger.block([rotate, use]).results.map(codeOf), ['ok', 'ok']);
  });
});

describe('status lifecycle', () => {
  test('suspend → txs fail with tx.signer_inactive → reactivate → txs work again', () => {
    const w = buildWorld();
    const attempt = (): SignedTx =>
      w.clinicianA.sign(payload.device(pseudonym('dev', `try-${w.clinicianA.nextSeq}`), freshKey(), w.patient.id));
    commitAll(w.ledger, [w.orgA.sign(payload.setStatus(w.clinicianA.id, 'suspended'))]);
    assert.equal(mustFind(w.ledger, w.clinicianA.id).status, 'suspended');
    const blocked = attempt();
    assert.equal(submit(w.ledger, blocked), 'tx.signer_inactive');
    assert.equal(codeOf(w.ledger.app.checkTx(blocked)), 'tx.signer_inactive');
    w.clinicianA.setNextSeq(w.clinicianA.nextSeq - 1);
    assert.equal(submit(w.ledger, w.orgA.sign(payload.setStatus(w.clinicianA.id, 'suspended'))), 'state.conflict');
    commitAll(w.ledger, [w.adminA.sign(payload.setStatus(w.clinicianA.id, 'active'))]);
    assert.equal(mustFind(w.ledger, w.clinicianA.id).status, 'active');
    assert.equal(submit(w.ledger, blocked), 'ok', 'the same signed tx is valid once the signer is active again');
  });

  test('a practitioner of an organization the validators removed cannot act', () => {
    const w = buildWorld();
    commitAll(w.ledger, [w.patient.sign(payload.grant('cns_' + 'b'.repeat(26), w.patient.id, w.orgB.id))]);
    const enroll = (): SignedTx =>
      w.clinicianB.sign(payload.device(pseudonym('dev', `b-${w.clinicianB.nextSeq}`), freshKey(), w.patient.id));
    assert.equal(submit(w.ledger, enroll()), 'ok');
    const validator = validatorIdentity('validator', w.ledger.app.nextSeq(validatorIdentity().id));
    commitAll(w.ledger, [validator.sign(payload.propose('gov_remove-b', { action: 'remove-organization', org: w.orgB.id }))]);
    assert.equal(mustFind(w.ledger, w.orgB.id).status, 'revoked');
    const blocked = enroll();
    assert.equal(submit(w.ledger, blocked), 'tx.signer_inactive');
    assert.equal(codeOf(w.ledger.app.checkTx(blocked)), 'tx.signer_inactive');
  });

  test('a device of a revoked patient cannot sign', () => {
    const w = buildWorld();
    commitAll(w.ledger, [w.patient.sign(payload.setStatus(w.patient.id, 'revoked'))]);
    assert.equal(submit(w.ledger, w.device.sign(payload.rotateKey(w.device.id, freshKey()))), 'tx.signer_inactive');
  });

  test('a suspension takes effect for the rest of the same block', () => {
    const w = buildWorld();
    const suspend = w.orgA.sign(payload.setStatus(w.clinicianA.id, 'suspended'));
    const attempt = w.clinicianA.sign(payload.device(pseudonym('dev', 'same-block'), freshKey(), w.patient.id));
    assert.deepStrictEqual(w.ledger.block([suspend, attempt]).results.map(codeOf), ['ok', 'tx.signer_inactive']);
    assert.equal(w.ledger.participant(pseudonym('dev', 'same-block')), undefined);
  });

  test('a suspended practitioner can still be managed: re-keyed and given roles by its org', () => {
    const w = buildWorld();
    commitAll(w.ledger, [w.orgA.sign(payload.setStatus(w.clinicianA.id, 'suspended'))]);
    commitAll(w.ledger, [
      w.orgA.sign(payload.rotateKey(w.clinicianA.id, freshKey())),
      w.orgA.sign(payload.setRoles(w.clinicianA.id, ['nurse'])),
    ]);
  });

  test('revocation is terminal: every later change is state.conflict and the signer is inactive', () => {
    const w = buildWorld();
    commitAll(w.ledger, [w.orgA.sign(payload.setStatus(w.clinicianA.id, 'revoked'))]);
    const later: [string, Identity, TxPayload][] = [
      ['reactivate', w.orgA, payload.setStatus(w.clinicianA.id, 'active')],
      ['suspend', w.orgA, payload.setStatus(w.clinicianA.id, 'suspended')],
      ['revoke again', w.adminA, payload.setStatus(w.clinicianA.id, 'revoked')],
      ['re-key', w.orgA, payload.rotateKey(w.clinicianA.id, freshKey())],
      ['set roles', w.adminA, payload.setRoles(w.clinicianA.id, ['admin'])],
    ];
    for (const [name, signer, p] of later) {
      const code = submit(w.ledger, signer.sign(p));
      signer.setNextSeq(signer.nextSeq - 1);
      assert.equal(code, 'state.conflict', name);
    }
    assert.equal(mustFind(w.ledger, w.clinicianA.id).status, 'revoked');
    assert.equal(submit(w.ledger, w.clinicianA.sign(payload.setStatus(w.clinicianA.id, 'revoked'))), 'tx.signer_inactive');
  });

  test('a participant can only revoke itself, and after that it cannot sign anything', () => {
    const w = buildWorld();
    const selfSuspend = w.patient.sign(payload.setStatus(w.patient.id, 'suspended'));
    assert.equal(submit(w.ledger, selfSuspend), 'tx.unauthorized');
    w.patient.setNextSeq(w.patient.nextSeq - 1);
    const selfActive = w.patient.sign(payload.setStatus(w.patient.id, 'active'));
    assert.equal(submit(w.ledger, selfActive), 'tx.unauthorized');
    w.patient.setNextSeq(w.patient.nextSeq - 1);
    assert.equal(submit(w.ledger, w.patient.sign(payload.setStatus(w.patient.id, 'revoked'))), 'ok');
    const record = mustFind(w.ledger, w.patient.id);
    assert.equal(record.status, 'revoked');
    assert.equal(submit(w.ledger, w.patient.sign(payload.rotateKey(w.patient.id, freshKey()))), 'tx.signer_inactive');
    // A revoked patient can no longer take devices.
    assert.equal(
      submit(w.ledger, w.orgA.sign(payload.device(pseudonym('dev', 'rv'), freshKey(), w.patient.id))),
      'state.not_found',
    );
  });
});

describe('devices a care team registered', () => {
  /** Org A's clinician registers a device to the patient org A enrolled; the patient holds it now. */
  function withTeamDevice(): { w: World; device: Identity } {
    const w = buildWorld();
    const device = identity(pseudonym('dev', 'team-device'));
    commitAll(w.ledger, [w.clinicianA.sign(payload.device(device.id, device.publicKey, w.patient.id))]);
    assert.equal(mustFind(w.ledger, device.id).registeredBy, w.clinicianA.id);
    return { w, device };
  }

  test('whoever registered it may stop it, never re-key or re-activate it after the patient stopped it', () => {
    const { w, device } = withTeamDevice();
    assert.equal(attempt(w, w.clinicianA, payload.rotateKey(device.id, freshKey())), 'tx.unauthorized');
    assert.equal(attempt(w, w.clinicianA, payload.setStatus(device.id, 'suspended')), 'ok');
    assert.equal(attempt(w, w.clinicianA, payload.setStatus(device.id, 'active')), 'tx.unauthorized');
    assert.equal(mustFind(w.ledger, device.id).status, 'suspended');
    // The patient decides: back on, re-keyed, and the registrar can still halt it for good.
    assert.equal(attempt(w, w.patient, payload.setStatus(device.id, 'active')), 'ok');
    assert.equal(attempt(w, w.patient, payload.rotateKey(device.id, freshKey())), 'ok');
    assert.equal(attempt(w, w.clinicianA, payload.setStatus(device.id, 'revoked')), 'ok');
    assert.equal(mustFind(w.ledger, device.id).status, 'revoked');
  });

  test('the registrar’s organization and other staff have no say over the device', () => {
    const { w, device } = withTeamDevice();
    for (const signer of [w.orgA, w.adminA, w.clinicianB]) {
      assert.equal(attempt(w, signer, payload.setStatus(device.id, 'suspended')), 'tx.unauthorized', signer.id);
      assert.equal(attempt(w, signer, payload.rotateKey(device.id, freshKey())), 'tx.unauthorized', signer.id);
    }
    assert.equal(mustFind(w.ledger, device.id).status, 'active');
  });
});

describe('roles', () => {
  test('granting the registrar role lets a clinician enroll patients; removing it takes it away', () => {
    const w = buildWorld();
    const enroll = (label: string): SignedTx => w.clinicianA.sign(payload.patient(pseudonym('pat', label), freshKey()));
    assert.equal(submit(w.ledger, enroll('r1')), 'tx.unauthorized');
    w.clinicianA.setNextSeq(w.clinicianA.nextSeq - 1);
    commitAll(w.ledger, [w.orgA.sign(payload.setRoles(w.clinicianA.id, ['clinician', 'registrar']))]);
    assert.equal(submit(w.ledger, enroll('r2')), 'ok');
    commitAll(w.ledger, [w.adminA.sign(payload.setRoles(w.clinicianA.id, ['clinician']))]);
    assert.equal(submit(w.ledger, enroll('r3')), 'tx.unauthorized');
  });

  test('a new admin can manage its org’s practitioners; losing admin removes that power', () => {
    const w = buildWorld();
    commitAll(w.ledger, [w.orgA.sign(payload.setRoles(w.analystA.id, ['admin', 'analyst']))]);
    commitAll(w.ledger, [w.analystA.sign(payload.setStatus(w.clinicianA.id, 'suspended'))]);
    commitAll(w.ledger, [w.orgA.sign(payload.setRoles(w.analystA.id, ['analyst']))]);
    assert.equal(submit(w.ledger, w.analystA.sign(payload.setStatus(w.clinicianA.id, 'active'))), 'tx.unauthorized');
  });

  test('set_roles on a non-practitioner is tx.invalid in the state machine (and malformed on the wire)', () => {
    const w = buildWorld();
    // Identity signs whatever it is given; only decodeTx enforces the practitioner id format.
    const bogus = w.orgA.sign(payload.setRoles(w.device.id, ['clinician']));
    const decoded = decodeTx(bogus.wire, CHAIN);
    assert.equal(decoded.ok ? 'ok' : decoded.error.code, 'tx.malformed');
    assert.equal(submit(w.ledger, bogus), 'tx.invalid');
    assert.equal(mustFind(w.ledger, w.device.id).roles, undefined);
  });
});
