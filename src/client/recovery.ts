/**
 * The recovery kit: how a patient who lost both their device and their passphrase gets their key
 * back, without the node ever being able to use it.
 *
 * At enrollment, on the patient's device:
 *   1. generate the key pair (./keys.ts); the organization registers the public key
 *      (`participant.register`, kind patient);
 *   2. wrap the seed under the patient's passphrase (./backup.ts, Argon2id) — the everyday backup;
 *   3. `createRecoveryKit`: draw a 128-bit recovery code (./recovery-code.ts) and wrap a second
 *      copy of the seed under it (backup kind `recovery-code`, HKDF-SHA256);
 *   4. upload both backups to the node, which stores them and cannot open either; give the patient
 *      the kit text (print or download). The code exists only on that paper/file.
 *
 * Two factors are needed to recover: the kit (the code) and the node's recovery backup (released to
 * the patient after they authenticate). A stolen kit alone, or the node's database alone, opens
 * nothing.
 *
 * Lost device, passphrase known: fetch the passphrase backup, `openKeyBackup` with the passphrase.
 *
 * Lost device and passphrase (recovery):
 *   1. on a new device, fetch the recovery backup and `recoverKey(backup, typedCode, { patient,
 *      publicKey: key the ledger lists })` — typos are caught by the code's checksum;
 *   2. at once sign `participant.rotate_key` with the recovered key to a freshly generated key
 *      (the recovered key was on paper, treat it as exposed) and submit it; the ledger accepts it
 *      because it is signed by the patient's current key and the next sequence number
 *      (GET /api/v1/participants/{id});
 *   3. make a new passphrase backup and a new recovery kit for the new key and replace both
 *      backups at the node. The old kit now opens a key the ledger no longer accepts, and a key
 *      once used can never be registered again.
 *
 * Lost device, passphrase and kit: the key is gone; re-keying then needs the organization or
 * guardians (not built yet — the ledger lets only a patient re-key a patient).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { createKeyBackup, openKeyBackup, type KeyBackup, type OpenBackupOptions } from './backup.js';
import { hexOf } from './encoding.js';
import type { ClientResult } from './errors.js';
import type { KeyPair } from './keys.js';
import { generateRecoveryCode, parseRecoveryCode } from './recovery-code.js';

export interface RecoveryKit {
  /** The printed code, e.g. `7M2Q-…`; show it once, never store or upload it. */
  readonly code: string;
  /** The seed wrapped under the code: upload to the node. */
  readonly backup: KeyBackup;
  /** The printable/downloadable kit (plain text, contains the code). */
  readonly text: string;
}

export interface KitDetails {
  /** Where the patient's records and backups live, printed on the kit. */
  readonly node?: string;
  /** When the kit was made (ISO date), printed on the kit. */
  readonly created?: string;
}

/** A short fingerprint of a public key, printed on kits so a patient can tell keys apart. */
export function keyFingerprint(publicKey: Uint8Array): string {
  const hex = hexOf(sha256(publicKey).subarray(0, 8)).toUpperCase();
  return hex.match(/.{4}/g)!.join(' ');
}

export async function createRecoveryKit(
  patient: string,
  keyPair: KeyPair,
  details: KitDetails = {},
): Promise<ClientResult<RecoveryKit>> {
  const code = generateRecoveryCode();
  try {
    const backup = await createKeyBackup(patient, keyPair, { recoveryCode: code.bytes });
    if (!backup.ok) return backup;
    const text = recoveryKitText(patient, code.text, keyPair.publicKey, details);
    return { ok: true, value: { code: code.text, backup: backup.value, text } };
  } finally {
    code.bytes.fill(0);
  }
}

export function recoveryKitText(patient: string, code: string, publicKey: Uint8Array, details: KitDetails = {}): string {
  return [
    'MEDLEDGER RECOVERY KIT (v1)',
    '',
    'Keep this page private and safe, e.g. with your important papers. Anyone who has it and can',
    'sign in as you could take over your health record key. Nobody else has this code - not your',
    'hospital, not MedLedger. Without it, a lost device and a forgotten passphrase cannot be undone.',
    '',
    `Patient pseudonym:  ${patient}`,
    `Key fingerprint:    ${keyFingerprint(publicKey)}`,
    ...(details.node ? [`Node:               ${details.node}`] : []),
    ...(details.created ? [`Created:            ${details.created}`] : []),
    '',
    `Recovery code:      ${code}`,
    '',
    'To recover: sign in on a new device, choose "Recover with recovery kit" and type the code',
    '(letters or digits: O = 0, I = L = 1; a typo is detected). Your key is replaced at once by a',
    'new one, and you get a new kit; this one then stops working.',
    '',
  ].join('\n');
}

/** Opens the recovery backup with a typed code; typos come back as `recovery.checksum`. */
export async function recoverKey(
  backup: KeyBackup,
  typedCode: string,
  options: OpenBackupOptions,
): Promise<ClientResult<KeyPair>> {
  const code = parseRecoveryCode(typedCode);
  if (!code.ok) return code;
  try {
    return await openKeyBackup(backup, { recoveryCode: code.value }, options);
  } finally {
    code.value.fill(0);
  }
}
