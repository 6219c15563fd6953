/**
 * The access log writer on a real node: events are grouped into few `access.log` transactions,
 * each caller learns when its own event is on the ledger, and one bad event fails alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomPseudonym } from '../src/client/identity.js';
import { utf8 } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import type { AccessEvent } from '../src/ledger/payloads/access.js';
import { decodeTx } from '../src/ledger/tx.js';
import { AccessLogError, AccessRecorder, splitEvent } from '../src/access/recorder.js';
import { registerPatient, registerPractitioner, startTestNode, type TestNode } from './support/fixtures.js';

const recId = (i: number): string => randomPseudonym('rec', sha256(utf8(`recorder:${i}`)));

describe('AccessRecorder', () => {
  let t: TestNode;
  let patient: string;
  const clinician = 'prac_recorder-clinician';

  before(async () => {
    t = await startTestNode();
    const p = registerPatient(t.org);
    patient = p.patient.id;
    await t.commit(p.tx);
    await t.commit(registerPractitioner(t.org, clinician).tx);
  });
  after(() => t.close());

  /** Every access event on the ledger, in log order. */
  function loggedEvents(): AccessEvent[] {
    const events: AccessEvent[] = [];
    for (let h = 1; h <= t.node.chain.head().height; h++) {
      for (const stored of t.node.chain.store.blockTxs(t.node.chain.store.block(h)!)) {
        const tx = decodeTx(stored.wire, t.node.chain.chainId);
        assert.ok(tx.ok);
        if (tx.value.tx.type === 'access.log') events.push(...tx.value.tx.body.events);
      }
    }
    return events;
  }

  /** Event `i` happened `i` ms after T0, a minute ago: the ledger takes events close to block time. */
  const T0 = Date.now() - 60_000;
  const event = (i: number, extra: Partial<AccessEvent> = {}): AccessEvent =>
    ({
      actor: clinician,
      patient,
      action: 'read',
      at: T0 + i,
      records: [],
      decision: 'permit',
      basis: 'treatment',
      ...extra,
    }) as AccessEvent;

  test('500 concurrent events land in a few transactions, each caller answered after commit', async () => {
    const recorder = new AccessRecorder((payload) => t.node.submitOwn(payload));
    const before = loggedEvents().length;
    const heightBefore = t.node.chain.head().height;
    await Promise.all(Array.from({ length: 500 }, (_, i) => recorder.record(event(i))));
    const logged = loggedEvents().slice(before);
    assert.equal(logged.length, 500);
    assert.deepEqual(new Set(logged.map((e) => e.at)).size, 500, 'every event exactly once');
    let txs = 0;
    for (let h = heightBefore + 1; h <= t.node.chain.head().height; h++) txs += t.node.chain.store.block(h)!.txCount;
    assert.ok(txs <= 10, `500 events took ${txs} transactions`);
  });

  test('an event the ledger refuses fails alone; its batch neighbours are recorded', async () => {
    const recorder = new AccessRecorder((payload) => t.node.submitOwn(payload));
    const before = loggedEvents().length;
    const foreign = event(10_001, { actor: 'prac_someone-elses' });
    const unknownConsent = event(10_002, { basis: 'consent', grant: `cns_${'a'.repeat(26)}` } as Partial<AccessEvent>);
    const results = await Promise.allSettled([
      recorder.record(event(10_000)),
      recorder.record(foreign),
      recorder.record(unknownConsent),
      recorder.record(event(10_003)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
    );
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as AccessLogError] : []));
    assert.ok(reasons.every((e) => e instanceof AccessLogError));
    assert.deepEqual(
      reasons.map((e) => e.error.code),
      ['tx.unauthorized', 'tx.invalid'],
    );
    assert.deepEqual(
      loggedEvents()
        .slice(before)
        .map((e) => e.at)
        .sort(),
      [event(10_000).at, event(10_003).at],
    );
  });

  test('a disclosure of many records is split into events of at most 256 records, all logged', async () => {
    const records = Array.from({ length: 600 }, (_, i) => recId(20_000 + i));
    // The ledger logs only records the organization holds about the patient.
    const entries = records.map((record) => ({
      record,
      version: 1,
      patient,
      op: 'write' as const,
      commitment: sha256(utf8(record)),
    }));
    const committed = await t.node.submitOwn({ type: 'record.commit', body: { author: t.org.id, custodian: t.org.id, entries } });
    assert.ok(committed.ok);
    assert.deepEqual(
      splitEvent(event(0, { records })).map((e) => e.records.length),
      [256, 256, 88],
    );
    const recorder = new AccessRecorder((payload) => t.node.submitOwn(payload));
    const before = loggedEvents().length;
    await recorder.record(event(30_000, { action: 'everything', records }));
    const logged = loggedEvents().slice(before);
    assert.deepEqual(
      logged.flatMap((e) => e.records),
      records,
    );
  });

  test('drain waits for everything recorded so far', async () => {
    const recorder = new AccessRecorder((payload) => t.node.submitOwn(payload));
    const before = loggedEvents().length;
    for (let i = 0; i < 20; i++) void recorder.record(event(40_000 + i));
    await recorder.drain();
    assert.equal(loggedEvents().length - before, 20);
  });
});
