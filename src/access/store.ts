/**
 * What the organization keeps off the ledger about access, in `access.sqlite` (encrypted like the
 * vault): patients' encrypted key backups, which the node stores but cannot open (see
 * src/client/backup.ts), and for emergency accesses the clinician's written justification and
 * the privacy officer's review notes. They may describe the patient's condition, so the ledger holds only salted
 * SHA-256 commitments to them; the salt keeps a short, guessable text from being confirmed by
 * hashing candidates.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { concatBytes, utf8 } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import type { KeyStore } from '../storage/ports.js';
import { openEncryptedDatabase } from '../storage/sqlite/encrypted.js';

export const ACCESS_FILE = 'access.sqlite';
export const ACCESS_DB_KEY = 'access-db';
/** Longest justification or review note accepted, in characters. */
export const MAX_NOTE_LENGTH = 4000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS notes (
  ref TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('justification', 'review')),
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  salt BLOB NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY (ref, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_backups (
  patient TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('passphrase', 'recovery-code')),
  backup TEXT NOT NULL,
  stored INTEGER NOT NULL,
  PRIMARY KEY (patient, kind)
) WITHOUT ROWID;
`;

export type BackupKind = 'passphrase' | 'recovery-code';

export interface Note {
  readonly ref: string;
  readonly kind: 'justification' | 'review';
  readonly author: string;
  readonly text: string;
  readonly created: number;
  /** The commitment the ledger holds. */
  readonly commitment: Uint8Array;
}

export function noteCommitment(salt: Uint8Array, text: string): Uint8Array {
  return sha256(concatBytes(salt, utf8(text)));
}

export class AccessStore {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
    db.exec(SCHEMA);
  }

  static open(dataDir: string, keystore: KeyStore): AccessStore {
    return new AccessStore(openEncryptedDatabase(join(dataDir, ACCESS_FILE), keystore, ACCESS_DB_KEY, { secureDelete: true }));
  }

  /**
   * Stores a note durably and returns its commitment. Written before the ledger transaction that
   * commits to it, so a crash cannot leave a commitment without its note; `remove` undoes it when
   * the transaction is refused.
   */
  put(ref: string, kind: Note['kind'], author: string, text: string, now: number): Uint8Array {
    const salt = randomBytes(32);
    this.#db
      .prepare('INSERT INTO notes (ref, kind, author, text, salt, created) VALUES (?, ?, ?, ?, ?, ?)')
      .run(ref, kind, author, text, salt, now);
    return noteCommitment(salt, text);
  }

  remove(ref: string, kind: Note['kind']): void {
    this.#db.prepare('DELETE FROM notes WHERE ref = ? AND kind = ?').run(ref, kind);
  }

  note(ref: string, kind: Note['kind']): Note | undefined {
    const row = this.#db
      .prepare<[string, string], { author: string; text: string; salt: Buffer; created: number }>(
        'SELECT author, text, salt, created FROM notes WHERE ref = ? AND kind = ?',
      )
      .get(ref, kind);
    return (
      row && {
        ref,
        kind,
        author: row.author,
        text: row.text,
        created: row.created,
        commitment: noteCommitment(row.salt, row.text),
      }
    );
  }

  /** Stores (or replaces) a patient's encrypted key backup; the caller has checked who sent it. */
  putBackup(patient: string, kind: BackupKind, backup: string, now: number): void {
    this.#db
      .prepare(
        `INSERT INTO key_backups (patient, kind, backup, stored) VALUES (?, ?, ?, ?)
         ON CONFLICT (patient, kind) DO UPDATE SET backup = excluded.backup, stored = excluded.stored`,
      )
      .run(patient, kind, backup, now);
  }

  backup(patient: string, kind: BackupKind): { backup: string; stored: number } | undefined {
    return this.#db
      .prepare<[string, string], { backup: string; stored: number }>(
        'SELECT backup, stored FROM key_backups WHERE patient = ? AND kind = ?',
      )
      .get(patient, kind);
  }

  close(): void {
    this.#db.close();
  }
}
