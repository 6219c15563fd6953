/**
 * Opens a whole-file encrypted SQLite database (SQLite3 Multiple Ciphers, see cipher.ts) under a
 * random 256-bit key kept in the node keystore, created with the file. Every page — WAL frames
 * included — is ciphertext at rest.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { existsSync } from 'node:fs';
import { generateDataKey } from '../../crypto/aead.js';
import type { KeyStore } from '../ports.js';
import { openEncryptedSqlite } from './cipher.js';

export class EncryptedDatabaseError extends Error {}

export function openEncryptedDatabase(
  path: string,
  keystore: KeyStore,
  keyName: string,
  options: {
    readonly readonly?: boolean;
    /** Overwrite deleted content instead of leaving it in free pages (notes, erasure). */
    readonly secureDelete?: boolean;
  } = {},
): Database.Database {
  const readonly = options.readonly ?? false;
  let key = keystore.secretKey(keyName);
  if (!key) {
    if (readonly || existsSync(path)) throw new EncryptedDatabaseError(`the keystore has no "${keyName}" key to open ${path}`);
    key = generateDataKey();
    keystore.put(keyName, key);
  }
  let db: Database.Database | undefined;
  try {
    db = openEncryptedSqlite(path, key, { readonly }).db;
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      if (options.secureDelete) db.pragma('secure_delete = ON');
    }
    return db;
  } catch (error) {
    db?.close();
    throw new EncryptedDatabaseError(`cannot open ${path}: wrong key or not a MedLedger database (${(error as Error).message})`);
  } finally {
    key.fill(0);
  }
}
