/**
 * Patients' encrypted key backups at the node over HTTP: an upload must be signed by the
 * patient's current ledger key, be a backup of that key for that patient and be newer than the
 * stored one; only the patient, signed in, can download it — never the node's other users.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createKeyBackup, encodeKeyBackup } from '../src/client/backup.js';
import { signBackupUpload, type BackupUpload } from '../src/client/backup-upload.js';
import { generateKeyPair, Signer } from '../src/crypto/ed25519.js';
import { randomPseudonym } from '../src/client/identity.js';
import { startTestServer, type TestServer } from './support/fixtures.js';

const FAST = { alg: 'argon2id', memoryKiB: 64, passes: 1, parallelism: 1 } as const;
const PASSPHRASE = 'correct horse battery staple';

describe('key backups', () => {
  let server: TestServer;
  const keys = generateKeyPair();
  const signer = new Signer(keys);
  const patient = randomPseudonym('pat');
  let backup: string;

  const put = (body: BackupUpload | Record<string, unknown>, who = patient, kind = 'passphrase'): Promise<Response> =>
    fetch(`${server.url}/api/v1/key-backups/${who}/${kind}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const get = (authorization?: string, who = patient): Promise<Response> =>
    fetch(`${server.url}/api/v1/key-backups/${who}/passphrase`, { headers: authorization ? { authorization } : {} });

  before(async () => {
    server = await startTestServer({ fhir: true });
    const outcome = await server.node.submitOwn({
      type: 'participant.register',
      body: { kind: 'patient', id: patient, key: keys.publicKey },
    });
    assert.ok(outcome.ok);
    const created = await createKeyBackup(patient, keys, { passphrase: PASSPHRASE }, { kdf: FAST, allowWeakKdf: true });
    assert.ok(created.ok);
    backup = encodeKeyBackup(created.value);
    await server.auth!.store.addAccount({
      id: patient,
      kind: 'patient',
      username: 'backup-patient',
      password: 'backup-patient-pw',
      patient: 'backup-patient-1',
      display: 'p',
    });
  });
  after(async () => server.close());

  it('stores a backup signed by the patient, refuses replays, forgeries and mismatches, changing nothing', async () => {
    const chain = server.node.chain.chainId;
    const upload = signBackupUpload(signer, chain, patient, 'passphrase', backup);
    assert.equal((await put(upload)).status, 204);
    assert.equal((await put(upload)).status, 409, 'a replay is not newer');
    const forged = signBackupUpload(new Signer(generateKeyPair()), chain, patient, 'passphrase', backup, Date.now() + 1);
    assert.equal((await put(forged)).status, 403);
    const stale = signBackupUpload(signer, chain, patient, 'passphrase', backup, Date.now() - 10 * 60_000);
    assert.equal((await put(stale)).status, 400);
    const otherChain = signBackupUpload(signer, 'other-chain', patient, 'passphrase', backup, Date.now() + 2);
    assert.equal((await put(otherChain)).status, 403, 'signed for another chain');
    const wrongKind = signBackupUpload(signer, chain, patient, 'recovery-code', backup, Date.now() + 3);
    assert.equal((await put(wrongKind, patient, 'recovery-code')).status, 400, 'a passphrase backup is not a recovery backup');
    const junk = signBackupUpload(signer, chain, patient, 'passphrase', '{"format":"nope"}', Date.now() + 4);
    assert.equal((await put(junk)).status, 400);
    const unknown = randomPseudonym('pat');
    assert.equal((await put(signBackupUpload(signer, chain, unknown, 'passphrase', backup), unknown)).status, 422);
    const malformed = await put({ backup, signedAt: 'now', signature: 'x' });
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { code: string }).code, 'request.invalid');
  });

  it('gives the backup to the signed-in patient only', async () => {
    const anonymous = await get();
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { code: string }).code, 'auth.required');
    assert.equal((await get('Bearer not-a-token')).status, 401, 'an invalid token');
    assert.equal((await get(`Bearer ${server.token}`)).status, 403, 'a backend system token');
    const mine = await server.auth!.mint({
      origin: server.url,
      subject: patient,
      clientId: 'portal',
      scope: 'patient/*.rs',
      patient: 'backup-patient-1',
    });
    const res = await get(`Bearer ${mine}`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { backup: string }).backup, backup);
    assert.equal((await get(`Bearer ${mine}`, randomPseudonym('pat'))).status, 403, "another patient's backup");
  });
});
