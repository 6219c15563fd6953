/**
 * Encrypted key backups: a patient's Ed25519 seed wrapped so that the node can store it but never
 * open it. Two kinds share one format:
 *
 *  - `passphrase`: wrapping key = Argon2id(NFKC(passphrase), salt) with the parameters stated in
 *    the backup (./kdf.ts); the node would have to guess the passphrase at ~1 s per guess.
 *  - `recovery-code`: wrapping key = HKDF-SHA256(128-bit recovery code, salt); the code has full
 *    entropy, so a fast KDF suffices (./recovery.ts).
 *
 * Format `medledger.key-backup` v1, a JSON object with exactly these members:
 *
 *   { "format": "medledger.key-backup", "v": 1,
 *     "patient": "pat_…", "publicKey": "<64 hex>", "secret": "passphrase" | "recovery-code",
 *     "kdf": { "alg": "argon2id", "version": 19, "memoryKiB": m, "passes": t, "parallelism": p, "salt": "<b64url, 16 bytes>" }
 *          | { "alg": "hkdf-sha256", "salt": "<b64url, 16 bytes>" },
 *     "aead": { "alg": "xchacha20poly1305", "nonce": "<b64url, 24 bytes>" },
 *     "ciphertext": "<b64url: 32-byte seed + 16-byte tag>" }
 *
 * The AEAD's associated data is "medledger/key-backup/v1" ‖ 0x00 ‖ canonical CBOR of every member
 * but the ciphertext, so the patient pseudonym, the public key, the kind and every KDF parameter
 * are bound: changing any of them makes the backup fail to open. After opening, the seed must
 * derive the stated public key. Salt and nonce are fresh random per backup.
 *
 * Reading never throws on bad input: `parseKeyBackup` and `openKeyBackup` return typed errors
 * (./errors.ts); KDF parameters are bounded before any work is done.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeCanonical } from '../ledger/codec.js';
import { base64urlOf, bytesOfBase64url, bytesOfHex, hexOf, utf8Bytes } from './encoding.js';
import { failure, success, type ClientResult } from './errors.js';
import {
  checkKdfBounds,
  DEFAULT_KDF,
  DEFAULT_LIMITS,
  deriveKey,
  meetsCreateFloor,
  type Argon2idParams,
  type KdfLimits,
} from './kdf.js';
import { keyPairFromSeed, PUBLIC_KEY_SIZE, SEED_SIZE, type KeyPair } from './keys.js';
import { randomBytes } from './random.js';

export const BACKUP_FORMAT = 'medledger.key-backup';
export const BACKUP_VERSION = 1;
/** A v1 backup is well under 1 KiB; anything much larger is not one. */
export const MAX_BACKUP_CHARS = 4096;
export const MIN_PASSPHRASE_LENGTH = 10;
const ARGON2_VERSION = 0x13;
const SALT_SIZE = 16;
const NONCE_SIZE = 24;
const CIPHERTEXT_SIZE = SEED_SIZE + 16;
const AD_DOMAIN = 'medledger/key-backup/v1';
const HKDF_INFO = utf8Bytes('medledger/key-backup/v1 recovery-code');
/** Patient pseudonyms, as in src/ledger/payloads/participant.ts (kept here so this module needs no alias). */
export const PATIENT_ID = /^pat_[a-z2-7]{26}$/;

export type BackupSecretKind = 'passphrase' | 'recovery-code';

export type BackupKdf =
  (Argon2idParams & { readonly salt: Uint8Array }) | { readonly alg: 'hkdf-sha256'; readonly salt: Uint8Array };

