/**
 * The patient's signing key in this tab. It is made here (key setup) or opened here from the
 * passphrase backup stored at the node; it lives only in memory, never in storage, and every
 * consent or erasure request is signed with it before it leaves the browser.
 */
import type { Session } from '../auth/oauth';
import { requestJson } from '../api/http';
import { ledger, must, trustFromGenesis } from '../api/ledger';
import {
  checkReceipt,
  createPatientKeys,
  encodeKeyBackup,
  Identity,
  NobleSigner,
  openKeyBackup,
  parseKeyBackup,
  recoverKey,
  rotatePatientKey,
  signBackupUpload,
  signEnrollment,
  type RecoveryKit,
  type TxPayload,
  type TxReceipt,
} from '../sdk';

export type KeyState =
  { readonly kind: 'unenrolled' } | { readonly kind: 'locked' } | { readonly kind: 'unlocked'; readonly signer: NobleSigner };

const bearer = (session: Session) => ({ authorization: `Bearer ${session.accessToken}` });

/** Is the patient on the ledger yet? (A first sign-in is not.) */
export async function initialKeyState(patient: string): Promise<KeyState> {
  const participant = await ledger.participant(patient);
  if (participant.ok) return { kind: 'locked' };
  if (/not_found/.test(participant.error.message)) return { kind: 'unenrolled' };
  throw new Error(participant.error.message);
}

async function uploadBackup(
  session: Session,
  signer: NobleSigner,
  chain: string,
  kind: 'passphrase' | 'recovery-code',
  backup: string,
) {
  const upload = signBackupUpload(signer, chain, session.subject, kind, backup);
  await requestJson(`/api/v1/key-backups/${session.subject}/${kind}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(upload),
  });
}

export type SetupStep = 'keys' | 'enroll' | 'backup';

/**
 * First sign-in: a key pair made here with both backups (passphrase: Argon2id, about a second
 * or more; recovery code: for the kit), the public key enrolled through the node, both backups
 * stored at the node (which cannot open them). Returns the signer and the kit to show once.
 */
export async function setUpKeys(
  session: Session,
  passphrase: string,
  onStep: (step: SetupStep) => void,
): Promise<{ signer: NobleSigner; kit: RecoveryKit }> {
  const { chain } = must(await ledger.status());
  onStep('keys');
  const keys = must(
    await createPatientKeys(session.subject, passphrase, {
      node: location.origin,
      created: new Date().toISOString().slice(0, 10),
    }),
  );
  const signer = new NobleSigner(keys.keyPair);
  onStep('enroll');
  await requestJson('/api/v1/enrollments', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(session) },
    body: JSON.stringify(signEnrollment(signer, chain, session.subject)),
  });
  onStep('backup');
  await uploadBackup(session, signer, chain, 'passphrase', encodeKeyBackup(keys.passphraseBackup));
  await uploadBackup(session, signer, chain, 'recovery-code', encodeKeyBackup(keys.kit.backup));
  return { signer, kit: keys.kit };
}

/** Another sign-in: the passphrase backup fetched from the node and opened here. */
export async function unlock(session: Session, passphrase: string): Promise<NobleSigner> {
  const participant = must(await ledger.participant(session.subject));
  let stored: { backup: string };
  try {
    stored = await requestJson(`/api/v1/key-backups/${session.subject}/passphrase`, { headers: bearer(session) });
  } catch (error) {
    if ((error as { status?: number }).status === 404)
      throw new Error(
        'No key backup is stored for you, so your key cannot be opened on this device. Your organization can help you re-key.',
        { cause: error },
      );
    throw error;
  }
  const parsed = must(parseKeyBackup(stored.backup));
  const opened = await openKeyBackup(parsed, { passphrase }, { patient: session.subject, publicKey: participant.key });
  if (!opened.ok)
    throw new Error(
      opened.error.code === 'backup.cannot_open' ? 'That passphrase does not open your key backup.' : opened.error.message,
    );
  return new NobleSigner(opened.value);
}

/**
 * Device and passphrase lost: the recovery backup from the node opened with the code on the kit,
 * then at once replaced (the recovered key was on paper): `participant.rotate_key` to a key made
 * here, new passphrase and recovery backups for it uploaded, and a new kit to keep.
 */
export async function recoverWithKit(
  session: Session,
  code: string,
  passphrase: string,
  onStep: (step: SetupStep) => void,
): Promise<{ signer: NobleSigner; kit: RecoveryKit }> {
  const participant = must(await ledger.participant(session.subject));
  const stored = await requestJson<{ backup: string }>(`/api/v1/key-backups/${session.subject}/recovery-code`, {
    headers: bearer(session),
  });
  const recovered = await recoverKey(must(parseKeyBackup(stored.backup)), code, {
    patient: session.subject,
    publicKey: participant.key,
  });
  if (!recovered.ok)
    throw new Error(
      recovered.error.code === 'backup.cannot_open' ? 'That recovery code does not open your key.' : recovered.error.message,
    );
  onStep('keys');
  const { chain } = must(await ledger.status());
  const next = must(
    await createPatientKeys(session.subject, passphrase, {
      node: location.origin,
      created: new Date().toISOString().slice(0, 10),
    }),
  );
  onStep('enroll');
  must(await rotatePatientKey(ledger, await trustFromGenesis(), session.subject, recovered.value, next.keyPair));
  onStep('backup');
  const signer = new NobleSigner(next.keyPair);
  await uploadBackup(session, signer, chain, 'passphrase', encodeKeyBackup(next.passphraseBackup));
  await uploadBackup(session, signer, chain, 'recovery-code', encodeKeyBackup(next.kit.backup));
  return { signer, kit: next.kit };
}

/** Signs `payload` here with the patient's key, submits it, and checks the receipt's proof. */
export async function signAndSubmit(session: Session, signer: NobleSigner, payload: TxPayload): Promise<TxReceipt> {
  const [status, participant] = await Promise.all([ledger.status(), ledger.participant(session.subject)]);
  const { chain } = must(status);
  const identity = new Identity(chain, session.subject, signer, must(participant).nextSeq);
  const { wire } = identity.sign(payload);
  const receipt = must(await ledger.submit(wire));
  must(checkReceipt(receipt, wire, await trustFromGenesis()));
  return receipt;
}
