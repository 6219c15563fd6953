/**
 * The documented recovery path end to end against a real node over HTTP: a patient's key made on
 * their device, backed up under a passphrase and a recovery kit; the device and passphrase lost;
 * the key recovered from the node-held backup and the kit's code; a `participant.rotate_key` signed
 * with the recovered key (SDK, noble) to a fresh key that the node accepts; the old key and the old
 * kit useless afterwards. KDF parameters are tiny (explicitly allowed) to keep the test fast.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKeyBackup, encodeKeyBackup, openKeyBackup, parseKeyBackup } from '../src/client/backup.js';
import { Identity, randomPseudonym } from '../src/client/identity.js';
import { generateKeyPair, NobleSigner, type KeyPair } from '../src/client/keys.js';
import { LedgerClient } from '../src/client/ledger-api.js';
import { checkReceipt, type Trust } from '../src/client/proofs.js';
import { createRecoveryKit, recoverKey } from '../src/client/recovery.js';
import { createPatientKeys, rotatePatientKey } from '../src/client/rotation.js';
import { CHAIN, startTestServer, type TestServer } from './support/fixtures.js';

const fast = { kdf: { alg: 'argon2id', memoryKiB: 64, passes: 1, parallelism: 1 }, allowWeakKdf: true } as const;
const PASSPHRASE = 'my first passphrase, now forgotten';

describe('patient key recovery against a node over HTTP', () => {
  let server: TestServer;
  let client: LedgerClient;
  let trust: Trust;
  /** What the node stores for the patient: two backups it cannot open. */
  const stored = new Map<string, string>();
  const patient = randomPseudonym('pat');
  let original: KeyPair;
  let kitText = '';

  before(async () => {
    server = await startTestServer();
    client = new LedgerClient(server.url);
    trust = { chain: CHAIN, validators: server.node.chain.genesis.validators.map((v) => v.key) };

    // Enrollment on the patient's device: key, passphrase backup, recovery kit.
    original = generateKeyPair();
    const registration = server.org.sign({
      type: 'participant.register',
      body: { kind: 'patient', id: patient, key: original.publicKey },
    });
    const registered = await client.submit(registration.wire);
    assert.ok(registered.ok, registered.ok ? '' : registered.error.message);
    const backup = await createKeyBackup(patient, original, { passphrase: PASSPHRASE }, fast);
    assert.ok(backup.ok);
    const kit = await createRecoveryKit(patient, original, { node: server.url });
    assert.ok(kit.ok);
    stored.set('passphrase', encodeKeyBackup(backup.value));
    stored.set('recovery', encodeKeyBackup(kit.value.backup));
    kitText = kit.value.text;
  });
  after(() => server?.close());

  it('with the passphrase, a new device reopens the same key', async () => {
    const backup = parseKeyBackup(stored.get('passphrase'));
    assert.ok(backup.ok);
    const ledger = await client.participant(patient);
    assert.ok(ledger.ok);
    const opened = await openKeyBackup(backup.value, { passphrase: PASSPHRASE }, { patient, publicKey: ledger.value.key });
    assert.ok(opened.ok);
    assert.deepEqual(opened.value, original);
  });

  it('without device and passphrase: recover with the kit, rotate to a fresh key, the node accepts it', async () => {
    // Everything the patient has now: the printed kit. Everything the node has: the backups.
    const code = /Recovery code:\s+(\S+)/.exec(kitText)?.[1];
    assert.ok(code);
    const passphraseBackup = parseKeyBackup(stored.get('passphrase'));
    assert.ok(passphraseBackup.ok);
    const forgotten = await openKeyBackup(passphraseBackup.value, { passphrase: 'a guess at the passphrase' }, { patient });
    assert.ok(!forgotten.ok && forgotten.error.code === 'backup.cannot_open');

    const ledger = await client.participant(patient);
    assert.ok(ledger.ok);
    const backup = parseKeyBackup(stored.get('recovery'));
    assert.ok(backup.ok);
    const recovered = await recoverKey(backup.value, code.toLowerCase(), { patient, publicKey: ledger.value.key });
    assert.ok(recovered.ok, recovered.ok ? '' : recovered.error.message);
    assert.deepEqual(recovered.value.publicKey, original.publicKey);

    // Rotate at once: the recovered key was on paper.
    const fresh = generateKeyPair();
    const device = new Identity(CHAIN, patient, new NobleSigner(recovered.value), ledger.value.nextSeq);
    const rotation = device.sign({ type: 'participant.rotate_key', body: { id: patient, key: fresh.publicKey } });
    const receipt = await client.submit(rotation.wire);
    assert.ok(receipt.ok, receipt.ok ? '' : receipt.error.message);
    assert.ok(checkReceipt(receipt.value, rotation.wire, trust).ok);

    const after = await client.participant(patient);
    assert.ok(after.ok);
    assert.deepEqual(after.value.key, fresh.publicKey);
    assert.equal(after.value.nextSeq, ledger.value.nextSeq + 1);

    // The old key no longer speaks for the patient.
    const stale = device.sign({ type: 'participant.rotate_key', body: { id: patient, key: generateKeyPair().publicKey } });
    const refused = await client.submit(stale.wire);
    assert.ok(!refused.ok && refused.error.code === 'api.http');
    assert.match(refused.error.message, /^tx\.key_mismatch/);

    // The new key does: the patient registers a device.
    device.useKey(new NobleSigner(fresh));
    device.setNextSeq(after.value.nextSeq);
    const enroll = device.sign({
      type: 'participant.register',
      body: { kind: 'device', id: randomPseudonym('dev'), key: generateKeyPair().publicKey, patient },
    });
    const enrolled = await client.submit(enroll.wire);
    assert.ok(enrolled.ok, enrolled.ok ? '' : enrolled.error.message);

    // New backups replace the old ones; the old kit now opens a key the ledger no longer lists.
    const newKit = await createRecoveryKit(patient, fresh);
    assert.ok(newKit.ok);
    const oldKit = await recoverKey(backup.value, code, { patient, publicKey: after.value.key });
    assert.ok(!oldKit.ok && oldKit.error.code === 'backup.wrong_key');
    const again = await recoverKey(newKit.value.backup, newKit.value.code, { patient, publicKey: after.value.key });
    assert.ok(again.ok);

    // And the old key can never be registered again, for anyone.
    const reuse = server.org.sign({
      type: 'participant.register',
      body: { kind: 'patient', id: randomPseudonym('pat'), key: original.publicKey },
    });
    const reused = await client.submit(reuse.wire);
    assert.ok(!reused.ok);
    assert.match(reused.error.message, /^state\.conflict: key is already registered/);
  });

  it('rotatePatientKey and createPatientKeys: the one-call path the web app uses', async () => {
    const id = randomPseudonym('pat');
    const enrolled = await createPatientKeys(id, 'a long enough passphrase', { ...fast, node: server.url });
    assert.ok(enrolled.ok);
    const { keyPair, passphraseBackup, kit } = enrolled.value;
    // The organization's last transaction was refused: take its next sequence number from the ledger.
    const org = await client.participant(server.org.id);
    assert.ok(org.ok);
    server.org.setNextSeq(org.value.nextSeq);
    const registered = await client.submit(
      server.org.sign({ type: 'participant.register', body: { kind: 'patient', id, key: keyPair.publicKey } }).wire,
    );
    assert.ok(registered.ok);
    assert.equal(passphraseBackup.secret, 'passphrase');
    assert.ok(kit.text.includes(kit.code));

    const recovered = await recoverKey(kit.backup, kit.code, { patient: id, publicKey: keyPair.publicKey });
    assert.ok(recovered.ok);
    const rotated = await rotatePatientKey(client, trust, id, recovered.value, generateKeyPair());
    assert.ok(rotated.ok, rotated.ok ? '' : rotated.error.message);
    const listed = await client.participant(id);
    assert.ok(listed.ok);
    assert.deepEqual(listed.value.key, rotated.value.keyPair.publicKey);
    // The replaced key is refused before anything is signed or sent.
    const stale = await rotatePatientKey(client, trust, id, recovered.value, generateKeyPair());
    assert.ok(!stale.ok && stale.error.code === 'backup.wrong_key');
    // A node whose checkpoints nobody trusts: the rotation commits, but the client does not take it as proven.
    const again = await rotatePatientKey(
      client,
      { ...trust, validators: [generateKeyPair().publicKey] },
      id,
      rotated.value.keyPair,
      generateKeyPair(),
    );
    assert.ok(!again.ok && again.error.code === 'proof.untrusted_signer');
  });
});
