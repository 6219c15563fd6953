/**
 * `medledger vault status` and `medledger vault rotate-kek`, run as the real command (child
 * processes of bin/medledger.js) against a real data directory whose records were written through
 * the FHIR repository: every version reads back identically after a rotation, the keystore holds
 * only the new KEK, every data key is wrapped under it, a second rotation works, erased records
 * stay erased; a running node (the data-directory lock), a wrong passphrase, a missing KEK or a
 * damaged wrapped key make it refuse and change nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openEncryptedSqlite } from '../src/storage/sqlite/cipher.js';
import { randomPseudonym } from '../src/client/identity.js';
import { FhirRepository } from '../src/fhir/repository.js';
import { startErasureWorker } from '../src/node/access-ledger.js';
import { paths } from '../src/node/data-dir.js';
import { FileKeyStore } from '../src/storage/file-keystore.js';
import { kekIds, kekName } from '../src/vault/kek.js';
import { VAULT_DB_KEY, vaultPaths } from '../src/vault/store.js';
import { runCli, showRun as show, type CliRun } from './support/cli.js';
import { initTestDir, PASSPHRASE, startTestNode, tempDir, type TestNode } from './support/fixtures.js';

const cli = (args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runCli(args, { env: { MEDLEDGER_KEY_PASSPHRASE: PASSPHRASE, ...env } });

interface StatusJson {
  current: number | null;
  keystore: number[];
  dataKeys: { kek: number; count: number }[];
  missing: number[];
}

describe('medledger vault status / rotate-kek', { timeout: 240_000 }, () => {
  const temp = tempDir('medledger-vault-cli-');
  const dir = join(temp.path, 'node');
  /** Every version of every live resource, as read through the repository before any rotation. */
  const versions = new Map<string, unknown>();
  /** Resources erased (crypto-shredded) before the rotations. */
  const erased: string[] = [];
  /** Data keys stored: one per non-deleted version of a live resource. */
  let dataKeys = 0;

  const status = async (): Promise<StatusJson> => {
    const r = await cli(['vault', 'status', '--data', dir, '--json']);
    assert.equal(r.code, 0, show(r));
    return JSON.parse(r.stdout) as StatusJson;
  };
  const keksInKeystore = (): number[] => kekIds(FileKeyStore.open(paths(dir).keystore, PASSPHRASE));
  const fileHash = (path: string): string =>
    existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
  /**
   * What a rotation changes: the keystore file, and every version's KEK id and wrapped key (read
   * through a connection of its own; the files themselves may be checkpointed by any opener).
   */
  const files = (): Record<string, string> => {
    const key = FileKeyStore.open(paths(dir).keystore, PASSPHRASE).secretKey(VAULT_DB_KEY)!;
    const { db } = openEncryptedSqlite(vaultPaths(dir).db, key, { readonly: true });
    try {
      const hash = createHash('sha256');
      for (const row of db
        .prepare('SELECT res, version, kek, wrapped_key FROM versions ORDER BY res, version')
        .iterate() as IterableIterator<{ res: number; version: number; kek: number | null; wrapped_key: Buffer | null }>)
        hash.update(`${row.res}/${row.version}/${row.kek}/${row.wrapped_key?.toString('hex')}\n`);
      return { keystore: fileHash(paths(dir).keystore), versions: hash.digest('hex') };
    } finally {
      db.close();
    }
  };

  /** Opens the node and the repository, runs `fn`, closes both (releasing the lock). */
  async function withRepository<T>(fn: (repo: FhirRepository, t: TestNode) => Promise<T>): Promise<T> {
    const t = await startTestNode({ dir });
    try {
      const repo = await FhirRepository.open(t.node, dir);
      try {
        return await fn(repo, t);
      } finally {
        await repo.close();
      }
    } finally {
      await t.close();
    }
  }

  /** Every version of every resource reads back exactly as before; erased ones stay unreadable. */
  async function assertRecordsIntact(): Promise<void> {
    await withRepository(async (repo) => {
      for (const [key, expected] of versions) {
        const [type, id, version] = key.split('/') as [string, string, string];
        assert.deepEqual(repo.vread(type, id, Number(version)).resource, expected, key);
      }
      for (const key of erased) {
        const [type, id] = key.split('/') as [string, string];
        assert.throws(() => repo.read(type, id), /not|gone|deleted|erased/i, `${key} stays erased`);
        assert.throws(() => repo.vread(type, id, 1), /not|gone|deleted|erased/i, `${key}/_history/1 stays erased`);
      }
    });
  }

  before(async () => {
    initTestDir(dir);
    await withRepository(async (repo, t) => {
      const actor = { author: t.org.id };
      const record = async (type: string, id: string) => {
        const current = repo.current(type, id)!;
        for (let v = 1; v <= current.version; v++) {
          try {
            versions.set(`${type}/${id}/${v}`, repo.vread(type, id, v).resource);
            dataKeys += 1;
          } catch {
            // a deleted version has no content and no data key
          }
        }
      };
      const ids: [string, string][] = [];
      for (let p = 0; p < 3; p++) {
        const patient = await repo.create({ resourceType: 'Patient', name: [{ family: `Rotation${p}`, given: ['Kek'] }] }, actor);
        ids.push(['Patient', patient.resource.id!]);
        for (let o = 0; o < 4; o++) {
          const obs = await repo.create(
            {
              resourceType: 'Observation',
              status: 'final',
              code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
              subject: { reference: `Patient/${patient.resource.id!}` },
              valueQuantity: { value: 60 + p * 10 + o, unit: '/min' },
            },
            actor,
          );
          ids.push(['Observation', obs.resource.id!]);
        }
      }
      // A second version, and a deleted resource (its delete version has no data key).
      const [, firstObs] = ids[1]!;
      const v1 = repo.read('Observation', firstObs).resource;
      await repo.update('Observation', firstObs, { ...v1, status: 'amended' }, actor);
      const [, deletedObs] = ids[2]!;
      await repo.delete('Observation', deletedObs, actor);
      for (const [type, id] of ids) await record(type, id);

      // A patient whose records are crypto-shredded on their request (tombstone on the ledger).
      const shredded = await repo.create({ resourceType: 'Patient', name: [{ family: 'Shredded' }] }, actor);
      const shreddedObs = await repo.create(
        {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'to be erased' },
          subject: { reference: `Patient/${shredded.resource.id!}` },
        },
        actor,
      );
      const pseudonym = repo.vault.patientPseudonym(shredded.resource.id!)!;
      const patient = await t.enrollPatient(pseudonym);
      const worker = startErasureWorker(t.node, repo);
      try {
        const request = randomPseudonym('ers');
        await t.commit(patient.sign({ type: 'erasure.request', body: { id: request, patient: pseudonym, custodian: t.org.id } }));
        for (let i = 0; i < 200 && t.node.chain.app.erasureRequest(request)?.status !== 'completed'; i++)
          await new Promise((r) => setTimeout(r, 25));
        assert.equal(t.node.chain.app.erasureRequest(request)?.status, 'completed');
      } finally {
        worker.stop();
      }
      erased.push(`Patient/${shredded.resource.id!}`, `Observation/${shreddedObs.resource.id!}`);
    });
    // 15 resources, one of them updated once: 16 versions with content (the delete version has none).
    assert.deepEqual([versions.size, dataKeys], [16, 16]);
  });

  after(() => temp.remove());

  it('vault --help and usage errors', async () => {
    const help = await cli(['vault', '--help']);
    assert.equal(help.code, 0, show(help));
    assert.match(help.stdout, /^medledger vault — /);
    assert.match(help.stdout, /medledger vault rotate-kek/);
    assert.match(help.stdout, /STOPPED node/);
    const top = await cli(['--help']);
    assert.match(top.stdout, /^ {2}vault\s/m);
    for (const [args, pattern] of [
      [['vault'], /Usage: medledger vault status/],
      [['vault', 'shred'], /unknown vault action "shred"/],
      [['vault', 'rotate-kek', '--data', join(temp.path, 'nowhere')], /holds no node; run `medledger init` first/],
    ] as const) {
      const r = await cli(args);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stdout + r.stderr, pattern, show(r));
    }
  });

  it('status shows kek-1 holding every data key', async () => {
    assert.deepEqual(await status(), { current: 1, keystore: [1], dataKeys: [{ kek: 1, count: dataKeys }], missing: [] });
    const text = await cli(['vault', 'status', '--data', dir]);
    assert.equal(text.code, 0, show(text));
    assert.match(text.stdout, /current key-encryption key: kek-1/);
    assert.match(text.stdout, new RegExp(`kek-1\\s+${dataKeys} data keys`));
  });

  it('refuses while the node runs (the data-directory lock) and changes nothing', async () => {
    const t = await startTestNode({ dir });
    try {
      const keystoreBefore = fileHash(paths(dir).keystore);
      const r = await cli(['vault', 'rotate-kek', '--data', dir]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`in use by process ${process.pid}: stop the node first`), show(r));
      assert.match(r.stderr, /nothing was changed/);
      assert.equal(r.stdout, '');
      assert.equal(fileHash(paths(dir).keystore), keystoreBefore, 'the keystore is untouched');
      assert.deepEqual(kekIds(t.node.keystore), [1]);
      // status only reads: it works beside the running node.
      assert.equal((await status()).current, 1);
    } finally {
      await t.close();
    }
    assert.deepEqual((await status()).dataKeys, [{ kek: 1, count: dataKeys }]);
  });

  it('refuses a wrong passphrase and changes nothing', async () => {
    const before = files();
    for (const action of ['rotate-kek', 'status']) {
      const r = await cli(['vault', action, '--data', dir], { MEDLEDGER_KEY_PASSPHRASE: 'not the right passphrase' });
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /^medledger: wrong keystore passphrase/, show(r));
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(files(), before);
    assert.equal(existsSync(paths(dir).lock), false, 'the lock is released');
  });

  it('refuses when a wrapped data key is damaged, naming it, and changes nothing', async () => {
    const key = FileKeyStore.open(paths(dir).keystore, PASSPHRASE).secretKey(VAULT_DB_KEY)!;
    const { db } = openEncryptedSqlite(vaultPaths(dir).db, key);
    const row = db.prepare('SELECT res, version, wrapped_key FROM versions WHERE kek IS NOT NULL LIMIT 1').get() as {
      res: number;
      version: number;
      wrapped_key: Buffer;
    };
    const damaged = Buffer.from(row.wrapped_key);
    damaged[damaged.length - 1]! ^= 1;
    const put = db.prepare('UPDATE versions SET wrapped_key = ? WHERE res = ? AND version = ?');
    put.run(damaged, row.res, row.version);
    try {
      const before = files();
      const r = await cli(['vault', 'rotate-kek', '--data', dir]);
      assert.equal(r.code, 1, show(r));
      assert.match(
        r.stderr,
        /refused: 1 data key cannot be unwrapped \(first: rec_\S+ version \d+ under kek-1: .+\); nothing was changed/,
      );
      assert.deepEqual(files(), before);
      assert.deepEqual(keksInKeystore(), [1]);
    } finally {
      put.run(row.wrapped_key, row.res, row.version);
      db.close();
    }
  });

  it('rotate-kek re-wraps every data key under kek-2 and deletes kek-1; every version reads back identically', async () => {
    const r = await cli(['vault', 'rotate-kek', '--data', dir]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^rotated the vault key-encryption key: kek-1 → kek-2$/m);
    assert.match(r.stdout, new RegExp(`^ {3}${dataKeys} data keys re-wrapped in \\d+\\.\\d\\d s$`, 'm'));
    assert.match(r.stdout, /deleted from the keystore: kek-1/);
    assert.equal(existsSync(paths(dir).lock), false, 'the lock is released');

    assert.deepEqual(keksInKeystore(), [2], 'only the new KEK is in the keystore');
    const keystore = FileKeyStore.open(paths(dir).keystore, PASSPHRASE);
    assert.equal(keystore.secretKey(kekName(1)), undefined, 'the old KEK is gone');
    assert.deepEqual(await status(), { current: 2, keystore: [2], dataKeys: [{ kek: 2, count: dataKeys }], missing: [] });
    await assertRecordsIntact();
  });

  it('a second rotation (--json) moves everything to kek-3; the data directory still verifies', async () => {
    const r = await cli(['vault', 'rotate-kek', '--data', dir, '--json']);
    assert.equal(r.code, 0, show(r));
    const report = JSON.parse(r.stdout) as { from: number[]; kek: number; rewrapped: number; retired: number[]; seconds: number };
    assert.deepEqual(
      { from: report.from, kek: report.kek, rewrapped: report.rewrapped, retired: report.retired },
      { from: [2], kek: 3, rewrapped: dataKeys, retired: [2] },
    );
    assert.ok(report.seconds >= 0 && report.seconds < 60);
    assert.deepEqual(keksInKeystore(), [3]);
    assert.deepEqual((await status()).dataKeys, [{ kek: 3, count: dataKeys }]);
    await assertRecordsIntact();
    // The node wrote under kek-3 after opening: new writes use the new KEK.
    await withRepository(async (repo, t) => {
      await repo.create({ resourceType: 'Patient', name: [{ family: 'After' }] }, { author: t.org.id });
      assert.equal(repo.vault.currentKek, 3);
    });
    assert.deepEqual((await status()).dataKeys, [{ kek: 3, count: dataKeys + 1 }]);
    const verify = await cli(['verify', '--data', dir]);
    assert.equal(verify.code, 0, show(verify));
    assert.match(verify.stdout, /vault: \d+ committed record versions match the ledger/);
  });

  it('refuses when data keys are wrapped under a KEK the keystore lacks; status exits 1 and names it', async () => {
    const keystore = FileKeyStore.open(paths(dir).keystore, PASSPHRASE);
    const kek3 = keystore.secretKey(kekName(3))!;
    keystore.delete(kekName(3));
    try {
      const s = await cli(['vault', 'status', '--data', dir]);
      assert.equal(s.code, 1, show(s));
      assert.match(s.stdout, /kek-3\s+\d+ data keys\s+NOT IN THE KEYSTORE/);
      const before = files();
      const r = await cli(['vault', 'rotate-kek', '--data', dir]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /refused: \d+ data keys are wrapped under kek-3, which the keystore does not hold/);
      assert.deepEqual(files(), before);
    } finally {
      keystore.put(kekName(3), kek3);
    }
    assert.deepEqual((await status()).missing, []);
  });
});
