/**
 * Patient key rotation from the client: `participant.rotate_key` signed on the device with the
 * current key (e.g. one just recovered from a kit) to a fresh key, submitted to a node, and checked:
 * the receipt's inclusion proof against a trusted checkpoint, then the ledger's listing of the new
 * key. Also the one-call enrollment bundle (key pair, passphrase backup, recovery kit).
 */
import { createKeyBackup, type CreateBackupOptions, type KeyBackup } from './backup.js';
import { failure, success, type ClientResult } from './errors.js';
import { Identity } from './identity.js';
import { generateKeyPair, NobleSigner, type KeyPair } from './keys.js';
import type { LedgerClient, TxReceipt } from './ledger-api.js';
import { checkReceipt, type Trust } from './proofs.js';
import { createRecoveryKit, type KitDetails, type RecoveryKit } from './recovery.js';

export interface PatientKeys {
  readonly keyPair: KeyPair;
  /** Upload to the node. */
  readonly passphraseBackup: KeyBackup;
  /** `kit.backup` goes to the node; `kit.text` (with the code) to the patient only. */
  readonly kit: RecoveryKit;
}

/** A new key pair with both backups, made on the patient's device (enrollment, or after rotation). */
export async function createPatientKeys(
  patient: string,
  passphrase: string,
  options: CreateBackupOptions & KitDetails & { readonly keyPair?: KeyPair } = {},
): Promise<ClientResult<PatientKeys>> {
  const keyPair = options.keyPair ?? generateKeyPair();
  const backup = await createKeyBackup(patient, keyPair, { passphrase }, options);
  if (!backup.ok) return backup;
  const kit = await createRecoveryKit(patient, keyPair, options);
  if (!kit.ok) return kit;
  return success({ keyPair, passphraseBackup: backup.value, kit: kit.value });
}

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Replaces the patient's ledger key `current` by `next`. Refuses before signing anything if the
 * ledger does not list `current` for the patient. Keep `next` safe (its backups made and uploaded,
 * see `createPatientKeys`) before calling: an error after submission (a network failure, an
 * unproven receipt) does not mean the ledger did not switch to it — ask `client.participant`.
 */
export async function rotatePatientKey(
  client: LedgerClient,
  trust: Trust,
  patient: string,
  current: KeyPair,
  next: KeyPair,
): Promise<ClientResult<{ readonly keyPair: KeyPair; readonly receipt: TxReceipt }>> {
  const before = await client.participant(patient);
  if (!before.ok) return before;
  if (!same(before.value.key, current.publicKey))
    return failure('backup.wrong_key', 'the ledger lists another key for this patient');
  const signer = new NobleSigner(current);
  const tx = new Identity(trust.chain, patient, signer, before.value.nextSeq).sign({
    type: 'participant.rotate_key',
    body: { id: patient, key: next.publicKey },
  });
  signer.wipe();
  const receipt = await client.submit(tx.wire);
  if (!receipt.ok) return receipt;
  const proven = checkReceipt(receipt.value, tx.wire, trust);
  if (!proven.ok) return proven;
  const after = await client.participant(patient);
  if (!after.ok) return after;
  if (!same(after.value.key, next.publicKey))
    return failure('proof.invalid', 'the node does not list the new key after the rotation');
  return success({ keyPair: next, receipt: receipt.value });
}
