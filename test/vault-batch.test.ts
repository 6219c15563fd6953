/**
 * Vault.writeMany: several record versions (writes and deletes) in ONE ledger transaction, all or
 * nothing — pending rows in one SQLite transaction, committed together or dropped together.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomPseudonym } from '../src/client/identity.js';
import { MAX_RECORD_ENTRIES } from '../src/ledger/payloads/record.js';
import { Vault, VaultError, type CommitContext, type JsonObject } from '../src/vault/vault.js';
import { FOUNDER, startTestNode, type TestNode } from './support/fixtures.js';

const AUTHOR = FOUNDER;

function observation(text: string): JsonObject {
  return { resourceType: 'Observation', status: 'final', code: { text } };
}

async function rejects(promise: Promise<unknown>, code: string | RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof VaultError, `expected VaultError, got ${String(error)}`);
    if (typeof code === 'string') assert.equal(error.code, code);
    else assert.match(error.code, code);
    return true;
  });
}

describe('vault writeMany', () => {
  let t: TestNode;
  let vault: Vault;
  const committed: CommitContext[] = [];

  before(async () => {
    t = await startTestNode();
    vault = await Vault.open(t.node, t.dir, { onCommit: (ctx) => void committed.push(ctx) });
  });
  after(async () => {
    await vault.close();
    await t.close();
  });

  it('commits several versions in one ledger transaction and one commit hook transaction', async () => {
    const patient = randomPseudonym('pat');
    const before = t.node.chain.head().height;
    committed.length = 0;
    const results = await vault.writeMany(
      [
        { type: 'Observation', id: 'b-1', resource: observation('one'), patient },
        { type: 'Observation', id: 'b-2', resource: observation('two'), patient },
        { type: 'Condition', id: 'b-3', resource: { resourceType: 'Condition', subject: { reference: 'Patient/x' } } },
      ],
      AUTHOR,
    );
    assert.equal(results.length, 3);
    assert.deepEqual(
      results.map((r) => r.version),
      [1, 1, 1],
    );
    // One ledger transaction: same hash and height for all, one block more.
    assert.equal(new Set(results.map((r) => Buffer.from(r.txHash).toString('hex'))).size, 1);
    assert.equal(new Set(results.map((r) => r.height)).size, 1);
    assert.equal(t.node.chain.head().height, before + 1);
    assert.equal(new Set(results.map((r) => r.record)).size, 3);
    assert.deepEqual(
      committed.map((c) => `${c.type}/${c.id}`),
      ['Observation/b-1', 'Observation/b-2', 'Condition/b-3'],
    );
    for (const [i, id] of ['b-1', 'b-2'].entries()) {
      const read = vault.read('Observation', id);
      assert.equal(read.status, 'ok');
      assert.equal(read.status === 'ok' && (read.resource['code'] as { text: string }).text, ['one', 'two'][i]);
      assert.equal(t.node.chain.app.recordHead(results[i]!.record)?.patient, patient);
    }
    assert.equal(vault.read('Condition', 'b-3').status, 'ok');
  });

  it('mixes creates, updates and deletes in one commit', async () => {
    await vault.write({ type: 'Observation', id: 'm-1', resource: observation('v1'), author: AUTHOR });
    await vault.write({ type: 'Observation', id: 'm-2', resource: observation('to delete'), author: AUTHOR });
    const results = await vault.writeMany(
      [
        { type: 'Observation', id: 'm-1', resource: observation('v2'), expectedVersion: 1 },
        { op: 'delete', type: 'Observation', id: 'm-2', expectedVersion: 1 },
        { type: 'Observation', id: 'm-3', resource: observation('new'), expectedVersion: 0 },
      ],
      AUTHOR,
    );
    assert.deepEqual(
      results.map((r) => [r.version, r.resource === null]),
      [
        [2, false],
        [2, true],
        [1, false],
      ],
    );
    const m1 = vault.read('Observation', 'm-1');
    assert.equal(m1.status === 'ok' && (m1.resource['code'] as { text: string }).text, 'v2');
    assert.equal(vault.read('Observation', 'm-2').status, 'gone');
    assert.equal(vault.history('Observation', 'm-1').length, 2);
    assert.equal(vault.verifyAll({ decrypt: true }).ok, true);
  });

  it('a ledger rejection of one entry drops every pending version of the commit', async () => {
    const w = await vault.write({ type: 'Observation', id: 'r-1', resource: observation('v1'), author: AUTHOR });
    // Another writer moves the ledger record to version 2 behind the vault's back.
    const out = await t.node.submitOwn({
      type: 'record.commit',
      body: { author: AUTHOR, custodian: FOUNDER, entries: [{ record: w.record, version: 2, op: 'delete' }] },
    });
    assert.ok(out.ok);
    const height = t.node.chain.head().height;
    await rejects(
      vault.writeMany(
        [
          { type: 'Observation', id: 'r-new', resource: observation('new') },
          { type: 'Observation', id: 'r-1', resource: observation('v2') },
        ],
        AUTHOR,
      ),
      'state.conflict',
    );
    assert.equal(t.node.chain.head().height, height);
    assert.equal(vault.resource('Observation', 'r-new'), undefined);
    assert.deepEqual(vault.read('Observation', 'r-new'), { status: 'not_found' });
    assert.equal(vault.resource('Observation', 'r-1')?.version, 1);
    const pending = vault.db.prepare("SELECT count(*) AS n FROM versions WHERE state = 'pending'").get() as { n: number };
    assert.equal(pending.n, 0);
  });

  it('an unknown author is rejected by the ledger and nothing is kept', async () => {
    await rejects(
      vault.writeMany(
        [
          { type: 'Observation', id: 'u-1', resource: observation('a') },
          { type: 'Observation', id: 'u-2', resource: observation('b') },
        ],
        'prac_nobody',
      ),
      /^(state|tx)\./,
    );
    assert.equal(vault.resource('Observation', 'u-1'), undefined);
    assert.equal(vault.resource('Observation', 'u-2'), undefined);
  });

  it('errors found before the ledger (conflict, not found, duplicates, too many) change nothing', async () => {
    await vault.write({ type: 'Observation', id: 'c-1', resource: observation('v1'), author: AUTHOR });
    const height = t.node.chain.head().height;
    await rejects(
      vault.writeMany(
        [
          { type: 'Observation', id: 'c-new', resource: observation('x') },
          { type: 'Observation', id: 'c-1', resource: observation('v2'), expectedVersion: 7 },
        ],
        AUTHOR,
      ),
      'vault.version_conflict',
    );
    await rejects(
      vault.writeMany(
        [
          { type: 'Observation', id: 'c-new', resource: observation('x') },
          { op: 'delete', type: 'Observation', id: 'c-missing' },
        ],
        AUTHOR,
      ),
      'vault.not_found',
    );
    await rejects(
      vault.writeMany(
        [
          { type: 'Observation', id: 'c-new', resource: observation('x') },
          { op: 'delete', type: 'Observation', id: 'c-new' },
        ],
        AUTHOR,
      ),
      'vault.invalid',
    );
    const many = Array.from({ length: MAX_RECORD_ENTRIES + 1 }, (_, i) => ({
      type: 'Observation',
      id: `c-many-${i}`,
      resource: observation('x'),
    }));
    await assert.rejects(vault.writeMany(many, AUTHOR), /at most 1000/);
    assert.equal(vault.resource('Observation', 'c-new'), undefined);
    assert.equal(vault.resource('Observation', 'c-many-0'), undefined);
    assert.equal(t.node.chain.head().height, height);
    assert.deepEqual(await vault.writeMany([], AUTHOR), []);
  });

  it('commits 1,000 versions in one transaction; chunk: true splits longer lists', async () => {
    const items = Array.from({ length: MAX_RECORD_ENTRIES }, (_, i) => ({
      type: 'Observation',
      id: `k-${i}`,
      resource: observation(`k${i}`),
      patient: randomPseudonym('pat'),
    }));
    const results = await vault.writeMany(items, AUTHOR);
    assert.equal(new Set(results.map((r) => r.height)).size, 1);
    const chunked = await vault.writeMany(
      Array.from({ length: MAX_RECORD_ENTRIES + 5 }, (_, i) => ({
        type: 'Observation',
        id: `ch-${i}`,
        resource: observation('c'),
      })),
      AUTHOR,
      { chunk: true },
    );
    assert.equal(chunked.length, MAX_RECORD_ENTRIES + 5);
    assert.equal(new Set(chunked.map((r) => r.height)).size, 2);
    assert.equal(vault.read('Observation', `ch-${MAX_RECORD_ENTRIES + 4}`).status, 'ok');
  });

  it('takes the locks of every resource: overlapping batches and single writes serialize without deadlock', async () => {
    const ids = ['l-a', 'l-b', 'l-c'];
    const write = (id: string) => ({ type: 'Observation', id, resource: observation(id) });
    const runs = await Promise.all([
      vault.writeMany([write('l-a'), write('l-b')], AUTHOR),
      vault.writeMany([write('l-c'), write('l-b'), write('l-a')], AUTHOR),
      vault.write({ ...write('l-b'), author: AUTHOR }),
      vault.writeMany([write('l-c'), write('l-a')], AUTHOR),
      vault.delete('Observation', 'l-c', AUTHOR).catch((e: unknown) => e),
    ]);
    assert.equal(runs.length, 5);
    for (const id of ids) {
      const history = vault.history('Observation', id);
      // Versions are consecutive: no two commits raced on one resource.
      assert.deepEqual(
        history.map((h) => h.version),
        Array.from({ length: history.length }, (_, i) => history.length - i),
      );
    }
    for (const id of ['l-a', 'l-b']) assert.equal(vault.read('Observation', id).status, 'ok');
  });

  it('a failing per-item hook is reported but every version of the commit stays committed', async () => {
    await assert.rejects(
      vault.writeMany(
        [
          { type: 'Observation', id: 'h-1', resource: observation('a') },
          {
            type: 'Observation',
            id: 'h-2',
            resource: observation('b'),
            onCommit: () => {
              throw new Error('index down');
            },
          },
        ],
        AUTHOR,
      ),
      /index down/,
    );
    assert.equal(vault.read('Observation', 'h-1').status, 'ok');
    assert.equal(vault.read('Observation', 'h-2').status, 'ok');
  });
});
