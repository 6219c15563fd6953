/**
 * The MedLedger client SDK, for Node and the browser: patient keys, encrypted backups and recovery
 * kits, transaction signing, and proof checking against a node's ledger API.
 *
 * Modules that need nothing but @noble/* and Web APIs: keys, random, encoding, kdf, backup,
 * recovery-code, recovery, errors, ledger-api. Modules that reuse the ledger's own encoders
 * (identity, signer, proofs) also reach src/crypto/ed25519.ts (libsodium) and src/crypto/hash.ts
 * (node:crypto); a browser build aliases those two to ./browser/ed25519.ts and ./browser/hash.ts.
 * test/client-browser.test.ts loads this entry with exactly those aliases, Node built-ins forbidden
 * and no Buffer, and runs the SDK end to end.
 */
export * from './errors.js';
export * from './encoding.js';
export { randomBytes } from './random.js';
export {
  generateKeyPair,
  keyPairFromSeed,
  NobleSigner,
  verifySignature,
  SEED_SIZE,
  PUBLIC_KEY_SIZE,
  SIGNATURE_SIZE,
  type KeyPair,
} from './keys.js';
export { signTransaction, type TxSigner } from './signer.js';
export { openEventStream, SseParser, type EventStreamOptions, type ServerEvent, type StreamState } from './event-stream.js';
export { grantTypes } from './consent-types.js';
export { Identity, randomPseudonym } from './identity.js';
export { checkKdfBounds, DEFAULT_KDF, DEFAULT_LIMITS, MIN_CREATE, type Argon2idParams, type KdfLimits } from './kdf.js';
export {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  createKeyBackup,
  encodeKeyBackup,
  openKeyBackup,
  parseKeyBackup,
  type BackupSecret,
  type KeyBackup,
} from './backup.js';
export { formatRecoveryCode, generateRecoveryCode, parseRecoveryCode } from './recovery-code.js';
export { createRecoveryKit, keyFingerprint, recoverKey, recoveryKitText, type RecoveryKit } from './recovery.js';
export {
  LedgerClient,
  readCheckpoint,
  type InclusionProof,
  type ConsistencyProof,
  type TxReceipt,
  type ParticipantInfo,
} from './ledger-api.js';
export {
  checkCheckpoint,
  checkConsistency,
  checkInclusion,
  checkReceipt,
  followLog,
  verifyTransaction,
  type Trust,
} from './proofs.js';
export {
  DeviceClient,
  DeviceApiError,
  signBatch,
  DEVICE_CODES,
  type BatchBody,
  type Series,
  type SignedBatch,
  type DeviceSeries,
  type PopulationQueryInput,
} from './devices.js';
