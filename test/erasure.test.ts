/**
 * Erasure end to end: the patient signs an erasure request; the custodian crypto-shreds the
 * records (ciphertext, wrapped keys, index entries, the pseudonym link, the content files of
 * Binaries whose security context is the patient's), commits a tombstone,
 * and keeps what its retention rules name. Afterwards no API returns the content, a marker
 * written in the record is nowhere in the data directory — not even in a fully decrypted copy of
 * the vault — and `verify` still passes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openEncryptedSqlite } from '../src/storage/sqlite/cipher.js';
import { randomPseudonym } from '../src/client/identity.js';
import { paths } from '../src/node/data-dir.js';
import { VAULT_DB_KEY, vaultPaths } from '../src/vault/store.js';
import { auditDataDir } from '../src/verify/audit.js';
import { startTestServer, tempDir, type TestServer } from './support/fixtures.js';
import { authFetch } from './support/fhir-api.js';
import { parseRetention } from '../src/cli/commands/start.js';
import { UsageError } from '../src/cli/args.js';

const MARKER = `zqxmarker${randomBytes(4).toString('hex')}`;

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('erasure', () => {
  let server: TestServer;
  let base: string;
  const scratch = tempDir();

  /** A decrypted copy of the vault database (every page, free ones included), as bytes. */
  function decryptedVault(): Buffer {
    const copy = join(scratch.path, `vault-${Date.now()}.sqlite`);
    const source = vaultPaths(server.dir).db;
    copyFileSync(source, copy);
    if (existsSync(`${source}-wal`)) copyFileSync(`${source}-wal`, `${copy}-wal`);
    const { db } = openEncryptedSqlite(copy, server.node.keystore.secretKey(VAULT_DB_KEY)!);
    db.pragma('wal_checkpoint(TRUNCATE)');
    // Re-keying is refused in WAL mode; the copy goes back to a rollback journal first.
    db.pragma('journal_mode = DELETE');
    db.pragma("rekey=''");
    db.close();
    return readFileSync(copy);
  }

  before(async () => {
    server = await startTestServer({ fhir: true });
    base = `${server.url}/fhir`;
  });
  after(async () => {
    await server.close();
    scratch.remove();
  });

  it('shreds the patient’s records, commits a tombstone, and leaves no trace while verify passes', async () => {
    const post = async (resource: object): Promise<string> => {
      const res = await authFetch(`${base}/${(resource as { resourceType: string }).resourceType}`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(resource),
      });
      assert.equal(res.status, 201);
      return ((await res.json()) as { id: string }).id;
    };
    const patientId = await post({ resourceType: 'Patient', name: [{ family: MARKER }] });
    const observationId = await post({
      resourceType: 'Observation',
      status: 'final',
      code: { text: `note ${MARKER}` },
      subject: { reference: `Patient/${patientId}` },
    });
    // A scanned letter (raw upload, its bytes in a content file) and a note attached to the
    // patient's DocumentReference: both theirs through their security context.
    const letter = await authFetch(`${base}/Binary`, {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', 'x-security-context': `Patient/${patientId}` },
      body: Buffer.concat([Buffer.from(`%PDF ${MARKER}`), randomBytes(50_000)]),
    });
    assert.equal(letter.status, 201);
    const letterId = ((await letter.json()) as { id: string }).id;
    const contentFiles = () => readdirSync(join(server.dir, 'content'));
    assert.equal(contentFiles().length, 1);
    const documentId = await post({
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: `Patient/${patientId}` },
      content: [{ attachment: { contentType: 'application/pdf', url: `Binary/${letterId}` } }],
    });
    const noteId = await post({
      resourceType: 'Binary',
      contentType: 'text/plain',
      securityContext: { reference: `DocumentReference/${documentId}` },
      data: Buffer.from(`note ${MARKER}`).toString('base64'),
    });
    const other = await post({ resourceType: 'Patient', name: [{ family: 'Unrelated' }] });
    const pseudonym = server.fhir!.vault.patientPseudonym(patientId)!;
    const device = await server.enrollPatient(pseudonym);
    assert.ok(decryptedVault().includes(MARKER), 'the marker is in the (decrypted) index before erasure');

    const id = randomPseudonym('ers', randomBytes(17));
    const request = await server.submit(
      device.sign({ type: 'erasure.request', body: { id, patient: pseudonym, custodian: server.org.id } }),
    );
    assert.ok(request.ok, JSON.stringify(request));
    for (let i = 0; i < 100 && server.node.chain.app.erasureRequest(id)?.status !== 'completed'; i++)
      await new Promise((r) => setTimeout(r, 50));
    const done = server.node.chain.app.erasureRequest(id)!;
    assert.deepEqual([done.status, done.erased, done.retained], ['completed', 5, 0]);

    for (const path of [
      `Patient/${patientId}`,
      `Observation/${observationId}`,
      `Observation/${observationId}/_history/1`,
      `DocumentReference/${documentId}`,
      `Binary/${letterId}`,
      `Binary/${noteId}`,
    ]) {
      assert.equal((await authFetch(`${base}/${path}`)).status, 404, path);
    }
    assert.equal((await authFetch(`${base}/Binary/${letterId}`, { headers: { accept: 'application/pdf' } })).status, 404);
    assert.deepEqual(contentFiles(), [], 'the letter’s content file is gone');
    const search = (await (await authFetch(`${base}/Patient?name=${MARKER}&_total=accurate`)).json()) as { total: number };
    assert.equal(search.total, 0);
    assert.equal((await authFetch(`${base}/Patient/${other}`)).status, 200, 'other patients untouched');

    const vault = decryptedVault();
    assert.equal(vault.includes(MARKER), false, 'not even in free pages of the decrypted vault');
    for (const file of files(server.dir)) {
      if (statSync(file).isFile()) assert.equal(readFileSync(file).includes(MARKER), false, file);
    }
    const report = await auditDataDir(paths(server.dir).ledger, {
      vault: { dataDir: server.dir, keystore: server.node.keystore },
    });
    assert.equal(report.ok, true, JSON.stringify(report));
  });
});

describe('retention rules (start --retain)', () => {
  it('parses Type=ground pairs and refuses anything else', () => {
    assert.deepEqual(parseRetention('Immunization=public-health-reporting, DiagnosticReport=statutory-retention'), {
      Immunization: 'public-health-reporting',
      DiagnosticReport: 'statutory-retention',
    });
    assert.deepEqual(parseRetention(''), {});
    for (const bad of ['Immunization', 'immunization=legal-hold', 'Immunization=forever', '=legal-hold'])
      assert.throws(() => parseRetention(bad), UsageError, bad);
  });
});
