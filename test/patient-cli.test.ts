/**
 * `medledger patient` end to end against a real node: a key generated on the patient's machine
 * (kept only as a passphrase-encrypted key file, recovery kit written aside), enrolled by the
 * organization, then consents granted and revoked, the backup stored at the node and an erasure
 * requested — each signed by the CLI with the client SDK. A wrong passphrase signs nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex } from '../src/crypto/bytes.js';
import { randomPseudonym } from '../src/client/identity.js';
import { runCli, type CliRun } from './support/cli.js';
import { startTestServer, tempDir, type TestServer } from './support/fixtures.js';

const PASSPHRASE = 'a long patient passphrase';

const patientCli = (args: readonly string[], passphrase = PASSPHRASE): Promise<CliRun> =>
  runCli(['patient', ...args], { env: { MEDLEDGER_PATIENT_PASSPHRASE: passphrase } });

describe('medledger patient', () => {
  let server: TestServer;
  const dir = tempDir();
  const patient = randomPseudonym('pat');
  const key = join(dir.path, 'key.json');
  const kit = join(dir.path, 'kit.txt');

  before(async () => {
    server = await startTestServer({ fhir: true });
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  it('generates a key on this machine, grants and revokes consent, stores the backup and requests erasure', async () => {
    const keygen = await patientCli(['keygen', '--patient', patient, '--key', key, '--kit', kit]);
    assert.equal(keygen.code, 0, keygen.stderr);
    const publicKey = fromHex(keygen.stdout.trim())!;
    assert.equal(publicKey.length, 32);
    assert.ok(!readFileSync(key, 'utf8').includes(PASSPHRASE));
    assert.match(readFileSync(kit, 'utf8'), new RegExp(patient));
    assert.equal((await patientCli(['keygen', '--patient', patient, '--key', key])).code, 2, 'never overwrites a key');
    // The organization enrolls the patient with the public key they brought.
    assert.ok(
      (await server.node.submitOwn({ type: 'participant.register', body: { kind: 'patient', id: patient, key: publicKey } })).ok,
    );

    const node = ['--key', key, '--node', server.url];
    const granted = await patientCli([
      'grant',
      ...node,
      '--to',
      server.org.id,
      '--types',
      'Observation,DocumentReference,Condition',
      '--until',
      '2099-01-01T00:00:00Z',
    ]);
    assert.equal(granted.code, 0, granted.stderr);
    const consentId = granted.stdout.trim();
    const consent = server.node.chain.app.consent(consentId);
    assert.deepEqual(
      [consent?.patient, consent?.grantee, consent?.types],
      [patient, server.org.id, ['Binary', 'Condition', 'DocumentReference', 'Observation']],
      'sorted, and documents bring their attachments',
    );

    const wrong = await patientCli(['revoke', ...node, '--consent', consentId], 'not the passphrase');
    assert.notEqual(wrong.code, 0);
    assert.equal(server.node.chain.app.consent(consentId)?.revokedAt, undefined, 'nothing signed with a wrong passphrase');

    const revoked = await patientCli(['revoke', ...node, '--consent', consentId]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.ok(server.node.chain.app.consent(consentId)?.revokedAt !== undefined);

    const backup = await patientCli(['backup', ...node]);
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(server.access!.store.backup(patient, 'passphrase')?.backup, readFileSync(key, 'utf8'));

    const erase = await patientCli(['erase', ...node, '--custodian', server.org.id]);
    assert.equal(erase.code, 0, erase.stderr);
    assert.equal(server.node.chain.app.erasureRequest(erase.stdout.trim())?.patient, patient);
  });

  it('refuses bad arguments with usage errors and prints help', async () => {
    assert.equal((await patientCli(['--help'])).code, 0);
    assert.equal((await patientCli(['grant', '--key', key, '--to', 'Jane Doe'])).code, 2);
    assert.equal((await patientCli(['fly'])).code, 2);
    assert.equal((await patientCli(['keygen', '--patient', 'Jane', '--key', join(dir.path, 'x.json')])).code, 2);
  });
});
