/**
 * Audits: a ledger built by a real node verifies from its data directory and through its API; and
 * a single changed byte or row anywhere in a copy of its database — transaction bytes, block
 * headers, block and checkpoint signatures, state values, Merkle log nodes, missing or extra rows,
 * even a byte flipped in the raw file — fails the audit, which names the place.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Database from 'better-sqlite3-multiple-ciphers';
import { toHex } from '../src/crypto/bytes.js';
import { sha256 } from '../src/crypto/hash.js';
import { VerifyPool } from '../src/crypto/verify-pool.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import type { Identity } from '../src/client/identity.js';
import { auditDataDir, auditNode, type AuditReport } from '../src/verify/audit.js';
import { runCli, type CliRun } from './support/cli.js';
import {
  CHAIN,
  initTestDir,
  registerPatient,
  registerPractitioner,
  startTestNode,
  startTestServer,
  tempDir,
} from './support/fixtures.js';
import {
  copyLedger,
  flipBlobByte,
  flipFileByte,
  LEDGER_FILE,
  occurrencesInFile,
  withDatabase,
  type LedgerCopy,
} from './support/tamper.js';

/** What the test ledger looks like; checked when it is built. */
const SHAPE = { blocks: 9, txs: 41 } as const;
/** The block most tampering targets: it holds six transactions. */
const TARGET_BLOCK = 3;

interface Built {
  readonly logRoot: string;
  /** Log index of the second transaction of TARGET_BLOCK. */
  readonly targetTx: number;
  readonly targetWire: Buffer;
}

/**
 * Builds a ledger of SHAPE in `dir` with a real node: block 1 registers three practitioners,
 * blocks 2–7 six patients each, block 8 a key rotation and block 9 a registration under the new key.
 */
async function buildLedger(dir: string): Promise<Built> {
  const t = await startTestNode({ dir });
  try {
    const made = [0, 1, 2].map((i) => registerPractitioner(t.org, `prac_audit-${i}`, ['registrar']));
    await Promise.all(made.map((m) => t.commit(m.tx)));
    const practitioners: Identity[] = made.map((m) => m.practitioner);
    for (let round = 0; round < 6; round++) {
      // All six are queued before the sequencer runs, so each round is exactly one block.
      await Promise.all(practitioners.flatMap((p) => [t.commit(registerPatient(p).tx), t.commit(registerPatient(p).tx)]));
    }
    const rotating = practitioners[0]!;
    const next = generateKeyPair();
    await t.commit(rotating.sign({ type: 'participant.rotate_key', body: { id: rotating.id, key: next.publicKey } }));
    rotating.useKey(next);
    await t.commit(registerPatient(rotating).tx);

    const head = t.node.chain.head();
    assert.deepEqual({ blocks: head.height, txs: head.logSize }, SHAPE, 'the test ledger has the planned shape');
    const target = t.node.chain.store.block(TARGET_BLOCK);
    assert.ok(target && target.txCount === 6, `block ${TARGET_BLOCK} holds six transactions`);
    const [, second] = t.node.chain.store.blockTxs(target);
    assert.ok(second);
    return { logRoot: toHex(head.logRoot), targetTx: second.index, targetWire: Buffer.from(second.wire) };
  } finally {
    await t.close();
  }
}

const runVerifyCli = (dataDir: string): Promise<CliRun> => runCli(['verify', '--data', dataDir]);

function assertOk(report: AuditReport, logRoot: string): void {
  assert.equal(report.problem, undefined, `unexpected problem: ${JSON.stringify(report.problem)}`);
  assert.equal(report.ok, true);
  assert.equal(report.chain, CHAIN);
  assert.equal(report.height, SHAPE.blocks);
  assert.equal(report.txs, SHAPE.txs);
  assert.equal(report.logRoot, logRoot);
}

