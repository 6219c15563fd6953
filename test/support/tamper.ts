/**
 * Tampering helpers for audit tests: copy a node's ledger database, then change it behind the
 * node's back — one flipped byte in a stored blob, a deleted or inserted row, a flipped byte in
 * the raw file. Only for closed ledgers: the WAL is folded into the main file first.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { tempDir } from './fixtures.js';

export const LEDGER_FILE = 'ledger.sqlite';

/** Folds the WAL into the main database file, so the file alone holds the whole ledger. */
export function checkpointWal(ledgerPath: string): void {
  const db = new Database(ledgerPath, { fileMustExist: true });
  try {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    assert.ok(result && result.busy === 0, `WAL checkpoint of ${ledgerPath} was blocked`);
  } finally {
    db.close();
  }
}

export interface LedgerCopy {
  /** A data directory holding only the copied ledger database. */
  readonly dir: string;
  readonly ledger: string;
  remove(): void;
}

/** Copies the (checkpointed) ledger database of `dataDir` into a fresh temporary data directory. */
export function copyLedger(dataDir: string): LedgerCopy {
  const source = join(dataDir, LEDGER_FILE);
  checkpointWal(source);
  const temp = tempDir('medledger-tamper-');
  const ledger = join(temp.path, LEDGER_FILE);
  copyFileSync(source, ledger);
  return { dir: temp.path, ledger, remove: temp.remove };
}

/** Runs `fn` on a read-write connection and closes it (which folds the WAL back into the file). */
export function withDatabase<T>(ledgerPath: string, fn: (db: Database.Database) => T): T {
  const db = new Database(ledgerPath, { fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export interface BlobTarget {
  readonly table: string;
  readonly column: string;
  /** SQL condition selecting exactly one row, with `?` placeholders for `params`. */
  readonly where: string;
  readonly params?: readonly (string | number | Buffer)[];
  /** Byte to flip; negative counts from the end; default the middle byte. */
  readonly offset?: number;
}

/** Reads one blob, flips one byte (xor 0x01) and writes it back. Returns the original blob. */
export function flipBlobByte(db: Database.Database, target: BlobTarget): Buffer {
  const params = target.params ?? [];
  const rows = db.prepare(`SELECT ${target.column} AS value FROM ${target.table} WHERE ${target.where}`).all(...params) as {
    value: Buffer;
  }[];
  assert.equal(rows.length, 1, `${target.table} WHERE ${target.where} must select one row`);
  const original = rows[0]!.value;
  assert.ok(Buffer.isBuffer(original) && original.length > 0, `${target.table}.${target.column} is a non-empty blob`);
  const changed = Buffer.from(original);
  const at =
    target.offset === undefined ? changed.length >> 1 : target.offset < 0 ? changed.length + target.offset : target.offset;
  assert.ok(at >= 0 && at < changed.length, `offset ${at} lies inside the blob`);
  changed[at]! ^= 0x01;
  const result = db.prepare(`UPDATE ${target.table} SET ${target.column} = ? WHERE ${target.where}`).run(changed, ...params);
  assert.equal(result.changes, 1);
  return original;
}

/** Every offset at which `needle` occurs in the file (live rows, and stale copies in free space). */
export function occurrencesInFile(path: string, needle: Uint8Array): number[] {
  const file = readFileSync(path);
  const found: number[] = [];
  for (let at = file.indexOf(needle); at >= 0; at = file.indexOf(needle, at + 1)) found.push(at);
  return found;
}

/** Flips one byte (xor 0x01) of the file at `position`, bypassing SQLite entirely. */
export function flipFileByte(path: string, position: number): void {
  const file = readFileSync(path);
  assert.ok(position >= 0 && position < file.length, `offset ${position} lies inside ${path}`);
  file[position]! ^= 0x01;
  writeFileSync(path, file);
}
