/**
 * The encrypted record vault on a real node: versions committed to the ledger, reads checked
 * against the ledger's commitments, KEK rotation, crash recovery of pending versions and no
 * plaintext in the files on disk.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomPseudonym } from '../src/client/identity.js';
import { generateDataKey, wrapKey } from '../src/crypto/aead.js';
import { paths } from '../src/node/data-dir.js';
import type { KeyStore } from '../src/storage/ports.js';
import { finishRotation, KekError, KekRing, kekName, rotateKek, type WrappedKeyRow } from '../src/vault/kek.js';
import { vaultPaths, VAULT_DB_KEY } from '../src/vault/store.js';
import { CONTENT_FIELD, contentRefOf } from '../src/vault/content-ref.js';
import { IntegrityError, Vault, VaultError, type JsonObject } from '../src/vault/vault.js';
import { FOUNDER, initTestDir, startTestNode, tempDir, type TestNode } from './support/fixtures.js';

const AUTHOR = FOUNDER;

function observation(text: string, extra: JsonObject = {}): JsonObject {
  return { resourceType: 'Observation', status: 'final', code: { text }, ...extra };
}

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof VaultError, `expected VaultError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

function assertIntegrityError(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof IntegrityError, `expected IntegrityError, got ${String(error)}`);
    return true;
  });
}

class MemoryKeyStore implements KeyStore {
  readonly keys = new Map<string, Uint8Array>();
  names(): string[] {
    return [...this.keys.keys()].sort();
  }
  secretKey(name: string): Uint8Array | undefined {
    const key = this.keys.get(name);
    return key && new Uint8Array(key);
  }
  put(name: string, secretKey: Uint8Array): void {
    this.keys.set(name, new Uint8Array(secretKey));
  }
  delete(name: string): void {
    this.keys.delete(name);
  }
}

describe('KEK ring', () => {
  it('creates kek-1, rotates through batches and deletes the old KEKs', async () => {
    const keystore = new MemoryKeyStore();
    const ring = KekRing.open(keystore);
    assert.equal(ring.currentId, 1);
    assert.deepEqual(keystore.names(), ['kek-1']);
    // A table of 23 wrapped keys held in memory.
    const rows = new Map<string, WrappedKeyRow & { dataKey: Uint8Array }>();
    for (let i = 0; i < 23; i++) {
      const dataKey = generateDataKey();
      const label = `rec_${i}/1`;
      rows.set(label, { res: i, version: 1, label, kek: 1, wrapped: ring.wrap(dataKey, label).wrapped, dataKey });
    }
    let transactions = 0;
    const table = {
      wrappedNotUnder: (kek: number, limit: number) => [...rows.values()].filter((r) => r.kek !== kek).slice(0, limit),
      rewrap: (updates: readonly { res: number; version: number; kek: number; wrapped: Uint8Array }[]) => {
        transactions += 1;
        for (const u of updates) {
          const label = `rec_${u.res}/${u.version}`;
          rows.set(label, { ...rows.get(label)!, kek: u.kek, wrapped: u.wrapped });
        }
      },
    };
    const result = await rotateKek(ring, table, 5);
    assert.deepEqual(result, { kek: 2, rewrapped: 23, retired: [1] });
    assert.equal(transactions, 5);
    assert.deepEqual(keystore.names(), ['kek-2']);
    for (const r of rows.values()) assert.deepEqual(ring.unwrap(2, r.wrapped, r.label), r.dataKey);
    assert.throws(() => ring.key(1), KekError);
    assert.throws(() => ring.retire(2), KekError);
    // A rotation cut short (new KEK created, nothing re-wrapped) is finished on the next open.
    ring.create();
    const reopened = KekRing.open(keystore);
    assert.equal(reopened.currentId, 3);
    assert.deepEqual((await finishRotation(reopened, table)).retired, [2]);
    assert.deepEqual(keystore.names(), [kekName(3)]);
  });

  it('refuses a key wrapped under another label', () => {
    const ring = KekRing.open(new MemoryKeyStore());
    const { wrapped } = ring.wrap(generateDataKey(), 'rec_a/1');
    assert.throws(() => ring.unwrap(1, wrapped, 'rec_a/2'));
    assert.throws(() => ring.unwrap(1, wrapKey(generateDataKey(), generateDataKey(), 'rec_a/1'), 'rec_a/1'));
  });
});

describe('vault', () => {
  let t: TestNode;
  let vault: Vault;

  before(async () => {
    t = await startTestNode();
    vault = await Vault.open(t.node, t.dir, { rotationBatch: 7 });
  });
  after(async () => {
    await vault.close();
    await t.close();
  });

  it('writes and reads a resource, stamping id and meta', async () => {
    const patient = randomPseudonym('pat');
    const written = await vault.write({
      type: 'Observation',
      id: 'obs-1',
      resource: observation('glucose'),
      author: AUTHOR,
      patient,
    });
    assert.equal(written.version, 1);
    assert.match(written.record, /^rec_[a-z2-7]{26}$/);
    assert.equal(written.txHash.length, 32);
    const read = vault.read('Observation', 'obs-1');
    assert.equal(read.status, 'ok');
    if (read.status !== 'ok') return;
    assert.equal(read.version, 1);
    assert.equal(read.author, AUTHOR);
    assert.deepEqual(read.resource, {
      ...observation('glucose'),
      id: 'obs-1',
      meta: { versionId: '1', lastUpdated: new Date(written.lastUpdated).toISOString() },
    });
    // The ledger holds the commitment, the patient pseudonym and the author, nothing else.
    const head = t.node.chain.app.recordHead(written.record);
    assert.deepEqual(head, { version: 1, custodian: FOUNDER, patient, deleted: false });
    assert.equal(vault.resource('Observation', 'obs-1')?.patient, patient);
    assert.deepEqual(vault.read('Observation', 'missing'), { status: 'not_found' });
    assert.deepEqual(vault.read('Observation', 'obs-1', 2), { status: 'not_found' });
  });

  it('keeps every version readable (vread) and lists the history newest first', async () => {
    for (let i = 1; i <= 3; i++) {
      const w = await vault.write({ type: 'Observation', id: 'obs-v', resource: observation(`v${i}`), author: AUTHOR });
      assert.equal(w.version, i);
    }
    for (let i = 1; i <= 3; i++) {
      const r = vault.read('Observation', 'obs-v', i);
      assert.equal(r.status === 'ok' && (r.resource['code'] as { text: string }).text, `v${i}`);
    }
    const history = vault.history('Observation', 'obs-v');
    assert.deepEqual(
      history.map((h) => [h.version, h.deleted, (h.resource?.['code'] as { text: string } | undefined)?.text]),
      [
        [3, false, 'v3'],
        [2, false, 'v2'],
        [1, false, 'v1'],
      ],
    );
  });

  it('deletes: the resource reads as gone, older versions stay readable, a new write revives it', async () => {
    await vault.write({ type: 'Observation', id: 'obs-d', resource: observation('to delete'), author: AUTHOR });
    const del = await vault.delete('Observation', 'obs-d', AUTHOR);
    assert.equal(del.version, 2);
    const read = vault.read('Observation', 'obs-d');
    assert.equal(read.status, 'gone');
    assert.equal(read.status === 'gone' && read.version, 2);
    assert.equal(vault.read('Observation', 'obs-d', 1).status, 'ok');
    assert.equal(t.node.chain.app.recordHead(del.record)?.deleted, true);
    await rejects(vault.delete('Observation', 'obs-d', AUTHOR), 'vault.gone');
    await rejects(vault.delete('Observation', 'never-was', AUTHOR), 'vault.not_found');
    const revived = await vault.write({ type: 'Observation', id: 'obs-d', resource: observation('back'), author: AUTHOR });
    assert.equal(revived.version, 3);
    assert.equal(vault.read('Observation', 'obs-d').status, 'ok');
    assert.deepEqual(
      vault.history('Observation', 'obs-d').map((h) => [h.version, h.deleted]),
      [
        [3, false],
        [2, true],
        [1, false],
      ],
    );
  });

  it('refuses a write whose expectedVersion is stale, changing nothing', async () => {
    await vault.write({ type: 'Observation', id: 'obs-e', resource: observation('a'), author: AUTHOR, expectedVersion: 0 });
    await rejects(
      vault.write({ type: 'Observation', id: 'obs-e', resource: observation('b'), author: AUTHOR, expectedVersion: 0 }),
      'vault.version_conflict',
    );
    await vault.write({ type: 'Observation', id: 'obs-e', resource: observation('c'), author: AUTHOR, expectedVersion: 1 });
    await rejects(
      vault.write({ type: 'Observation', id: 'obs-e', resource: observation('d'), author: AUTHOR, expectedVersion: 1 }),
      'vault.version_conflict',
    );
    await rejects(vault.delete('Observation', 'obs-e', AUTHOR, 1), 'vault.version_conflict');
    assert.equal(vault.resource('Observation', 'obs-e')?.version, 2);
  });

  it('turns a ledger rejection into a VaultError with the ledger code and drops the pending version', async () => {
    await rejects(
      vault.write({ type: 'Observation', id: 'obs-r', resource: observation('x'), author: 'prac_nobody' }),
      'state.not_found',
    );
    assert.equal(vault.resource('Observation', 'obs-r'), undefined);
    const rows = vault.db.prepare("SELECT count(*) AS n FROM versions WHERE state = 'pending'").get() as { n: number };
    assert.equal(rows.n, 0);
    await rejects(vault.write({ type: 'Observation', id: 'bad id!', resource: {}, author: AUTHOR }), 'vault.invalid');
    await rejects(
      vault.write({ type: 'Patient', id: 'p', resource: { resourceType: 'Observation' }, author: AUTHOR }),
      'vault.invalid',
    );
    const patient = randomPseudonym('pat');
    await vault.write({ type: 'Observation', id: 'obs-p', resource: observation('p'), author: AUTHOR, patient });
    await rejects(
      vault.write({
        type: 'Observation',
        id: 'obs-p',
        resource: observation('p'),
        author: AUTHOR,
        patient: randomPseudonym('pat'),
      }),
      'vault.patient_mismatch',
    );
  });

  it('serializes concurrent writes to one resource into consecutive versions', async () => {
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        vault.write({ type: 'Observation', id: 'obs-c', resource: observation(`c${i}`), author: AUTHOR }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.version),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.equal(vault.resource('Observation', 'obs-c')?.version, 25);
    assert.equal(t.node.chain.app.recordHead(results[0]!.record)?.version, 25);
    const last = vault.read('Observation', 'obs-c');
    assert.equal(last.status === 'ok' && (last.resource['code'] as { text: string }).text, 'c24');
  });

  it('commits 200 concurrent writes to different resources', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        vault.write({ type: 'Observation', id: `many-${i}`, resource: observation(`m${i}`), author: AUTHOR }),
      ),
    );
    assert.ok(results.every((r) => r.version === 1));
    assert.equal(new Set(results.map((r) => r.record)).size, 200);
    for (let i = 0; i < 200; i++) assert.equal(vault.read('Observation', `many-${i}`).status, 'ok');
  });

  it('detects a flipped ciphertext byte on read and in verifyAll', async () => {
    assert.deepEqual(vault.verifyAll({ decrypt: true }).ok, true);
    const w = await vault.write({ type: 'Observation', id: 'obs-t', resource: observation('tamper'), author: AUTHOR });
    const res = vault.resource('Observation', 'obs-t')!.res;
    const row = vault.db.prepare('SELECT envelope FROM versions WHERE res = ? AND version = 1').get(res) as { envelope: Buffer };
    const original = Buffer.from(row.envelope);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 20]! ^= 0x01;
    vault.db.prepare('UPDATE versions SET envelope = ? WHERE res = ? AND version = 1').run(flipped, res);
    assertIntegrityError(() => vault.read('Observation', 'obs-t'));
    assertIntegrityError(() => vault.history('Observation', 'obs-t'));
    const verdict = vault.verifyAll();
    assert.equal(verdict.ok, false);
    if (!verdict.ok) {
      assert.deepEqual(
        {
          type: verdict.mismatch.type,
          id: verdict.mismatch.id,
          version: verdict.mismatch.version,
          record: verdict.mismatch.record,
        },
        { type: 'Observation', id: 'obs-t', version: 1, record: w.record },
      );
      assert.match(verdict.mismatch.reason, /commitment/);
    }
    vault.db.prepare('UPDATE versions SET envelope = ? WHERE res = ? AND version = 1').run(original, res);
    assert.equal(vault.read('Observation', 'obs-t').status, 'ok');
    assert.equal(vault.verifyAll().ok, true);
  });

  it('refuses a wrapped data key moved to another version, and an altered author', async () => {
    await vault.write({ type: 'Observation', id: 'obs-k', resource: observation('k1'), author: AUTHOR });
    await vault.write({ type: 'Observation', id: 'obs-k', resource: observation('k2'), author: AUTHOR });
    const res = vault.resource('Observation', 'obs-k')!.res;
    const get = vault.db.prepare('SELECT wrapped_key FROM versions WHERE res = ? AND version = ?');
    const set = vault.db.prepare('UPDATE versions SET wrapped_key = ? WHERE res = ? AND version = ?');
    const v1 = (get.get(res, 1) as { wrapped_key: Buffer }).wrapped_key;
    const v2 = (get.get(res, 2) as { wrapped_key: Buffer }).wrapped_key;
    set.run(v1, res, 2);
    assertIntegrityError(() => vault.read('Observation', 'obs-k', 2));
    const deep = vault.verifyAll({ decrypt: true });
    assert.equal(deep.ok, false);
    assert.equal(vault.verifyAll().ok, true, 'the ciphertext itself still matches its commitment');
    set.run(v2, res, 2);
    assert.equal(vault.read('Observation', 'obs-k', 2).status, 'ok');
    // The stored author is not trusted: the associated data uses the ledger's author.
    vault.db.prepare("UPDATE versions SET author = 'prac_mallory' WHERE res = ? AND version = 2").run(res);
    const reread = vault.read('Observation', 'obs-k', 2);
    assert.equal(reread.status === 'ok' && reread.author, AUTHOR);
  });

  it('rotates the KEK: every version still reads and the old KEK leaves the keystore', async () => {
    const before = vault.currentKek;
    assert.ok(t.node.keystore.names().includes(kekName(before)));
    const wrappedCount = (
      vault.db.prepare('SELECT count(*) AS n FROM versions WHERE kek IS NOT NULL').get() as {
        n: number;
      }
    ).n;
    // Writes go on during the rotation.
    const during = vault.write({ type: 'Observation', id: 'obs-during', resource: observation('during'), author: AUTHOR });
    const result = await vault.rotateKek();
    await during;
    assert.equal(result.kek, before + 1);
    assert.deepEqual(result.retired, [before]);
    assert.ok(result.rewrapped >= wrappedCount - 1);
    assert.deepEqual(
      t.node.keystore.names().filter((n) => n.startsWith('kek-')),
      [kekName(before + 1)],
    );
    const stale = vault.db.prepare('SELECT count(*) AS n FROM versions WHERE kek IS NOT NULL AND kek <> ?').get(before + 1) as {
      n: number;
    };
    assert.equal(stale.n, 0);
    assert.deepEqual(vault.verifyAll({ decrypt: true }).ok, true);
    assert.equal(vault.read('Observation', 'obs-v', 1).status, 'ok');
    assert.equal(vault.read('Observation', 'obs-during').status, 'ok');
    const after = await vault.write({ type: 'Observation', id: 'obs-v', resource: observation('v4'), author: AUTHOR });
    assert.equal(after.version, 4);
  });

  it('links FHIR Patient ids to pseudonyms off the ledger', () => {
    const pseudonym = vault.patientPseudonym('pat-123', { create: true })!;
    assert.match(pseudonym, /^pat_[a-z2-7]{26}$/);
    assert.equal(vault.patientPseudonym('pat-123'), pseudonym);
    assert.equal(vault.patientIdOf(pseudonym), 'pat-123');
    assert.equal(vault.patientPseudonym('pat-999'), undefined);
    const other = randomPseudonym('pat');
    vault.linkPatient('pat-456', other);
    assert.equal(vault.patientIdOf(other), 'pat-456');
    assert.throws(() => vault.linkPatient('pat-789', other), VaultError);
  });

  it('measures 2,000 concurrent writes of ~1 KB resources', async (ctx) => {
    const filler = 'x'.repeat(900);
    const start = performance.now();
    const results = await Promise.all(
      Array.from({ length: 2000 }, (_, i) =>
        vault.write({
          type: 'Observation',
          id: `bench-${i}`,
          resource: observation(`b${i}`, { note: [{ text: filler }] }),
          author: AUTHOR,
        }),
      ),
    );
    const seconds = (performance.now() - start) / 1000;
    assert.equal(results.length, 2000);
    const rate = Math.round(2000 / seconds);
    ctx.diagnostic(`2000 concurrent ~1 KB writes in ${seconds.toFixed(2)} s: ${rate} writes/s`);
    console.log(`vault bench: 2000 concurrent ~1 KB writes in ${seconds.toFixed(2)} s = ${rate} writes/s`);
    const readStart = performance.now();
    for (let i = 0; i < 2000; i++) vault.read('Observation', `bench-${i}`);
    const readRate = Math.round(2000 / ((performance.now() - readStart) / 1000));
    console.log(`vault bench: verified reads ${readRate} reads/s`);
  });
});

describe('vault on disk', () => {
  it('keeps no plaintext in vault.sqlite, its WAL or the ledger', async () => {
    const temp = tempDir();
    initTestDir(temp.path);
    try {
      const marker = `MARKER-${randomPseudonym('rec').slice(4)}-UNIQUE`;
      const t = await startTestNode({ dir: temp.path });
      const vault = await Vault.open(t.node, temp.path);
      for (let i = 0; i < 20; i++) {
        await vault.write({
          type: 'Observation',
          id: `disk-${i}`,
          resource: observation(marker, { id: `disk-${i}` }),
          author: AUTHOR,
        });
      }
      vault.patientPseudonym(`${marker.toLowerCase().slice(0, 40)}`, { create: true });
      const files = vaultPaths(temp.path);
      const check = (label: string): void => {
        for (const path of [files.db, files.wal, paths(temp.path).ledger, `${paths(temp.path).ledger}-wal`]) {
          if (!existsSync(path)) continue;
          const raw = readFileSync(path);
          assert.equal(raw.indexOf(marker), -1, `${label}: ${path} contains the marker`);
          assert.equal(raw.indexOf(marker.toLowerCase()), -1, `${label}: ${path} contains the marker`);
          assert.equal(raw.indexOf('Observation'), -1, `${label}: ${path} contains a resource type`);
        }
        // An encrypted SQLite file does not start with the plaintext header.
        assert.notEqual(readFileSync(files.db).subarray(0, 15).toString('latin1'), 'SQLite format 3');
      };
      assert.ok(existsSync(files.wal));
      check('open');
      await vault.close();
      await t.close();
      check('closed');
      assert.ok(t.node.keystore.names().includes(VAULT_DB_KEY));
    } finally {
      temp.remove();
    }
  });

  it('settles pending versions on open: ledger-committed ones commit, the others go', async () => {
    const temp = tempDir();
    initTestDir(temp.path);
    try {
      let t = await startTestNode({ dir: temp.path });
      let vault = await Vault.open(t.node, temp.path);
      const indexed: string[] = [];
      // A version the ledger committed but the vault did not mark (crash after commit).
      await vault.write({ type: 'Observation', id: 'kept', resource: observation('kept v1'), author: AUTHOR });
      await vault.write({ type: 'Observation', id: 'kept', resource: observation('kept v2'), author: AUTHOR });
      const kept = vault.resource('Observation', 'kept')!;
      vault.db
        .prepare("UPDATE versions SET state = 'pending', tx_hash = NULL, height = NULL WHERE res = ? AND version = 2")
        .run(kept.res);
      vault.db.prepare('UPDATE current SET version = 1 WHERE res = ?').run(kept.res);
      // A new resource whose first version never reached the ledger (crash before submit).
      vault.db.transaction(() => {
        const res = vault.db
          .prepare(
            "INSERT INTO current (type, id, record, version, deleted, last_updated) VALUES ('Observation', 'lost', ?, 0, 1, 0)",
          )
          .run(randomPseudonym('rec')).lastInsertRowid;
        vault.db
          .prepare(
            "INSERT INTO versions (res, version, envelope, wrapped_key, kek, author, last_updated, deleted, state) VALUES (?, 1, x'01', x'02', 1, ?, 0, 0, 'pending')",
          )
          .run(res, AUTHOR);
      })();
      // A second version of an existing resource that never reached the ledger.
      vault.db
        .prepare(
          "INSERT INTO versions (res, version, envelope, wrapped_key, kek, author, last_updated, deleted, state) VALUES (?, 3, x'01', x'02', 1, ?, 0, 0, 'pending')",
        )
        .run(kept.res, AUTHOR);
      // Oops: two pending rows for one resource (v2 real, v3 fake) — the fake one must go.
      await vault.close();
      await t.close();

      t = await startTestNode({ dir: temp.path });
      vault = await Vault.open(t.node, temp.path, { onCommit: (ctx) => indexed.push(`${ctx.type}/${ctx.id}/${ctx.version}`) });
      assert.deepEqual(vault.read('Observation', 'lost'), { status: 'not_found' });
      assert.equal(vault.resource('Observation', 'lost'), undefined);
      assert.equal((vault.db.prepare("SELECT count(*) AS n FROM current WHERE id = 'lost'").get() as { n: number }).n, 0);
      const read = vault.read('Observation', 'kept');
      assert.equal(read.status === 'ok' && read.version, 2);
      assert.equal(read.status === 'ok' && (read.resource['code'] as { text: string }).text, 'kept v2');
      assert.deepEqual(indexed, ['Observation/kept/2']);
      assert.equal((vault.db.prepare("SELECT count(*) AS n FROM versions WHERE state = 'pending'").get() as { n: number }).n, 0);
      assert.equal(vault.verifyAll({ decrypt: true }).ok, true);
      // And the resource goes on from there.
      assert.equal(
        (await vault.write({ type: 'Observation', id: 'kept', resource: observation('v3'), author: AUTHOR })).version,
        3,
      );
      await vault.close();
      await t.close();
    } finally {
      temp.remove();
    }
  });

  it('content files: a committed version holds its file, a refused one leaves none, strays are swept on open', async () => {
    const temp = tempDir();
    initTestDir(temp.path);
    try {
      let t = await startTestNode({ dir: temp.path });
      let vault = await Vault.open(t.node, temp.path);
      const bytes = Buffer.from('scanned letter bytes');
      const source = async function* () {
        yield bytes;
      };
      const content = await vault.contents.write(source(), 1024);
      const binary = { resourceType: 'Binary', contentType: 'application/pdf' };
      await vault.write({ type: 'Binary', id: 'letter', resource: binary, author: AUTHOR, content });
      // The ledger refuses an author that is not a participant: the version and its file are gone.
      const refused = await vault.contents.write(source(), 1024);
      await assert.rejects(
        vault.write({ type: 'Binary', id: 'other', resource: binary, author: 'prac_nobody', content: refused }),
      );
      assert.deepEqual(readdirSync(vault.contents.dir), [content.id]);
      // The reference is sealed inside the version; the vault refuses one given as resource data.
      await assert.rejects(
        vault.write({ type: 'Binary', id: 'forged', resource: { ...binary, [CONTENT_FIELD]: {} }, author: AUTHOR }),
        /reserved/,
      );
      const stray = join(vault.contents.dir, 'ab'.repeat(16));
      writeFileSync(stray, 'left by a crash');
      writeFileSync(`${stray}.tmp`, 'half an upload');
      await vault.close();
      await t.close();

      t = await startTestNode({ dir: temp.path });
      vault = await Vault.open(t.node, temp.path);
      assert.deepEqual(readdirSync(vault.contents.dir), [content.id]);
      const read = vault.read('Binary', 'letter');
      assert.ok(read.status === 'ok');
      const ref = contentRefOf(read.resource)!;
      assert.equal(ref.id, content.id);
      assert.ok(vault.contents.plaintextSync(ref).equals(bytes));
      assert.equal(vault.verifyAll({ decrypt: true }).ok, true);
      await vault.close();
      await t.close();
    } finally {
      temp.remove();
    }
  });

  it('finishes a KEK rotation cut short when it opens', async () => {
    const temp = tempDir();
    initTestDir(temp.path);
    try {
      let t = await startTestNode({ dir: temp.path });
      let vault = await Vault.open(t.node, temp.path);
      await vault.write({ type: 'Observation', id: 'r', resource: observation('r'), author: AUTHOR });
      await vault.close();
      // Crash right after the new KEK was created.
      KekRing.open(t.node.keystore).create();
      assert.deepEqual(
        t.node.keystore.names().filter((n) => n.startsWith('kek-')),
        ['kek-1', 'kek-2'],
      );
      await t.close();
      t = await startTestNode({ dir: temp.path });
      vault = await Vault.open(t.node, temp.path);
      assert.deepEqual(
        t.node.keystore.names().filter((n) => n.startsWith('kek-')),
        ['kek-2'],
      );
      assert.equal(vault.read('Observation', 'r').status, 'ok');
      await vault.close();
      await t.close();
    } finally {
      temp.remove();
    }
  });
});
