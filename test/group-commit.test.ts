/**
 * Group commit in the solo sequencer, in process: many transactions per block, a block limit, no
 * empty blocks while idle, rejections that do not hold up a batch, out-of-order sequence numbers,
 * gap timeouts, receipts whose proofs verify, deduplication and a close() that drains the queue.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { toHex } from '../src/crypto/bytes.js';
import { verifyCheckpoint } from '../src/ledger/block.js';
import { leafHash, verifyInclusion } from '../src/ledger/merkle.js';
import type { SignedTx } from '../src/ledger/tx.js';
import type { Identity } from '../src/client/identity.js';
import type { Receipt, SubmitOutcome } from '../src/consensus/solo/sequencer.js';
import { initTestDir, registerPatient, registerPractitioner, startTestNode, tempDir, type TestNode } from './support/fixtures.js';

/** Registers `count` practitioners with the given roles, all in one go, and waits for them. */
async function practitioners(
  t: TestNode,
  prefix: string,
  count: number,
  roles: ('registrar' | 'clinician')[] = ['registrar'],
): Promise<Identity[]> {
  const made = Array.from({ length: count }, (_, i) => registerPractitioner(t.org, `prac_${prefix}-${i}`, roles));
  const outcomes = await Promise.all(made.map((m) => t.submit(m.tx)));
  outcomes.forEach((o, i) => assert.ok(o.ok, `practitioner ${i}: ${o.ok ? '' : `${o.error.code} ${o.error.message}`}`));
  return made.map((m) => m.practitioner);
}

function assertReceiptVerifies(tx: SignedTx, receipt: Receipt, validator: Uint8Array): void {
  assert.equal(toHex(receipt.hash), toHex(tx.hash));
  const cp = receipt.checkpoint;
  assert.ok(verifyCheckpoint(cp), 'receipt checkpoint signature verifies');
  assert.equal(toHex(cp.signer), toHex(validator), 'checkpoint is signed by the validator');
  assert.ok(
    verifyInclusion(leafHash(tx.wire), receipt.index, cp.checkpoint.size, receipt.proof, cp.checkpoint.root),
    `inclusion proof of log index ${receipt.index} verifies`,
  );
}

