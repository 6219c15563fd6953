/**
 * Record commitments (record.commit) on a real node: versioning, custodianship, authorship and the
 * shape rules that keep clinical content and keys off the ledger.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import { sha256 } from '../src/crypto/hash.js';
import { utf8 } from '../src/crypto/bytes.js';
import { encodeCanonical } from '../src/ledger/codec.js';
import type { RecordCommitBody, RecordEntry } from '../src/ledger/payloads/record.js';
import { registerPractitioner, startTestNode, type TestNode } from './support/fixtures.js';

const commitment = (label: string): Uint8Array => sha256(utf8(label));

describe('record.commit', () => {
  let t: TestNode;
  let clinician: Identity;
  let otherOrg: Identity;
  let otherClinician: Identity;
  const patient = randomPseudonym('pat');

  before(async () => {
    t = await startTestNode();
    const reg = registerPractitioner(t.org, 'prac_dr-grey');
    await t.commit(reg.tx);
    clinician = reg.practitioner;
    const otherKeys = generateKeyPair();
    // Organizations are admitted by the validators; this solo node's approval suffices.
    otherOrg = await t.admitOrganization('org_other', otherKeys, 'Other');
    const otherReg = registerPractitioner(otherOrg, 'prac_dr-house');
    await t.commit(otherReg.tx);
    otherClinician = otherReg.practitioner;
  });
  after(() => t.close());

  /** One entry; `extra` may override entry fields and the body's author/custodian. */
  const body = (
    record: string,
    version: number,
    extra: Partial<{ author: string; custodian: string; patient: string | undefined; op: 'write' | 'delete' }> = {},
  ): RecordCommitBody => {
    const { author = 'prac_dr-grey', custodian = t.org.id, op = 'write' } = extra;
    const patientId = 'patient' in extra ? extra.patient : patient;
    const entry = {
      record,
      version,
      ...(patientId !== undefined && { patient: patientId }),
      ...(op === 'write' ? { op, commitment: commitment(`${record}/${version}`) } : { op }),
    } as RecordEntry;
    return { author, custodian, entries: [entry] };
  };

  /**
   * The founding organization submits as its node does (signed on entering a block); others sign
   * with the sequence number the ledger expects now, since a rejected transaction uses none.
   */
  async function outcome(signer: Identity | 'node', b: RecordCommitBody): Promise<string> {
    const payload = { type: 'record.commit', body: b } as const;
    const result =
      signer === 'node'
        ? await t.node.submitOwn(payload)
        : await t.submit(signer.signAt(payload, t.node.chain.app.participant(signer.id)!.nextSeq));
    return result.ok ? 'ok' : result.error.code;
  }

  it('commits versions 1, 2, … in order, and keeps every commitment in state', async () => {
    const record = randomPseudonym('rec');
    assert.equal(await outcome('node', body(record, 1)), 'ok');
    assert.equal(await outcome('node', body(record, 2)), 'ok');
    const app = t.node.chain.app;
    assert.deepEqual(app.recordHead(record), { version: 2, custodian: t.org.id, patient, deleted: false });
    assert.deepEqual(app.recordVersion(record, 1)?.commitment, commitment(`${record}/1`));
    assert.deepEqual(app.recordVersion(record, 2)?.commitment, commitment(`${record}/2`));
    assert.equal(app.recordVersion(record, 2)?.author, 'prac_dr-grey');
    assert.equal(app.recordVersion(record, 3), undefined);
  });

  it('rejects a repeated, skipped or non-initial version', async () => {
    const record = randomPseudonym('rec');
    assert.equal(await outcome('node', body(record, 2)), 'state.conflict');
    assert.equal(await outcome('node', body(record, 1)), 'ok');
    assert.equal(await outcome('node', body(record, 1)), 'state.conflict');
    assert.equal(await outcome('node', body(record, 3)), 'state.conflict');
    assert.equal(t.node.chain.app.recordHead(record)?.version, 1);
  });

  it('deletes as a version without commitment; a later write restores the record', async () => {
    const record = randomPseudonym('rec');
    assert.equal(await outcome('node', body(record, 1, { op: 'delete' })), 'state.conflict');
    assert.equal(await outcome('node', body(record, 1)), 'ok');
    assert.equal(await outcome('node', body(record, 2, { op: 'delete' })), 'ok');
    assert.equal(t.node.chain.app.recordHead(record)?.deleted, true);
    assert.equal(t.node.chain.app.recordVersion(record, 2)?.commitment, undefined);
    assert.equal(await outcome('node', body(record, 3, { op: 'delete' })), 'state.conflict');
    assert.equal(await outcome('node', body(record, 3)), 'ok');
    assert.equal(t.node.chain.app.recordHead(record)?.deleted, false);
  });

  it('only the custodian organization signs, and only for its own records', async () => {
    const record = randomPseudonym('rec');
    assert.equal(await outcome(clinician, body(record, 1)), 'tx.unauthorized');
    assert.equal(await outcome(otherOrg, body(record, 1)), 'tx.unauthorized');
    assert.equal(await outcome('node', body(record, 1)), 'ok');
    assert.equal(
      await outcome(otherOrg, body(record, 2, { custodian: 'org_other', author: otherClinician.id })),
      'tx.unauthorized',
    );
  });

  it('the author acts for the custodian', async () => {
    assert.equal(await outcome('node', body(randomPseudonym('rec'), 1, { author: otherClinician.id })), 'tx.unauthorized');
    assert.equal(await outcome('node', body(randomPseudonym('rec'), 1, { author: 'org_other' })), 'tx.unauthorized');
    assert.equal(await outcome('node', body(randomPseudonym('rec'), 1, { author: 'prac_nobody' })), 'state.not_found');
    assert.equal(await outcome('node', body(randomPseudonym('rec'), 1, { author: t.org.id })), 'ok');
  });

  it('a record keeps its patient', async () => {
    const record = randomPseudonym('rec');
    assert.equal(await outcome('node', body(record, 1)), 'ok');
    assert.equal(await outcome('node', body(record, 2, { patient: randomPseudonym('pat') })), 'state.conflict');
    assert.equal(await outcome('node', body(record, 2, { patient: undefined })), 'state.conflict');
  });

  it('applies the versions of one transaction all or nothing', async () => {
    const [a, b] = [randomPseudonym('rec'), randomPseudonym('rec')];
    const both = (versionB: number): RecordCommitBody => ({
      ...body(a, 1),
      entries: [body(a, 1).entries[0]!, body(b, versionB).entries[0]!],
    });
    assert.equal(await outcome('node', both(2)), 'state.conflict');
    assert.equal(t.node.chain.app.recordHead(a), undefined, 'the valid entry was not applied either');
    assert.equal(await outcome('node', both(1)), 'ok');
    assert.equal(t.node.chain.app.recordHead(a)?.version, 1);
    assert.equal(t.node.chain.app.recordHead(b)?.version, 1);
  });

  it('rejects malformed bodies: bad ids, version 0, a short commitment, a delete with a commitment, extra fields, empty, repeated or too many entries', async () => {
    const record = randomPseudonym('rec');
    const entry = body(record, 1).entries[0]!;
    const valid = body(record, 1);
    const cases: Record<string, unknown>[] = [
      { ...valid, entries: [{ ...entry, record: 'Observation/123' }] },
      { ...valid, entries: [{ ...entry, version: 0 }] },
      { ...valid, entries: [{ ...entry, commitment: new Uint8Array(31) }] },
      { ...valid, entries: [{ ...entry, op: 'delete' }] },
      { ...valid, entries: [{ ...entry, patient: 'John Smith' }] },
      { ...valid, entries: [{ ...entry, code: 'http://loinc.org|4548-4' }] },
      { ...valid, key: new Uint8Array(32) },
      { ...valid, entries: [] },
      { ...valid, entries: [entry, entry] },
      { ...valid, entries: Array.from({ length: 1001 }, () => entry) },
    ];
    for (const bad of cases) {
      const tx = t.org.signAt({ type: 'record.commit', body: bad as unknown as RecordCommitBody }, 0);
      const result = await t.submit(tx);
      assert.equal(result.ok, false, JSON.stringify(Object.keys(bad)));
      if (!result.ok) assert.equal(result.error.code, 'tx.malformed', result.error.message);
    }
    // The body is canonical CBOR like every payload: no floats sneak in.
    assert.throws(() => encodeCanonical({ version: 1.5 }));
  });
});
