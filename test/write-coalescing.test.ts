/**
 * Coalesced single writes (Vault.write): concurrent writes share one record.commit, yet each is
 * answered for itself — a conflict, a ledger refusal or a failing index hook fails only its own
 * write; conditional creates with the same If-None-Exist make one resource.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { FhirRepository } from '../src/fhir/repository.js';
import { Vault, VaultError, type JsonObject } from '../src/vault/vault.js';
import { FOUNDER, startTestNode, type TestNode } from './support/fixtures.js';

const AUTHOR = FOUNDER;

function observation(text: string): JsonObject {
  return { resourceType: 'Observation', status: 'final', code: { text } };
}

describe('vault: coalesced single writes', () => {
  let t: TestNode;
  let vault: Vault;

  before(async () => {
    t = await startTestNode();
    vault = await Vault.open(t.node, t.dir, {
      onCommit: ({ resource }) => {
        if ((resource?.['code'] as { text?: string } | undefined)?.text === 'hook-fails') throw new Error('index down');
      },
    });
  });
  after(async () => {
    await vault.close();
    await t.close();
  });

  it('concurrent writes share ledger transactions and every one is committed and readable', async () => {
    const before = t.node.chain.head().height;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        vault.write({ type: 'Observation', id: `co-${i}`, resource: observation(`c${i}`), author: AUTHOR }),
      ),
    );
    const txs = new Set(results.map((r) => Buffer.from(r.txHash).toString('hex')));
    assert.ok(txs.size < 100, `100 writes in ${txs.size} ledger transactions`);
    assert.ok(t.node.chain.head().height - before <= txs.size);
    for (let i = 0; i < 100; i++) {
      const read = vault.read('Observation', `co-${i}`);
      assert.equal(read.status === 'ok' && (read.resource['code'] as { text: string }).text, `c${i}`);
      assert.equal(t.node.chain.app.recordVersion(results[i]!.record, 1)?.author, AUTHOR);
    }
  });

  it('a stale expectedVersion fails only its own write, not the writes coalesced with it', async () => {
    await vault.write({ type: 'Observation', id: 'co-stale', resource: observation('v1'), author: AUTHOR });
    const outcomes = await Promise.allSettled([
      vault.write({ type: 'Observation', id: 'co-n1', resource: observation('n1'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-stale', resource: observation('v2'), author: AUTHOR, expectedVersion: 5 }),
      vault.write({ type: 'Observation', id: 'co-n2', resource: observation('n2'), author: AUTHOR }),
    ]);
    assert.equal(outcomes[0].status, 'fulfilled');
    assert.equal(outcomes[2].status, 'fulfilled');
    assert.equal(outcomes[1].status, 'rejected');
    assert.ok(outcomes[1].status === 'rejected' && outcomes[1].reason instanceof VaultError);
    assert.equal(outcomes[1].status === 'rejected' && (outcomes[1].reason as VaultError).code, 'vault.version_conflict');
    assert.equal(vault.resource('Observation', 'co-stale')?.version, 1);
  });

  it('a ledger refusal of the shared commit is retried write by write: only the refused one fails', async () => {
    const w = await vault.write({ type: 'Observation', id: 'co-moved', resource: observation('v1'), author: AUTHOR });
    // Another writer moves the ledger record to version 2 behind the vault's back.
    const out = await t.node.submitOwn({
      type: 'record.commit',
      body: { author: AUTHOR, custodian: FOUNDER, entries: [{ record: w.record, version: 2, op: 'delete' }] },
    });
    assert.ok(out.ok);
    const outcomes = await Promise.allSettled([
      vault.write({ type: 'Observation', id: 'co-r1', resource: observation('r1'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-moved', resource: observation('v2'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-r2', resource: observation('r2'), author: AUTHOR }),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(outcomes[1].status === 'rejected' && (outcomes[1].reason as VaultError).code, 'state.conflict');
    assert.equal(vault.read('Observation', 'co-r1').status, 'ok');
    assert.equal(vault.read('Observation', 'co-r2').status, 'ok');
    assert.equal(vault.resource('Observation', 'co-moved')?.version, 1);
    const pending = vault.db.prepare("SELECT count(*) AS n FROM versions WHERE state = 'pending'").get() as { n: number };
    assert.equal(pending.n, 0);
  });

  it('a failing index hook is reported to its own write only; every version stays committed', async () => {
    const outcomes = await Promise.allSettled([
      vault.write({ type: 'Observation', id: 'co-h1', resource: observation('fine'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-h2', resource: observation('hook-fails'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-h3', resource: observation('fine'), author: AUTHOR }),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String(outcomes[1].status === 'rejected' && outcomes[1].reason), /index down/);
    for (const id of ['co-h1', 'co-h2', 'co-h3']) assert.equal(vault.read('Observation', id).status, 'ok');
  });

  it('concurrent writes to one resource keep their order as consecutive versions', async () => {
    const results = await Promise.all([
      vault.write({ type: 'Observation', id: 'co-seq', resource: observation('a'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-other', resource: observation('x'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-seq', resource: observation('b'), author: AUTHOR }),
      vault.write({ type: 'Observation', id: 'co-seq', resource: observation('c'), author: AUTHOR }),
    ]);
    assert.deepEqual([results[0]!.version, results[2]!.version, results[3]!.version], [1, 2, 3]);
    const last = vault.read('Observation', 'co-seq');
    assert.equal(last.status === 'ok' && (last.resource['code'] as { text: string }).text, 'c');
  });
});

describe('repository: concurrent conditional creates', () => {
  let t: TestNode;
  let fhir: FhirRepository;

  before(async () => {
    t = await startTestNode();
    fhir = await FhirRepository.open(t.node, t.dir);
  });
  after(async () => {
    await fhir.close();
    await t.close();
  });

  it('the same If-None-Exist sent concurrently makes one resource; the others get it back', async () => {
    const patient: Patient = {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:test:mrn', value: 'race-1' }],
      name: [{ family: 'Race' }],
    };
    const actor = { author: fhir.organization };
    const saved = await Promise.all(
      Array.from({ length: 8 }, () => fhir.create(patient, actor, { ifNoneExist: 'identifier=urn:test:mrn|race-1' })),
    );
    assert.equal(new Set(saved.map((s) => s.resource.id)).size, 1);
    assert.equal(saved.filter((s) => s.created).length, 1);
    const found = fhir.search('Patient', new URLSearchParams({ identifier: 'urn:test:mrn|race-1' }));
    assert.equal(found.matches.length, 1);
  });

  it('plain creates alongside are coalesced and all searchable', async () => {
    const actor = { author: fhir.organization };
    const p = await fhir.create({ resourceType: 'Patient', name: [{ family: 'Many' }] }, actor);
    const obs = (i: number): Observation => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: `hr ${i}` },
      subject: { reference: `Patient/${p.resource.id!}` },
    });
    const saved = await Promise.all(Array.from({ length: 50 }, (_, i) => fhir.create(obs(i), actor)));
    assert.equal(new Set(saved.map((s) => s.resource.id)).size, 50);
    const found = fhir.search(
      'Observation',
      new URLSearchParams({ patient: p.resource.id!, code: 'http://loinc.org|8867-4', _count: '100' }),
    );
    assert.equal(found.matches.length, 50);
  });
});