function committed(outcome: SubmitOutcome, what: string): Receipt {
  if (!outcome.ok) assert.fail(`${what}: expected commit, got ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.receipt;
}

function blocksBetween(t: TestNode, from: number, to: number) {
  const blocks = [];
  for (let h = from; h <= to; h++) {
    const block = t.node.chain.store.block(h);
    assert.ok(block, `block ${h} is stored`);
    blocks.push(block);
  }
  return blocks;
}

test('group commit: 2,000 concurrent txs from 50 signers land in few, bounded blocks; no empty blocks while idle', async () => {
  const t = await startTestNode({ sequencer: { maxBlockTxs: 100 } });
  try {
    const validator = t.node.chain.genesis.validators[0]!.key;
    const signers = await practitioners(t, 'load', 50);
    const startHeight = t.node.chain.head().height;
    const startLog = t.node.chain.head().logSize;

    // Pre-sign 40 registrations per signer, interleaved across signers, then submit all at once.
    const txs: SignedTx[] = [];
    for (let round = 0; round < 40; round++) for (const signer of signers) txs.push(registerPatient(signer).tx);
    assert.equal(txs.length, 2000);
    const outcomes = await Promise.all(txs.map((tx) => t.submit(tx)));
    const receipts = outcomes.map((o, i) => committed(o, `tx ${i}`));

    const head = t.node.chain.head();
    assert.equal(head.logSize, startLog + 2000, 'every transaction is in the log');
    const blocks = blocksBetween(t, startHeight + 1, head.height);
    assert.ok(blocks.length >= 20, `2,000 txs at ≤100 per block need ≥20 blocks, got ${blocks.length}`);
    assert.ok(blocks.length <= 200, `group commit should batch: ${blocks.length} blocks for 2,000 txs`);
    for (const b of blocks) {
      assert.ok(b.txCount <= 100, `block ${b.height} has ${b.txCount} txs > maxBlockTxs 100`);
      assert.ok(b.txCount >= 1, `block ${b.height} is empty`);
    }
    assert.equal(
      blocks.reduce((n, b) => n + b.txCount, 0),
      2000,
    );

    // Receipts: unique log indexes, the right block, proofs that verify; spot-check stored copies.
    assert.equal(new Set(receipts.map((r) => r.index)).size, 2000, 'log indexes are unique');
    for (let i = 0; i < txs.length; i++) {
      const tx = txs[i]!;
      const r = receipts[i]!;
      assertReceiptVerifies(tx, r, validator);
      const block = t.node.chain.store.block(r.height)!;
      assert.equal(toHex(block.hash), toHex(r.blockHash));
      assert.ok(r.index >= block.firstIndex && r.index < block.firstIndex + block.txCount, 'receipt index lies in its block');
      if (i % 97 === 0) {
        const stored = t.node.chain.store.txByHash(tx.hash);
        assert.ok(stored);
        assert.equal(stored.index, r.index);
        assert.equal(stored.height, r.height);
      }
    }
    // Each signer's transactions are committed in sequence order.
    for (const signer of signers) {
      const mine = txs.map((tx, i) => ({ tx, r: receipts[i]! })).filter(({ tx }) => tx.tx.signer === signer.id);
      mine.sort((a, b) => a.tx.tx.seq - b.tx.tx.seq);
      for (let k = 1; k < mine.length; k++)
        assert.ok(mine[k]!.r.index > mine[k - 1]!.r.index, `${signer.id} committed out of order`);
      assert.equal(t.node.chain.app.participant(signer.id)!.nextSeq, 40);
    }

    // Idle: nothing is produced.
    const idleHeight = t.node.chain.head().height;
    await sleep(300);
    assert.equal(t.node.chain.head().height, idleHeight, 'no blocks are produced while idle');
    assert.equal(t.node.sequencer.backlog, 0);
    for (const b of blocksBetween(t, 1, idleHeight)) assert.ok(b.txCount >= 1, `block ${b.height} is empty`);
  } finally {
    await t.close();
  }
});

test('group commit: rejected transactions in a busy batch are answered and do not hold up the others', async () => {
  const t = await startTestNode({ sequencer: { maxBlockTxs: 100 } });
  try {
    const validator = t.node.chain.genesis.validators[0]!.key;
    const registrars = await practitioners(t, 'reg', 10);
    const [clinician] = await practitioners(t, 'clin', 1, ['clinician']);
    assert.ok(clinician);
    const startLog = t.node.chain.head().logSize;
    const startHeight = t.node.chain.head().height;

    const good: SignedTx[] = [];
    for (let round = 0; round < 30; round++) for (const r of registrars) good.push(registerPatient(r).tx);
    // A clinician may not enroll patients: rejected at execution (tx.unauthorized).
    const unauthorized = registerPatient(clinician).tx;
    // A second, different transaction with a sequence number registrar 0 already uses (seq 5).
    const reg0 = registrars[0]!;
    const saved = reg0.nextSeq;
    reg0.setNextSeq(5);
    const conflicting = registerPatient(reg0).tx;
    reg0.setNextSeq(saved);
    // A transaction from a participant that does not exist (rejected at admission).
    const strangerOrg = registerPractitioner(t.org, 'prac_never-registered', ['registrar']);
    t.org.setNextSeq(t.org.nextSeq - 1); // that registration is never submitted
    const stranger = registerPatient(strangerOrg.practitioner).tx;

    const mixed = [...good.slice(0, 150), unauthorized, conflicting, stranger, ...good.slice(150)];
    const outcomes = await Promise.all(mixed.map((tx) => t.submit(tx)));
    const byHash = new Map(mixed.map((tx, i) => [toHex(tx.hash), outcomes[i]!]));

    const expectRejected = (tx: SignedTx, code: string) => {
      const outcome = byHash.get(toHex(tx.hash))!;
      assert.equal(outcome.ok, false, `expected ${code}`);
      if (!outcome.ok) assert.equal(outcome.error.code, code, outcome.error.message);
      assert.equal(t.node.chain.store.txByHash(tx.hash), undefined, `rejected ${code} transaction is not stored`);
    };
    expectRejected(unauthorized, 'tx.unauthorized');
    expectRejected(conflicting, 'tx.replayed');
    expectRejected(stranger, 'tx.unknown_signer');

    for (const tx of good) assertReceiptVerifies(tx, committed(byHash.get(toHex(tx.hash))!, 'good tx'), validator);
    const head = t.node.chain.head();
    assert.equal(head.logSize, startLog + good.length, 'exactly the good transactions were committed');
    // None of the rejected ones appears in any block.
    const rejected = new Set([unauthorized, conflicting, stranger].map((tx) => toHex(tx.hash)));
    for (const block of blocksBetween(t, startHeight + 1, head.height)) {
      for (const stored of t.node.chain.store.blockTxs(block))
        assert.ok(!rejected.has(toHex(stored.hash)), 'rejected tx is in a block');
    }
    // The clinician's sequence number was not consumed; registrar 0 continues at 30.
    assert.equal(t.node.chain.app.participant(clinician.id)!.nextSeq, 0);
    assert.equal(t.node.chain.app.participant(reg0.id)!.nextSeq, 30);

    // A replay of a committed transaction is refused at admission.
    const replay = await t.submit(good[0]!);
    assert.equal(replay.ok, false);
    if (!replay.ok) assert.equal(replay.error.code, 'tx.replayed');
  } finally {
    await t.close();
  }
});

test('out-of-order sequence numbers commit in order; an unfilled gap is rejected after gapTimeoutMs', async () => {
  const t = await startTestNode({ sequencer: { gapTimeoutMs: 200 } });
  try {
    const validator = t.node.chain.genesis.validators[0]!.key;
    const [signer, gappy] = await practitioners(t, 'ooo', 2);
    assert.ok(signer && gappy);
    const txs = Array.from({ length: 5 }, () => registerPatient(signer).tx); // seq 0..4
    const reversed = [...txs].reverse(); // submitted as 4,3,2,1,0
    const outcomes = await Promise.all(reversed.map((tx) => t.submit(tx)));
    const receipts = outcomes.map((o, i) => committed(o, `seq ${reversed[i]!.tx.seq}`));
    const bySeq = reversed.map((tx, i) => ({ seq: tx.tx.seq, receipt: receipts[i]!, tx }));
    bySeq.sort((a, b) => a.seq - b.seq);
    for (let k = 0; k < bySeq.length; k++) {
      assertReceiptVerifies(bySeq[k]!.tx, bySeq[k]!.receipt, validator);
      if (k > 0) assert.ok(bySeq[k]!.receipt.index > bySeq[k - 1]!.receipt.index, 'committed in sequence order');
    }
    assert.equal(t.node.chain.app.participant(signer.id)!.nextSeq, 5);

    // seq 1 without seq 0: waits about gapTimeoutMs, then tx.sequence_gap.
    gappy.setNextSeq(1);
    const orphan = registerPatient(gappy).tx;
    const started = performance.now();
    const outcome = await t.submit(orphan);
    const waited = performance.now() - started;
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.equal(outcome.error.code, 'tx.sequence_gap', outcome.error.message);
    assert.ok(waited >= 180, `rejected after ${waited.toFixed(0)} ms, before the 200 ms gap timeout`);
    assert.ok(waited < 2000, `rejected only after ${waited.toFixed(0)} ms`);
    assert.equal(t.node.chain.store.txByHash(orphan.hash), undefined);
    assert.equal(t.node.sequencer.backlog, 0);

    // The signer is not stuck: seq 0 and then 1 (a new transaction) commit.
    gappy.setNextSeq(0);
    committed(await t.submit(registerPatient(gappy).tx), 'gappy seq 0');
    committed(await t.submit(registerPatient(gappy).tx), 'gappy seq 1');
  } finally {
    await t.close();
  }
});

test('the same transaction submitted twice concurrently gets one receipt; later it is a replay', async () => {
  const t = await startTestNode({ sequencer: { maxBlockTxs: 100 } });
  try {
    const validator = t.node.chain.genesis.validators[0]!.key;
    const [signer] = await practitioners(t, 'dup', 1);
    assert.ok(signer);
    const txs = Array.from({ length: 20 }, () => registerPatient(signer).tx);
    // Every tx twice, interleaved, plus a third copy of the first one.
    const submissions = [...txs.flatMap((tx) => [t.submit(tx), t.submit(tx)]), t.submit(txs[0]!)];
    const outcomes = await Promise.all(submissions);
    for (let i = 0; i < txs.length; i++) {
      const a = committed(outcomes[2 * i]!, `first copy of ${i}`);
      const b = committed(outcomes[2 * i + 1]!, `second copy of ${i}`);
      assert.deepEqual(b, a, 'both submissions get the same receipt');
      assertReceiptVerifies(txs[i]!, a, validator);
    }
    assert.deepEqual(committed(outcomes[40]!, 'third copy'), committed(outcomes[0]!, 'first copy'));
    assert.equal(t.node.chain.app.participant(signer.id)!.nextSeq, 20, 'each transaction was applied once');

    const again = await t.submit(txs[3]!);
    assert.equal(again.ok, false);
    if (!again.ok) assert.equal(again.error.code, 'tx.replayed');
  } finally {
    await t.close();
  }
});

test('close() waits for queued transactions, and a reopened node has them all', async () => {
  const temp = tempDir();
  try {
    initTestDir(temp.path);
    const t = await startTestNode({ dir: temp.path, sequencer: { maxBlockTxs: 100 } });
    let closed = false;
    const txs: SignedTx[] = [];
    try {
      const signers = await practitioners(t, 'close', 10);
      for (let round = 0; round < 50; round++) for (const s of signers) txs.push(registerPatient(s).tx);
      const pending = txs.map((tx) => t.submit(tx));
      const closing = t.close();
      closed = true;
      const late = await t.submit(registerPatient(signers[0]!).tx);
      assert.equal(late.ok, false, 'no submissions are accepted while closing');
      if (!late.ok) assert.equal(late.error.code, 'node.shutting_down');
      const outcomes = await Promise.all(pending);
      outcomes.forEach((o, i) => committed(o, `queued tx ${i}`));
      await closing;
    } finally {
      if (!closed) await t.close();
    }

    const reopened = await startTestNode({ dir: temp.path });
    try {
      for (const tx of txs) assert.ok(reopened.node.chain.store.txByHash(tx.hash), 'committed tx survives close/reopen');
      assert.equal(reopened.node.chain.app.participant('prac_close-0')!.nextSeq, 50);
      // And the chain continues.
      const more = registerPatient(reopened.org).tx;
      committed(await reopened.submit(more), 'tx after reopen');
    } finally {
      await reopened.close();
    }
  } finally {
    temp.remove();
  }
});

test('transactions released from parking do not push a block past maxBlockTxs', async () => {
  const t = await startTestNode({ sequencer: { maxBlockTxs: 10, gapTimeoutMs: 1000 } });
  try {
    const [early, ...others] = await practitioners(t, 'park', 10);
    assert.ok(early && others.length === 9);
    const startHeight = t.node.chain.head().height;
    const startLog = t.node.chain.head().logSize;
    const seq0 = registerPatient(early).tx;
    const ahead = Array.from({ length: 5 }, () => registerPatient(early).tx); // seq 1..5
    // seq 1..5 arrive first and wait (parked) for seq 0.
    const parked = ahead.map((tx) => t.submit(tx));
    await sleep(50);
    assert.equal(t.node.chain.head().height, startHeight, 'nothing commits while seq 0 is missing');
    assert.equal(t.node.sequencer.backlog, 5);
    // Then seq 0 arrives together with 9 other transactions: 10 candidates, plus 5 unparked.
    const rest = [t.submit(seq0), ...others.map((o) => t.submit(registerPatient(o).tx))];
    const outcomes = await Promise.all([...parked, ...rest]);
    outcomes.forEach((o, i) => committed(o, `tx ${i}`));
    const head = t.node.chain.head();
    assert.equal(head.logSize, startLog + 15, 'all 15 transactions committed');
    assert.equal(t.node.chain.app.participant(early.id)!.nextSeq, 6);
    for (const b of blocksBetween(t, startHeight + 1, head.height)) {
      assert.ok(b.txCount <= 10, `block ${b.height} has ${b.txCount} txs > maxBlockTxs 10`);
    }
  } finally {
    await t.close();
  }
});
