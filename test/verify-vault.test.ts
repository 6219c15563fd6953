/**
 * `medledger verify --data DIR` also checks the node's encrypted record vault against the ledger:
 * an untouched vault verifies (offline and beside a running node that keeps writing); one flipped
 * ciphertext byte, a deleted committed version row or an envelope swapped for another version's
 * fails the audit, which names the record and version — in the report and through the CLI.
 * (The ledger part of a data-dir audit assumes no block commits while it runs, so the running-node
 * case checks the vault snapshot against in-flight writes directly.)
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Database from 'better-sqlite3-multiple-ciphers';
import { randomPseudonym } from '../src/client/identity.js';
import { paths } from '../src/node/data-dir.js';
import { FileKeyStore } from '../src/storage/file-keystore.js';
import { SqliteLedgerStore } from '../src/storage/sqlite/ledger-store.js';
import { VaultSnapshot } from '../src/vault/check.js';
import { vaultPaths, VaultStore } from '../src/vault/store.js';
import { Vault, type JsonObject } from '../src/vault/vault.js';
import { auditDataDir, auditNode, type AuditReport } from '../src/verify/audit.js';
import { replay } from '../src/verify/replay.js';
import { StoreSource } from '../src/verify/sources.js';
import { runCli, showRun as show, type CliRun } from './support/cli.js';
import { FOUNDER, initTestDir, PASSPHRASE, startTestNode, startTestServer, tempDir } from './support/fixtures.js';

/** Runs `medledger verify ARGS`; the passphrase comes from the environment unless `env` says otherwise. */
const verifyCli = (args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> =>
  runCli(['verify', ...args], { env: { MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE, ...env } });

function observation(text: string): JsonObject {
  return { resourceType: 'Observation', status: 'final', code: { text } };
}

describe('verify --data checks the record vault', { timeout: 120_000 }, () => {
  const temp = tempDir('medledger-verify-vault-');
  const dir = temp.path;
  let keystore: FileKeyStore;
  /** Ledger record ids: `a` has versions 1–2, `b` a write and a delete, `c` one version. */
  const records: Record<'a' | 'b' | 'c', string> = { a: '', b: '', c: '' };
  const VERSIONS = 5;

  const audit = (): Promise<AuditReport> => auditDataDir(paths(dir).ledger, { vault: { dataDir: dir, keystore } });

  /** Changes the closed vault through its encrypted database, with the key from the keystore. */
  function withVault<T>(fn: (db: Database.Database, res: (record: string) => number) => T): T {
    const store = new VaultStore(vaultPaths(dir).db, keystore);
    try {
      const res = (record: string) =>
        (store.db.prepare('SELECT res FROM current WHERE record = ?').get(record) as { res: number }).res;
      return fn(store.db, res);
    } finally {
      store.close();
    }
  }

  const envelopeOf = (record: string, version: number): Buffer =>
    withVault(
      (db, res) =>
        (
          db.prepare('SELECT envelope FROM versions WHERE res = ? AND version = ?').get(res(record), version) as {
            envelope: Buffer;
          }
        ).envelope,
    );
  const setEnvelope = (record: string, version: number, envelope: Buffer): void =>
    void withVault((db, res) =>
      db.prepare('UPDATE versions SET envelope = ? WHERE res = ? AND version = ?').run(envelope, res(record), version),
    );

  function assertFailsAt(report: AuditReport, record: string, version: number, reason: RegExp): void {
    assert.equal(report.ok, false, JSON.stringify(report));
    assert.equal(report.problem?.where, `vault record ${record} version ${version}`);
    assert.match(report.problem?.message ?? '', reason);
    assert.equal(report.vault?.ok, false);
  }

  before(async () => {
    initTestDir(dir);
    const t = await startTestNode({ dir });
    const vault = await Vault.open(t.node, dir);
    try {
      const a1 = await vault.write({ type: 'Observation', id: 'obs-a', resource: observation('a1'), author: FOUNDER });
      await vault.write({ type: 'Observation', id: 'obs-a', resource: observation('a2'), author: FOUNDER });
      const b = await vault.write({ type: 'Observation', id: 'obs-b', resource: observation('b1'), author: FOUNDER });
      await vault.delete('Observation', 'obs-b', FOUNDER);
      const c = await vault.write({
        type: 'Patient',
        id: 'pat-c',
        resource: { resourceType: 'Patient', active: true },
        author: FOUNDER,
        patient: randomPseudonym('pat'),
      });
      Object.assign(records, { a: a1.record, b: b.record, c: c.record });
      assert.equal(vault.verifyAll({ decrypt: true }).ok, true);
    } finally {
      await vault.close();
      await t.close();
    }
    keystore = FileKeyStore.open(paths(dir).keystore, PASSPHRASE);
  });
  after(() => temp.remove());

  it('an untouched vault verifies and its checked versions are counted', async () => {
    const report = await audit();
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    assert.deepEqual(report.vault, { ok: true, checked: VERSIONS });
    const ledgerOnly = await auditDataDir(paths(dir).ledger);
    assert.equal(ledgerOnly.ok, true);
    assert.equal(ledgerOnly.vault, undefined, 'without the vault option the audit is the ledger audit');

    const r = await verifyCli(['--data', dir]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^OK chain "test-chain"/);
    assert.match(r.stdout, new RegExp(`vault: ${VERSIONS} committed record versions match the ledger`));
    const json = await verifyCli(['--data', dir, '--json']);
    assert.equal(json.code, 0, show(json));
    assert.deepEqual((JSON.parse(json.stdout) as AuditReport).vault, { ok: true, checked: VERSIONS });
  });

  it('one flipped envelope byte: the audit and the CLI name the record and version', async () => {
    const original = envelopeOf(records.a, 2);
    const flipped = Buffer.from(original);
    flipped[flipped.length >> 1]! ^= 0x01;
    setEnvelope(records.a, 2, flipped);
    try {
      assertFailsAt(await audit(), records.a, 2, /ciphertext does not match the ledger commitment/);
      const r = await verifyCli(['--data', dir]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stdout, new RegExp(`^FAILED at vault record ${records.a} version 2: `));
      assert.doesNotMatch(r.stdout + r.stderr, /obs-a|Observation/, 'no resource ids or content are printed');
      // --ledger-only skips the vault (the ledger itself is intact).
      const ledgerOnly = await verifyCli(['--data', dir, '--ledger-only']);
      assert.equal(ledgerOnly.code, 0, show(ledgerOnly));
      assert.doesNotMatch(ledgerOnly.stdout, /vault/);
    } finally {
      setEnvelope(records.a, 2, original);
    }
    assert.equal((await audit()).ok, true, 'restored');
  });

  it("an envelope replaced by another version's fails at that version", async () => {
    const original = envelopeOf(records.a, 2);
    setEnvelope(records.a, 2, envelopeOf(records.a, 1));
    try {
      assertFailsAt(await audit(), records.a, 2, /ciphertext does not match/);
      const r = await verifyCli(['--data', dir]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stdout, new RegExp(`^FAILED at vault record ${records.a} version 2`));
    } finally {
      setEnvelope(records.a, 2, original);
    }
  });

  it('a deleted committed version row fails, whether it is an older or the current version', async () => {
    for (const [record, version] of [
      [records.a, 1],
      [records.a, 2],
      [records.b, 2],
      [records.c, 1],
    ] as const) {
      const row = withVault((db, res) => {
        const key = [res(record), version];
        const saved = db.prepare('SELECT * FROM versions WHERE res = ? AND version = ?').get(...key) as Record<string, unknown>;
        db.prepare('DELETE FROM versions WHERE res = ? AND version = ?').run(...key);
        return saved;
      });
      try {
        assertFailsAt(await audit(), record, version, /missing from the vault/);
      } finally {
        withVault((db) => {
          const columns = Object.keys(row);
          db.prepare(`INSERT INTO versions (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`).run(row);
        });
      }
    }
    const r = await verifyCli(['--data', dir]);
    assert.equal(r.code, 0, show(r));
  });

  it('a ledger record of this organization that the vault lacks fails', async () => {
    const saved = withVault((db, res) => {
      const r = res(records.c);
      const rows = {
        current: db.prepare('SELECT * FROM current WHERE res = ?').get(r) as Record<string, unknown>,
        versions: db.prepare('SELECT * FROM versions WHERE res = ?').all(r) as Record<string, unknown>[],
      };
      db.prepare('DELETE FROM versions WHERE res = ?').run(r);
      db.prepare('DELETE FROM current WHERE res = ?').run(r);
      return rows;
    });
    try {
      assertFailsAt(await audit(), records.c, 1, /the vault does not/);
    } finally {
      withVault((db) => {
        const insert = (table: string, row: Record<string, unknown>) => {
          const columns = Object.keys(row);
          db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`).run(row);
        };
        insert('current', saved.current);
        for (const v of saved.versions) insert('versions', v);
      });
    }
    assert.equal((await audit()).ok, true, 'restored');
  });

  it('the vault check needs the passphrase; --passphrase-file gives it', async () => {
    const none = await verifyCli(['--data', dir], { MEDLEDGER_KEY_PASSPHRASE: undefined });
    assert.equal(none.code, 2, show(none));
    assert.match(none.stderr, /holds a record vault.*passphrase/);
    const file = join(dir, 'passphrase.txt');
    writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    const r = await verifyCli(['--data', dir, '--passphrase-file', file], { MEDLEDGER_KEY_PASSPHRASE: undefined });
    assert.equal(r.code, 0, show(r));
    rmSync(file);
    const help = await verifyCli(['--help']);
    assert.equal(help.code, 0, show(help));
    assert.match(help.stdout, /--passphrase-file/);
    assert.match(help.stdout, /--ledger-only/);
    assert.match(help.stdout, /record vault/);
  });

  it('beside a running node: the data-dir audit passes without taking its lock; the API audit is unchanged', async () => {
    const s = await startTestServer({ dir });
    const vault = await Vault.open(s.node, dir);
    try {
      const lockHolder = readFileSync(paths(dir).lock, 'utf8');
      // The vault snapshot is taken first; writes that land after it (on the ledger too) are newer
      // than the snapshot, not missing from it.
      const ledger = new SqliteLedgerStore(paths(dir).ledger, { readonly: true });
      const height = ledger.latestBlock()!.height;
      const snapshot = VaultSnapshot.open(dir, keystore, height);
      const strict = VaultSnapshot.open(dir, keystore, Number.MAX_SAFE_INTEGER);
      try {
        await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            vault.write({ type: 'Observation', id: `obs-live-${i % 4}`, resource: observation(`live ${i}`), author: FOUNDER }),
          ),
        );
        const replayed = await replay(new StoreSource(ledger));
        assert.equal(replayed.problem, undefined);
        assert.ok(replayed.height > height);
        assert.deepEqual(snapshot.check(replayed.state), { ok: true, checked: VERSIONS });
        // Control: had those ledger versions been committed before the snapshot, they would be missing.
        const control = strict.check(replayed.state);
        assert.equal(control.ok, false);
        assert.match(control.ok ? '' : control.mismatch.reason, /the vault does not/);
      } finally {
        snapshot.close();
        strict.close();
        ledger.close();
      }

      const report = await audit();
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.deepEqual(report.vault, { ok: true, checked: VERSIONS + 12 });
      const r = await verifyCli(['--data', dir]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, new RegExp(`vault: ${VERSIONS + 12} committed record versions`));
      assert.equal(readFileSync(paths(dir).lock, 'utf8'), lockHolder, 'the node keeps its data-directory lock');
      await vault.write({ type: 'Observation', id: 'obs-after-audit', resource: observation('after'), author: FOUNDER });

      const api = await auditNode(s.url, { token: s.token });
      assert.equal(api.ok, true, JSON.stringify(api.problem));
      assert.equal(api.vault, undefined);
      assert.equal(vault.verifyAll({ decrypt: true }).ok, true);
    } finally {
      await vault.close();
      await s.close();
    }
  });
});