export interface KeyBackup {
  readonly patient: string;
  readonly publicKey: Uint8Array;
  readonly secret: BackupSecretKind;
  readonly kdf: BackupKdf;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** What opens a backup: a passphrase, or the 16 bytes of a recovery code (./recovery-code.ts). */
export type BackupSecret = { readonly passphrase: string } | { readonly recoveryCode: Uint8Array };

export interface CreateBackupOptions {
  /** Argon2id parameters for passphrase backups; DEFAULT_KDF unless given. */
  readonly kdf?: Argon2idParams;
  /** Allow parameters below MIN_CREATE (tests only: fast, and weak). */
  readonly allowWeakKdf?: boolean;
  readonly onProgress?: (fraction: number) => void;
}

export interface OpenBackupOptions {
  /** The patient the caller expects; a backup of anyone else is refused before any work. */
  readonly patient: string;
  /** The key the ledger lists for the patient, when known: a backup of another key is refused. */
  readonly publicKey?: Uint8Array;
  readonly limits?: KdfLimits;
  readonly onProgress?: (fraction: number) => void;
}

function associatedData(b: Omit<KeyBackup, 'ciphertext'>): Uint8Array {
  const kdf =
    b.kdf.alg === 'argon2id'
      ? {
          alg: b.kdf.alg,
          version: ARGON2_VERSION,
          memoryKiB: b.kdf.memoryKiB,
          passes: b.kdf.passes,
          parallelism: b.kdf.parallelism,
          salt: b.kdf.salt,
        }
      : { alg: b.kdf.alg, salt: b.kdf.salt };
  const header = encodeCanonical({
    format: BACKUP_FORMAT,
    v: BACKUP_VERSION,
    patient: b.patient,
    publicKey: b.publicKey,
    secret: b.secret,
    kdf,
    aead: { alg: 'xchacha20poly1305', nonce: b.nonce },
  });
  const domain = utf8Bytes(AD_DOMAIN);
  const out = new Uint8Array(domain.length + 1 + header.length);
  out.set(domain);
  out.set(header, domain.length + 1);
  return out;
}

async function wrappingKey(
  kdf: BackupKdf,
  secret: BackupSecret,
  onProgress: ((fraction: number) => void) | undefined,
): Promise<Uint8Array> {
  if (kdf.alg === 'argon2id') {
    if (!('passphrase' in secret)) throw new TypeError('a passphrase backup needs a passphrase');
    return deriveKey(secret.passphrase, kdf.salt, kdf, onProgress);
  }
  if (!('recoveryCode' in secret)) throw new TypeError('a recovery-code backup needs a recovery code');
  return hkdf(sha256, secret.recoveryCode, kdf.salt, HKDF_INFO, 32);
}

/** Wraps the key pair's seed under a passphrase or a recovery code. */
export async function createKeyBackup(
  patient: string,
  keyPair: KeyPair,
  secret: BackupSecret,
  options: CreateBackupOptions = {},
): Promise<ClientResult<KeyBackup>> {
  if (!PATIENT_ID.test(patient)) return failure('backup.malformed', 'not a patient pseudonym');
  if (keyPair.secretKey.length !== SEED_SIZE) return failure('backup.wrong_key', 'an Ed25519 seed is 32 bytes');
  const derived = keyPairFromSeed(keyPair.secretKey);
  if (!sameBytes(derived.publicKey, keyPair.publicKey))
    return failure('backup.wrong_key', 'the public key does not belong to the seed');
  let kdf: BackupKdf;
  let kind: BackupSecretKind;
  if ('passphrase' in secret) {
    if ([...secret.passphrase.normalize('NFKC')].length < MIN_PASSPHRASE_LENGTH) {
      return failure('backup.weak_passphrase', `a backup passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters`);
    }
    const params = options.kdf ?? DEFAULT_KDF;
    const bounded = checkKdfBounds(params);
    if (!bounded.ok) return bounded;
    if (!options.allowWeakKdf && !meetsCreateFloor(params)) {
      return failure('backup.kdf_out_of_bounds', 'KDF parameters are below the floor for new backups');
    }
    kdf = { ...params, alg: 'argon2id', salt: randomBytes(SALT_SIZE) };
    kind = 'passphrase';
  } else {
    if (secret.recoveryCode.length !== 16) return failure('recovery.malformed', 'a recovery code holds 16 bytes');
    kdf = { alg: 'hkdf-sha256', salt: randomBytes(SALT_SIZE) };
    kind = 'recovery-code';
  }
  const header = { patient, publicKey: Uint8Array.from(derived.publicKey), secret: kind, kdf, nonce: randomBytes(NONCE_SIZE) };
  const key = await wrappingKey(kdf, secret, options.onProgress);
  try {
    const ciphertext = xchacha20poly1305(key, header.nonce, associatedData(header)).encrypt(keyPair.secretKey);
    return success({ ...header, ciphertext });
  } finally {
    key.fill(0);
  }
}

/**
 * Opens a backup: checks who it is for, bounds its KDF parameters, derives the wrapping key,
 * decrypts and checks that the seed gives the stated public key. A wrong passphrase and an
 * altered backup are the same error (`backup.cannot_open`): the AEAD cannot tell them apart.
 */
export async function openKeyBackup(
  backup: KeyBackup,
  secret: BackupSecret,
  options: OpenBackupOptions,
): Promise<ClientResult<KeyPair>> {
  if (backup.patient !== options.patient)
    return failure('backup.wrong_patient', `this backup is for ${backup.patient}, not ${options.patient}`);
  if (options.publicKey && !sameBytes(options.publicKey, backup.publicKey)) {
    return failure('backup.wrong_key', 'this backup holds a different key than the one expected');
  }
  const wanted: BackupSecretKind = 'passphrase' in secret ? 'passphrase' : 'recovery-code';
  if (backup.secret !== wanted)
    return failure('backup.unsupported', `this backup opens with a ${backup.secret}, not a ${wanted}`);
  if (backup.kdf.alg === 'argon2id') {
    const bounded = checkKdfBounds(backup.kdf, options.limits ?? DEFAULT_LIMITS);
    if (!bounded.ok) return bounded;
  } else if ('recoveryCode' in secret && secret.recoveryCode.length !== 16) {
    return failure('recovery.malformed', 'a recovery code holds 16 bytes');
  }
  let key: Uint8Array;
  try {
    key = await wrappingKey(backup.kdf, secret, options.onProgress);
  } catch {
    return failure('backup.malformed', 'the backup cannot be opened with this kind of secret');
  }
  let seed: Uint8Array;
  try {
    seed = xchacha20poly1305(key, backup.nonce, associatedData(backup)).decrypt(backup.ciphertext);
  } catch {
    return failure('backup.cannot_open', 'wrong passphrase or recovery code, or the backup was altered');
  } finally {
    key.fill(0);
  }
  const pair = keyPairFromSeed(seed);
  seed.fill(0);
  if (!sameBytes(pair.publicKey, backup.publicKey))
    return failure('backup.cannot_open', 'the backup content does not match its public key');
  return success(pair);
}

/** The backup as JSON text (what the node stores and serves). */
export function encodeKeyBackup(b: KeyBackup): string {
  const kdf =
    b.kdf.alg === 'argon2id'
      ? {
          alg: b.kdf.alg,
          version: ARGON2_VERSION,
          memoryKiB: b.kdf.memoryKiB,
          passes: b.kdf.passes,
          parallelism: b.kdf.parallelism,
          salt: base64urlOf(b.kdf.salt),
        }
      : { alg: b.kdf.alg, salt: base64urlOf(b.kdf.salt) };
  return JSON.stringify({
    format: BACKUP_FORMAT,
    v: BACKUP_VERSION,
    patient: b.patient,
    publicKey: hexOf(b.publicKey),
    secret: b.secret,
    kdf,
    aead: { alg: 'xchacha20poly1305', nonce: base64urlOf(b.nonce) },
    ciphertext: base64urlOf(b.ciphertext),
  });
}

class Malformed extends Error {}

function object(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Malformed(`${what} must be an object`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!keys.includes(key)) throw new Malformed(`unexpected member ${what}.${key}`);
  for (const key of keys) if (!Object.hasOwn(record, key)) throw new Malformed(`missing member ${what}.${key}`);
  return record;
}

function b64(value: unknown, what: string, size: number): Uint8Array {
  const bytes = typeof value === 'string' ? bytesOfBase64url(value) : undefined;
  if (!bytes || bytes.length !== size) throw new Malformed(`${what} must be ${size} bytes of base64url`);
  return bytes;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new Malformed(`${what} must be a positive integer`);
  return value;
}

/** Reads a backup from JSON text (or an already parsed value); never throws. */
export function parseKeyBackup(input: unknown): ClientResult<KeyBackup> {
  let value = input;
  if (typeof input === 'string') {
    if (input.length > MAX_BACKUP_CHARS) return failure('backup.malformed', 'too large to be a key backup');
    try {
      value = JSON.parse(input);
    } catch {
      return failure('backup.malformed', 'not JSON');
    }
  }
  try {
    if (typeof value !== 'object' || value === null) throw new Malformed('a key backup is a JSON object');
    const top = value as Record<string, unknown>;
    if (top['format'] !== BACKUP_FORMAT) throw new Malformed(`not a ${BACKUP_FORMAT}`);
    if (top['v'] !== BACKUP_VERSION) return failure('backup.unsupported', `unsupported backup version ${String(top['v'])}`);
    const fields = object(value, 'backup', ['format', 'v', 'patient', 'publicKey', 'secret', 'kdf', 'aead', 'ciphertext']);
    const patient = fields['patient'];
    if (typeof patient !== 'string' || !PATIENT_ID.test(patient)) throw new Malformed('patient must be a patient pseudonym');
    const publicKey = typeof fields['publicKey'] === 'string' ? bytesOfHex(fields['publicKey']) : undefined;
    if (!publicKey || publicKey.length !== PUBLIC_KEY_SIZE) throw new Malformed('publicKey must be 32 bytes of hex');
    const secret = fields['secret'];
    if (secret !== 'passphrase' && secret !== 'recovery-code')
      throw new Malformed('secret must be "passphrase" or "recovery-code"');
    const rawKdf = fields['kdf'] as Record<string, unknown> | null;
    let kdf: BackupKdf;
    if (secret === 'passphrase') {
      const k = object(rawKdf, 'kdf', ['alg', 'version', 'memoryKiB', 'passes', 'parallelism', 'salt']);
      if (k['alg'] !== 'argon2id') return failure('backup.unsupported', 'passphrase backups use argon2id');
      if (k['version'] !== ARGON2_VERSION) return failure('backup.unsupported', 'unsupported Argon2 version');
      kdf = {
        alg: 'argon2id',
        memoryKiB: count(k['memoryKiB'], 'kdf.memoryKiB'),
        passes: count(k['passes'], 'kdf.passes'),
        parallelism: count(k['parallelism'], 'kdf.parallelism'),
        salt: b64(k['salt'], 'kdf.salt', SALT_SIZE),
      };
    } else {
      const k = object(rawKdf, 'kdf', ['alg', 'salt']);
      if (k['alg'] !== 'hkdf-sha256') return failure('backup.unsupported', 'recovery-code backups use hkdf-sha256');
      kdf = { alg: 'hkdf-sha256', salt: b64(k['salt'], 'kdf.salt', SALT_SIZE) };
    }
    const aead = object(fields['aead'], 'aead', ['alg', 'nonce']);
    if (aead['alg'] !== 'xchacha20poly1305') return failure('backup.unsupported', 'unsupported AEAD');
    return success({
      patient,
      publicKey,
      secret,
      kdf,
      nonce: b64(aead['nonce'], 'aead.nonce', NONCE_SIZE),
      ciphertext: b64(fields['ciphertext'], 'ciphertext', CIPHERTEXT_SIZE),
    });
  } catch (error) {
    if (error instanceof Malformed) return failure('backup.malformed', error.message);
    throw error;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
