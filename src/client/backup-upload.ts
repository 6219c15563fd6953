/**
 * Proof that a key backup stored at a node comes from the patient: a signature by the patient's
 * current ledger key over the chain, the pseudonym, the kind, the backup's SHA-256 and the time.
 * Without it anyone could replace a patient's backup with one that does not open; the time (and
 * the node refusing anything not newer than what it holds) stops replays of older uploads.
 */
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import { encodeCanonical } from '../ledger/codec.js';
import type { BackupSecretKind } from './backup.js';
import { base64urlOf } from './encoding.js';
import type { TxSigner } from './signer.js';

const DOMAIN = concatBytes(utf8('medledger/key-backup-upload/v1'), new Uint8Array([0]));

export interface BackupUpload {
  /** The backup exactly as encoded (encodeKeyBackup). */
  readonly backup: string;
  /** Signing time, ms since the epoch. */
  readonly signedAt: number;
  /** base64url Ed25519 signature over `backupUploadMessage`. */
  readonly signature: string;
}

export function backupUploadMessage(
  chain: string,
  patient: string,
  kind: BackupSecretKind,
  backup: string,
  signedAt: number,
): Uint8Array {
  return concatBytes(DOMAIN, encodeCanonical([chain, patient, kind, sha256(utf8(backup)), signedAt]));
}

export function signBackupUpload(
  signer: TxSigner,
  chain: string,
  patient: string,
  kind: BackupSecretKind,
  backup: string,
  now: number = Date.now(),
): BackupUpload {
  return { backup, signedAt: now, signature: base64urlOf(signer.sign(backupUploadMessage(chain, patient, kind, backup, now))) };
}
