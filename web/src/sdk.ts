/**
 * The client SDK (src/client) as the web app uses it. Vite aliases the two node-only crypto
 * modules it reaches to their noble stand-ins (vite.config.ts), so keys are made, backups
 * encrypted, transactions signed and proofs checked here in the browser.
 */
export * from '../../src/client/index.js';
export { createPatientKeys, rotatePatientKey } from '../../src/client/rotation.js';
export { signBackupUpload } from '../../src/client/backup-upload.js';
export { signEnrollment } from '../../src/client/enrollment.js';
export type { SignedCheckpoint } from '../../src/ledger/block.js';
export type { TxPayload } from '../../src/ledger/tx.js';
export { decodeTx } from '../../src/ledger/tx.js';
export { blockHash, decodeHeader, verifyBlockSignature } from '../../src/ledger/block.js';
export { CompactRange, leafHash, rootOfLeafHashes } from '../../src/ledger/merkle.js';