describe('audit', { timeout: 180_000 }, () => {
  const original = tempDir('medledger-audit-');
  let built: Built;
  let pristine: LedgerCopy;
  let pool: VerifyPool;
  const copies: LedgerCopy[] = [];

  /** A fresh copy of the untouched ledger, removed after the suite. */
  const freshCopy = (): LedgerCopy => {
    const copy = copyLedger(pristine.dir);
    copies.push(copy);
    return copy;
  };

  before(async () => {
    initTestDir(original.path);
    built = await buildLedger(original.path);
    // The node is closed; its WAL is folded into ledger.sqlite before the file is copied.
    pristine = copyLedger(original.path);
    pool = new VerifyPool(2);
  });

  after(async () => {
    await pool?.close();
    for (const copy of copies) copy.remove();
    pristine?.remove();
    original.remove();
  });

  describe('an untouched ledger', () => {
    it('auditDataDir reports ok with the chain, height, transaction count and log root', async () => {
      assertOk(await auditDataDir(pristine.ledger), built.logRoot);
    });

    it(
      'auditNode over a running server reports ok, and a data-directory audit agrees while it runs',
      { timeout: 60_000 },
      async () => {
        const server = await startTestServer({ dir: original.path });
        try {
          assertOk(await auditNode(server.url, { pool, token: server.token }), built.logRoot);
          assertOk(await auditDataDir(join(original.path, LEDGER_FILE), { pool }), built.logRoot);
        } finally {
          await server.close();
        }
      },
    );
  });

  describe('a tampered copy fails the audit, naming the place', () => {
    interface TamperCase {
      readonly name: string;
      readonly tamper: (db: Database.Database) => void;
      /** The exact `problem.where`, or a pattern for it. */
      readonly where: string | RegExp | (() => string);
      readonly message: RegExp;
      /** Blocks reported as verified before the problem (the chain's height if it is beside the blocks). */
      readonly verified: number;
    }

    const targetTxWhere = () => `block ${TARGET_BLOCK}, transaction 1 (log index ${built.targetTx})`;

    const cases: TamperCase[] = [
      {
        name: "(a) one byte inside a stored transaction's wire bytes",
        tamper: (db) => flipBlobByte(db, { table: 'txs', column: 'wire', where: 'idx = ?', params: [built.targetTx] }),
        where: targetTxWhere,
        message: /transaction hash does not match its bytes/,
        verified: TARGET_BLOCK - 1,
      },
      {
        name: '(a′) a transaction signature byte, with the stored transaction hash recomputed to match',
        tamper: (db) => {
          const wire = flipBlobByte(db, { table: 'txs', column: 'wire', where: 'idx = ?', params: [built.targetTx], offset: -1 });
          const changed = Buffer.from(wire);
          changed[changed.length - 1]! ^= 0x01;
          db.prepare('UPDATE txs SET hash = ? WHERE idx = ?').run(Buffer.from(sha256(changed)), built.targetTx);
        },
        where: targetTxWhere,
        message: /signature does not verify/,
        verified: TARGET_BLOCK - 1,
      },
      {
        name: '(b) one byte inside a block header',
        tamper: (db) => flipBlobByte(db, { table: 'blocks', column: 'header', where: 'height = ?', params: [TARGET_BLOCK] }),
        where: `block ${TARGET_BLOCK}`,
        message: /./,
        verified: TARGET_BLOCK - 1,
      },
      {
        name: '(b′) the last byte of a block header (the proposer key: still well-formed)',
        tamper: (db) =>
          flipBlobByte(db, { table: 'blocks', column: 'header', where: 'height = ?', params: [TARGET_BLOCK], offset: -1 }),
        where: `block ${TARGET_BLOCK}`,
        message: /block hash does not match its header|proposer is not a validator/,
        verified: TARGET_BLOCK - 1,
      },
      {
        name: '(b″) the stored block hash',
        tamper: (db) => flipBlobByte(db, { table: 'blocks', column: 'hash', where: 'height = ?', params: [TARGET_BLOCK] }),
        where: `block ${TARGET_BLOCK}`,
        message: /block hash does not match its header/,
        verified: TARGET_BLOCK - 1,
      },
      {
        name: '(c) one byte of a block signature',
        tamper: (db) => flipBlobByte(db, { table: 'blocks', column: 'signature', where: 'height = ?', params: [TARGET_BLOCK] }),
        where: `block ${TARGET_BLOCK}`,
        message: /proposer signature does not verify/,
        verified: TARGET_BLOCK - 1,
      },
      {
        name: '(d) one byte of a checkpoint signature',
        tamper: (db) =>
          flipBlobByte(db, { table: 'blocks', column: 'checkpoint_signature', where: 'height = ?', params: [TARGET_BLOCK] }),
        where: `block ${TARGET_BLOCK}`,
        message: /checkpoint signature does not verify/,
        verified: TARGET_BLOCK - 1,
      },
      {
        name: '(e) one byte of a state value',
        tamper: (db) =>
          flipBlobByte(db, { table: 'state', column: 'value', where: 'key = ?', params: ['participant/prac_audit-1'] }),
        where: 'state entry participant/prac_audit-1',
        message: /differs from the replayed value/,
        verified: SHAPE.blocks,
      },
      {
        name: '(f) one byte of a Merkle log node hash',
        tamper: (db) => flipBlobByte(db, { table: 'log_nodes', column: 'hash', where: 'level = 1 AND idx = 2' }),
        where: 'log node 1/2',
        message: /does not match the replayed log/,
        verified: SHAPE.blocks,
      },
      {
        name: '(f′) one byte of a leaf in the Merkle log',
        tamper: (db) =>
          flipBlobByte(db, { table: 'log_nodes', column: 'hash', where: 'level = 0 AND idx = ?', params: [built.targetTx] }),
        where: () => `log node 0/${built.targetTx}`,
        message: /does not match the replayed log/,
        verified: SHAPE.blocks,
      },
      {
        name: '(g) the last transaction row deleted',
        tamper: (db) => assert.equal(db.prepare('DELETE FROM txs WHERE idx = (SELECT max(idx) FROM txs)').run().changes, 1),
        where: `block ${SHAPE.blocks}`,
        message: /transaction count or position does not match/,
        verified: SHAPE.blocks - 1,
      },
      {
        name: '(g′) an extra transaction row after the last block',
        tamper: (db) => {
          const last = db.prepare('SELECT * FROM txs WHERE idx = (SELECT max(idx) FROM txs)').get() as {
            idx: number;
            height: number;
            wire: Buffer;
          };
          const wire = Buffer.concat([last.wire, Buffer.from([0])]);
          db.prepare('INSERT INTO txs (idx, hash, height, wire) VALUES (?, ?, ?, ?)').run(
            last.idx + 1,
            Buffer.from(sha256(wire)),
            last.height,
            wire,
          );
        },
        where: 'transactions',
        message: new RegExp(`${SHAPE.txs + 1} transactions stored, ${SHAPE.txs} in blocks`),
        verified: SHAPE.blocks,
      },
      {
        name: '(h) an extra state row',
        tamper: (db) =>
          db.prepare('INSERT INTO state (key, value) VALUES (?, ?)').run('participant/prac_ghost', Buffer.from([0xa0])),
        where: 'state entry participant/prac_ghost',
        message: /not produced by any transaction/,
        verified: SHAPE.blocks,
      },
      {
        name: '(h′) a state row deleted',
        tamper: (db) => assert.equal(db.prepare('DELETE FROM state WHERE key = ?').run('participant/prac_audit-2').changes, 1),
        where: 'state',
        message: /1 replayed entries are missing/,
        verified: SHAPE.blocks,
      },
      {
        name: '(i) a log node row deleted',
        tamper: (db) => assert.equal(db.prepare('DELETE FROM log_nodes WHERE level = 2 AND idx = 1').run().changes, 1),
        where: 'log level 2',
        message: /nodes stored, \d+ expected/,
        verified: SHAPE.blocks,
      },
      {
        name: '(j) one byte of the founder name in the stored genesis',
        tamper: (db) => {
          const row = db.prepare("SELECT value FROM meta WHERE key = 'genesis'").get() as { value: Buffer };
          const at = row.value.indexOf('Test Hospital');
          assert.ok(at >= 0);
          flipBlobByte(db, { table: 'meta', column: 'value', where: "key = 'genesis'", offset: at });
        },
        where: 'block 1',
        message: /previous block hash does not match/,
        verified: 0,
      },
    ];

    for (const c of cases) {
      it(c.name, async () => {
        const copy = freshCopy();
        withDatabase(copy.ledger, c.tamper);
        const report = await auditDataDir(copy.ledger, { pool });
        assert.equal(report.ok, false, 'the audit fails');
        assert.ok(report.problem, 'the report names a problem');
        const where = typeof c.where === 'function' ? c.where() : c.where;
        if (typeof where === 'string') assert.equal(report.problem.where, where, report.problem.message);
        else assert.match(report.problem.where, where, report.problem.message);
        assert.match(report.problem.message, c.message, `at ${report.problem.where}`);
        assert.equal(report.height, c.verified, 'blocks verified before the problem');
      });
    }

    it("one byte flipped in the raw ledger.sqlite file, inside a transaction's wire bytes", async () => {
      // The copy is checkpointed, so the file alone holds every row. SQLite may also have left stale
      // copies of the row in free space (from page splits); flipping those must not raise an alarm.
      const occurrences = occurrencesInFile(pristine.ledger, built.targetWire);
      assert.ok(occurrences.length >= 1, 'the transaction bytes are in the file');
      let live = 0;
      for (const at of occurrences) {
        const copy = freshCopy();
        flipFileByte(copy.ledger, at + (built.targetWire.length >> 1));
        const stored = withDatabase(
          copy.ledger,
          (db) => db.prepare('SELECT wire FROM txs WHERE idx = ?').get(built.targetTx) as { wire: Buffer },
        );
        const report = await auditDataDir(copy.ledger, { pool });
        if (stored.wire.equals(built.targetWire)) {
          assert.equal(
            report.ok,
            true,
            `a flip in free space (file offset ${at}) is not a ledger change: ${JSON.stringify(report.problem)}`,
          );
          continue;
        }
        live += 1;
        assert.equal(report.ok, false, `the audit fails for the flip at file offset ${at}`);
        assert.equal(report.problem?.where, targetTxWhere(), report.problem?.message);
        assert.match(report.problem?.message ?? '', /transaction hash does not match its bytes/);
      }
      assert.equal(live, 1, 'exactly one occurrence is the live row');
    });

    it('medledger verify --data DIR exits 1 and prints "FAILED at" naming the block', { timeout: 60_000 }, async () => {
      const control = await runVerifyCli(freshCopy().dir);
      assert.equal(control.code, 0, `untouched copy: ${control.stdout}${control.stderr}`);
      assert.match(control.stdout, /^OK chain "test-chain": 9 blocks, 41 transactions/);

      const copy = freshCopy();
      withDatabase(copy.ledger, (db) =>
        flipBlobByte(db, { table: 'blocks', column: 'signature', where: 'height = ?', params: [TARGET_BLOCK] }),
      );
      const r = await runVerifyCli(copy.dir);
      assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^FAILED at block ${TARGET_BLOCK}: proposer signature does not verify$`, 'm'));
      assert.match(r.stdout, new RegExp(`the ${TARGET_BLOCK - 1} blocks before it verified`));
    });
  });
});
