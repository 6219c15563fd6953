/**
 * Page encryption of MedLedger's encrypted SQLite databases (SQLite3 Multiple Ciphers).
 *
 * New databases use AEGIS-256 (authenticated, a fresh nonce and a 256-bit tag per page; with
 * AES-NI about as fast as no encryption at all) under the raw 256-bit key from the node keystore,
 * with no key derivation since the key is already random. Databases created before that use
 * ChaCha20-Poly1305 ("sqleet") keyed through its own PBKDF2; they are still opened, with that
 * scheme, so a node's existing data directory keeps working. Measured on the vault's write path:
 * ChaCha20 roughly doubled the cost of a commit (bench/results/fhir-profile.md).
 */
import Database from 'better-sqlite3-multiple-ciphers';
import { statSync } from 'node:fs';
import { toHex } from '../../crypto/bytes.js';

export type PageCipher = 'aegis' | 'chacha20';

/** The pragmas that key a fresh connection to a database encrypted with `cipher`. */
export function keyPragmas(cipher: PageCipher, keyHex: string): string[] {
  return cipher === 'aegis' ? [`cipher = 'aegis'`, `key = 'raw:${keyHex}'`] : [`cipher = 'chacha20'`, `key = "x'${keyHex}'"`];
}

export class WrongKeyError extends Error {}

/** Whether the file holds no database yet (absent, or created empty by an earlier open). */
function isNew(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return true;
  }
}

function tryOpen(path: string, cipher: PageCipher, keyHex: string, options: Database.Options): Database.Database {
  const db = new Database(path, options);
  try {
    for (const pragma of keyPragmas(cipher, keyHex)) db.pragma(pragma);
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Opens the encrypted database at `path` under `key`: AEGIS for a new database, otherwise the
 * scheme it was created with. Throws {@link WrongKeyError} when no scheme opens it (wrong key,
 * or not a database).
 */
export function openEncryptedSqlite(
  path: string,
  key: Uint8Array,
  options: { readonly readonly?: boolean } = {},
): { db: Database.Database; cipher: PageCipher } {
  const readonly = options.readonly ?? false;
  const dbOptions = { readonly, fileMustExist: readonly };
  const keyHex = toHex(key);
  const schemes: PageCipher[] = isNew(path) ? ['aegis'] : ['aegis', 'chacha20'];
  let last: unknown;
  for (const cipher of schemes) {
    try {
      return { db: tryOpen(path, cipher, keyHex, dbOptions), cipher };
    } catch (error) {
      last = error;
    }
  }
  throw new WrongKeyError(`wrong key or not a database (${(last as Error).message})`);
}
