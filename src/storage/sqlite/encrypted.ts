/**
 * Opens a whole-file encrypted SQLite database (SQLite3 Multiple Ciphers, ChaCha20-Poly1305
 * pages) under a random 256-bit key kept in the node keystore, created with the file. Every page
 * — WAL frames included — is ciphertext at rest.
 */
import Database from 'better-sqlite3-multiple-ciphers';
import { existsSync } from 'node:fs';
import { generateDataKey } from '../../crypto/aead.js';
import { toHex } from '../../crypto/bytes.js';
import type { KeyStore } from '../ports.js';

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
  const db = new Database(path, { readonly, fileMustExist: readonly });
  try {
    // Must come first: page 1 is encrypted too.
    db.pragma(`key="x'${toHex(key)}'"`);
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      if (options.secureDelete) db.pragma('secure_delete = ON');
    }
    return db;
  } catch (error) {
    db.close();
    throw new EncryptedDatabaseError(`cannot open ${path}: wrong key or not a MedLedger database (${(error as Error).message})`);
  } finally {
    key.fill(0);
  }
}
