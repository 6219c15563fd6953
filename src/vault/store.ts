/**
 * The vault's SQLite database (`vault.sqlite` in the data directory), encrypted as a whole with
 * SQLite3 Multiple Ciphers (src/storage/sqlite/cipher.ts) under a random 256-bit key kept in the
 * node keystore as `vault-db`. Only ciphertext envelopes and wrapped data keys are stored in it, and the
 * file itself is encrypted too, so the search index (same database) rests encrypted as well.
 *
 * Tables:
 * - `current`: one row per resource (`res` integer id, type, logical id, opaque ledger record id,
 *   current committed version — 0 while the first version is pending —, deleted flag,
 *   last_updated ms, patient pseudonym). It is also the `current` table of the FHIR search
 *   contract (src/fhir/search/schema.ts), whose index tables are created in this database, so
 *   the FHIR layer writes index rows in the same SQLite transaction as the version.
 * - `versions`: one row per version (envelope, wrapped data key and the id of the KEK it is
 *   wrapped under, author, last_updated, deleted, ledger tx hash and height, state pending |
 *   committed). A rowid table, not WITHOUT ROWID: an index-organized row keeps only ~1 KB on its
 *   page and a typical envelope is larger, so every version spilled to an overflow page (~30 %
 *   more bytes written per write). Vaults created before keep their layout; the SQL is the same.
 * - `patient_links`: FHIR Patient logical id ↔ ledger pseudonym (kept off the ledger).
 * - `contents`: which version holds which content file (content-store.ts), with the file's size and
 *   ciphertext SHA-256 — an index for audits, erasure and sweeping; the authoritative reference
 *   (with the content key) is sealed inside the version.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataKey } from '../crypto/aead.js';
import type { KeyStore } from '../storage/ports.js';
import { SEARCH_DDL } from '../fhir/search/schema.js';
import { openEncryptedSqlite } from '../storage/sqlite/cipher.js';
import { unsynced, WalSync } from '../storage/sqlite/wal-sync.js';
import { Checkpointer, FALLBACK_AUTOCHECKPOINT_PAGES } from '../storage/sqlite/checkpointer.js';
import type { WrappedKeyRow, WrappedKeyTable } from './kek.js';
import type { ContentLocation } from './content-ref.js';

export const VAULT_FILE = 'vault.sqlite';
export const VAULT_DB_KEY = 'vault-db';

/** The vault's files in a data directory (kept here, beside the vault, not in src/node/data-dir.ts). */
export const vaultPaths = (dir: string) => {
  const db = join(dir, VAULT_FILE);
  return { db, wal: `${db}-wal`, shm: `${db}-shm` };
};

/**
 * Extra DDL run (idempotently) every time the database is opened, after the vault's own tables.
 * The FHIR search index registers its tables here; further modules may push their own.
 */
export const EXTRA_SCHEMA: string[] = [SEARCH_DDL];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS current (
  res INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  record TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  last_updated INTEGER NOT NULL,
  patient TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS current_type_id ON current (type, id);
CREATE TABLE IF NOT EXISTS versions (
  res INTEGER NOT NULL REFERENCES current (res),
  version INTEGER NOT NULL,
  envelope BLOB,
  wrapped_key BLOB,
  kek INTEGER,
  author TEXT NOT NULL,
  last_updated INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  tx_hash BLOB,
  height INTEGER,
  state TEXT NOT NULL CHECK (state IN ('pending', 'committed')),
  PRIMARY KEY (res, version),
  CHECK ((deleted = 1 AND envelope IS NULL AND wrapped_key IS NULL AND kek IS NULL)
      OR (deleted = 0 AND envelope IS NOT NULL AND wrapped_key IS NOT NULL AND kek IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS versions_kek ON versions (kek, res, version) WHERE kek IS NOT NULL;
CREATE INDEX IF NOT EXISTS versions_pending ON versions (res, version) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS contents (
  id TEXT PRIMARY KEY,
  res INTEGER NOT NULL,
  version INTEGER NOT NULL,
  size INTEGER NOT NULL,
  sha256 BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contents_by_version ON contents (res, version);
CREATE TABLE IF NOT EXISTS patient_links (
  patient_id TEXT PRIMARY KEY,
  pseudonym TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL
) WITHOUT ROWID;
`;

export class VaultStoreError extends Error {}

export interface ResourceRow {
  readonly res: number;
  readonly type: string;
  readonly id: string;
  readonly record: string;
  /** The current committed version; 0 while the first version is still pending. */
  readonly version: number;
  readonly deleted: boolean;
  readonly lastUpdated: number;
  readonly patient: string | null;
}

export interface VersionRow {
  readonly res: number;
  readonly version: number;
  readonly envelope: Uint8Array | null;
  readonly wrappedKey: Uint8Array | null;
  readonly kek: number | null;
  readonly author: string;
  readonly lastUpdated: number;
  readonly deleted: boolean;
  readonly txHash: Uint8Array | null;
  readonly height: number | null;
  readonly state: 'pending' | 'committed';
}

export type NewVersion = Omit<VersionRow, 'txHash' | 'height' | 'state'>;

interface RawResource {
  res: number;
  type: string;
  id: string;
  record: string;
  version: number;
  deleted: number;
  last_updated: number;
  patient: string | null;
}

interface RawVersion {
  res: number;
  version: number;
  envelope: Buffer | null;
  wrapped_key: Buffer | null;
  kek: number | null;
  author: string;
  last_updated: number;
  deleted: number;
  tx_hash: Buffer | null;
  height: number | null;
  state: 'pending' | 'committed';
}

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const toResource = (r: RawResource): ResourceRow => ({
  res: r.res,
  type: r.type,
  id: r.id,
  record: r.record,
  version: r.version,
  deleted: r.deleted === 1,
  lastUpdated: r.last_updated,
  patient: r.patient,
});

const toVersion = (r: RawVersion): VersionRow => ({
  res: r.res,
  version: r.version,
  envelope: r.envelope && u8(r.envelope),
  wrappedKey: r.wrapped_key && u8(r.wrapped_key),
  kek: r.kek,
  author: r.author,
  lastUpdated: r.last_updated,
  deleted: r.deleted === 1,
  txHash: r.tx_hash && u8(r.tx_hash),
  height: r.height,
  state: r.state,
});

/** The database key from the keystore, created with the database. */
function databaseKey(keystore: KeyStore, path: string): Uint8Array {
  const existing = keystore.secretKey(VAULT_DB_KEY);
  if (existing) return existing;
  if (existsSync(path)) throw new VaultStoreError(`${path} exists but the keystore has no "${VAULT_DB_KEY}" key to open it`);
  const key = generateDataKey();
  keystore.put(VAULT_DB_KEY, key);
  return key;
}

export class VaultStore implements WrappedKeyTable {
  /** The open database, for modules (the FHIR search index) that keep their tables in it. */
  readonly db: Database.Database;
  readonly #s;
  readonly #wal: WalSync;
  #checkpointer: Checkpointer | undefined;

  /**
   * With `readonly`, opens an existing vault without writing anything (no key created, no schema
   * run), beside a node that may have it open; only the read methods may be used.
   */
  constructor(path: string, keystore: KeyStore, options: { readonly readonly?: boolean } = {}) {
    const readonly = options.readonly ?? false;
    const key = readonly ? keystore.secretKey(VAULT_DB_KEY) : databaseKey(keystore, path);
    if (!key) throw new VaultStoreError(`the keystore has no "${VAULT_DB_KEY}" key to open ${path}`);
    let opened;
    try {
      opened = openEncryptedSqlite(path, key, { readonly });
    } catch (error) {
      key.fill(0);
      throw new VaultStoreError(`cannot open ${path}: wrong database key or not a vault (${(error as Error).message})`);
    }
    const { db, cipher } = opened;
    let checkpointer: Checkpointer | undefined;
    try {
      // Read-only: the write statements below are prepared but never run.
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        // Every page read from disk is decrypted: keep the hot index pages (64 MiB) in memory.
        db.pragma('cache_size = -65536');
        db.exec(SCHEMA);
        for (const ddl of EXTRA_SCHEMA) db.exec(ddl);
        // Checkpoints run on a worker thread (checkpointer.ts); this connection only checkpoints
        // should the worker fall far behind.
        db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
        checkpointer = new Checkpointer(path, { cipher, key });
      }
    } catch (error) {
      checkpointer?.stop();
      db.close();
      throw error;
    } finally {
      key.fill(0);
    }
    this.db = db;
    this.#checkpointer = checkpointer;
    this.#wal = new WalSync(path);
    this.#s = {
      resourceByTypeId: db.prepare<[string, string], RawResource>('SELECT * FROM current WHERE type = ? AND id = ?'),
      resourceByRes: db.prepare<[number], RawResource>('SELECT * FROM current WHERE res = ?'),
      insertResource: db.prepare<[string, string, string, number, string | null]>(
        'INSERT INTO current (type, id, record, version, deleted, last_updated, patient) VALUES (?, ?, ?, 0, 1, ?, ?)',
      ),
      updateResource: db.prepare<[number, number, number, number]>(
        'UPDATE current SET version = ?, deleted = ?, last_updated = ? WHERE res = ?',
      ),
      deleteResource: db.prepare<[number]>('DELETE FROM current WHERE res = ?'),
      version: db.prepare<[number, number], RawVersion>('SELECT * FROM versions WHERE res = ? AND version = ?'),
      versions: db.prepare<[number], RawVersion>(
        "SELECT * FROM versions WHERE res = ? AND state = 'committed' ORDER BY version DESC",
      ),
      insertVersion: db.prepare(
        `INSERT INTO versions (res, version, envelope, wrapped_key, kek, author, last_updated, deleted, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
      ),
      commitVersion: db.prepare<[Buffer | null, number | null, number, number]>(
        "UPDATE versions SET state = 'committed', tx_hash = ?, height = ? WHERE res = ? AND version = ? AND state = 'pending'",
      ),
      deleteVersion: db.prepare<[number, number]>("DELETE FROM versions WHERE res = ? AND version = ? AND state = 'pending'"),
      countVersions: db.prepare<[number], { n: number }>('SELECT count(*) AS n FROM versions WHERE res = ?'),
      pending: db.prepare<[], RawVersion>("SELECT * FROM versions WHERE state = 'pending' ORDER BY res, version"),
      allCommitted: db.prepare<[], RawVersion>("SELECT * FROM versions WHERE state = 'committed' ORDER BY res, version"),
      allResources: db.prepare<[], RawResource>('SELECT * FROM current ORDER BY res'),
      wrappedNotUnder: db.prepare<
        [number, number],
        { res: number; version: number; record: string; kek: number; wrapped_key: Buffer }
      >(
        `SELECT v.res, v.version, c.record, v.kek, v.wrapped_key FROM versions v JOIN current c ON c.res = v.res
         WHERE v.kek IS NOT NULL AND v.kek <> ? ORDER BY v.kek, v.res, v.version LIMIT ?`,
      ),
      wrappedKeys: db.prepare<[], { res: number; version: number; record: string; kek: number; wrapped_key: Buffer }>(
        `SELECT v.res, v.version, c.record, v.kek, v.wrapped_key FROM versions v JOIN current c ON c.res = v.res
         WHERE v.kek IS NOT NULL ORDER BY v.kek, v.res, v.version`,
      ),
      keyCounts: db.prepare<[], { kek: number; n: number }>(
        'SELECT kek, count(*) AS n FROM versions WHERE kek IS NOT NULL GROUP BY kek ORDER BY kek',
      ),
      rewrap: db.prepare<[Buffer, number, number, number]>(
        'UPDATE versions SET wrapped_key = ?, kek = ? WHERE res = ? AND version = ?',
      ),
      insertContent: db.prepare<[string, number, number, number, Buffer]>(
        'INSERT INTO contents (id, res, version, size, sha256) VALUES (?, ?, ?, ?, ?)',
      ),
      contentOf: db.prepare<[number, number], { id: string; size: number; sha256: Buffer }>(
        'SELECT id, size, sha256 FROM contents WHERE res = ? AND version = ?',
      ),
      contentHeld: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM contents WHERE id = ?'),
      contentsOfRes: db.prepare<[number], { id: string }>('SELECT id FROM contents WHERE res = ?'),
      deleteContentsOfVersion: db.prepare<[number, number]>('DELETE FROM contents WHERE res = ? AND version = ?'),
      deleteContentsOfRes: db.prepare<[number]>('DELETE FROM contents WHERE res = ?'),
      linkByPatient: db.prepare<[string], { pseudonym: string }>('SELECT pseudonym FROM patient_links WHERE patient_id = ?'),
      linkByPseudonym: db.prepare<[string], { patient_id: string }>('SELECT patient_id FROM patient_links WHERE pseudonym = ?'),
      insertLink: db.prepare<[string, string, number]>(
        'INSERT INTO patient_links (patient_id, pseudonym, created) VALUES (?, ?, ?)',
      ),
    };
  }

  /** Runs `fn` in one SQLite transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Runs `fn` in one SQLite transaction committed WITHOUT an fsync (see wal-sync.ts). Follow it
   * with {@link syncWal} before relying on it surviving a power loss.
   */
  transactionUnsynced<T>(fn: () => T): T {
    return unsynced(this.db, () => this.db.transaction(fn)());
  }

  /** Makes every transaction committed so far durable, off the event loop (group fsync). */
  syncWal(): Promise<void> {
    return this.#wal.sync();
  }

  resource(type: string, id: string): ResourceRow | undefined {
    const row = this.#s.resourceByTypeId.get(type, id);
    return row && toResource(row);
  }

  resourceByRes(res: number): ResourceRow | undefined {
    const row = this.#s.resourceByRes.get(res);
    return row && toResource(row);
  }

  /** A new resource row, hidden (version 0, deleted) until its first version commits. */
  insertResource(type: string, id: string, record: string, lastUpdated: number, patient: string | undefined): number {
    return Number(this.#s.insertResource.run(type, id, record, lastUpdated, patient ?? null).lastInsertRowid);
  }

  setCurrent(res: number, version: number, deleted: boolean, lastUpdated: number): void {
    this.#s.updateResource.run(version, deleted ? 1 : 0, lastUpdated, res);
  }

  version(res: number, version: number): VersionRow | undefined {
    const row = this.#s.version.get(res, version);
    return row && toVersion(row);
  }

  /** Committed versions of a resource, newest first. */
  committedVersions(res: number): VersionRow[] {
    return this.#s.versions.all(res).map(toVersion);
  }

  insertPending(v: NewVersion): void {
    this.#s.insertVersion.run(
      v.res,
      v.version,
      v.envelope && buf(v.envelope),
      v.wrappedKey && buf(v.wrappedKey),
      v.kek,
      v.author,
      v.lastUpdated,
      v.deleted ? 1 : 0,
    );
  }

  /** Marks a pending version committed; false if there was no such pending row. */
  markCommitted(res: number, version: number, txHash: Uint8Array | null, height: number | null): boolean {
    return this.#s.commitVersion.run(txHash && buf(txHash), height, res, version).changes === 1;
  }

  /** Records that a (pending) version holds a content file. */
  insertContent(res: number, version: number, content: ContentLocation): void {
    this.#s.insertContent.run(content.id, res, version, content.size, buf(content.sha256));
  }

  /** The content file a version holds, if any. */
  contentOf(res: number, version: number): ContentLocation | undefined {
    const row = this.#s.contentOf.get(res, version);
    return row && { id: row.id, size: row.size, sha256: u8(row.sha256) };
  }

  /** Whether any version (pending or committed) holds the content file. */
  contentHeld(id: string): boolean {
    return this.#s.contentHeld.get(id) !== undefined;
  }

  /** Forgets the content files of every version of a resource (erasure); returns their ids. */
  dropContents(res: number): string[] {
    const ids = this.#s.contentsOfRes.all(res).map((r) => r.id);
    this.#s.deleteContentsOfRes.run(res);
    return ids;
  }

  /**
   * Drops a pending version (and the record of its content file, which the caller deletes), and
   * its resource row if nothing of it was ever committed.
   */
  dropPending(res: number, version: number): void {
    if (this.#s.deleteVersion.run(res, version).changes === 1) this.#s.deleteContentsOfVersion.run(res, version);
    const resource = this.resourceByRes(res);
    if (resource && resource.version === 0 && this.#s.countVersions.get(res)!.n === 0) this.#s.deleteResource.run(res);
  }

  pendingVersions(): VersionRow[] {
    return this.#s.pending.all().map(toVersion);
  }

  *committedVersionsAll(): IterableIterator<VersionRow> {
    for (const row of this.#s.allCommitted.iterate()) yield toVersion(row);
  }

  resources(): ResourceRow[] {
    return this.#s.allResources.all().map(toResource);
  }

  /**
   * Ordered by KEK first, so the partial index `versions_kek` serves the query and each batch of a
   * rotation starts where the previous one ended instead of re-scanning the rows already re-wrapped
   * (ordered by row, a rotation of n versions read O(n²/batch) rows).
   */
  wrappedNotUnder(kek: number, limit: number): WrappedKeyRow[] {
    return this.#s.wrappedNotUnder.all(kek, limit).map(toWrappedKey);
  }

  /** Every stored wrapped data key (pending versions included; deleted and erased versions have none). */
  *wrappedKeys(): IterableIterator<WrappedKeyRow> {
    for (const row of this.#s.wrappedKeys.iterate()) yield toWrappedKey(row);
  }

  /** How many data keys are wrapped under each KEK id, ascending by id. */
  wrappedKeyCounts(): { readonly kek: number; readonly count: number }[] {
    return this.#s.keyCounts.all().map((r) => ({ kek: r.kek, count: r.n }));
  }

  rewrap(
    rows: readonly { readonly res: number; readonly version: number; readonly kek: number; readonly wrapped: Uint8Array }[],
  ): void {
    this.transaction(() => {
      for (const r of rows) this.#s.rewrap.run(buf(r.wrapped), r.kek, r.res, r.version);
    });
  }

  pseudonymOf(patientId: string): string | undefined {
    return this.#s.linkByPatient.get(patientId)?.pseudonym;
  }

  patientOf(pseudonym: string): string | undefined {
    return this.#s.linkByPseudonym.get(pseudonym)?.patient_id;
  }

  link(patientId: string, pseudonym: string, created: number): void {
    this.#s.insertLink.run(patientId, pseudonym, created);
  }

  close(): void {
    this.#checkpointer?.stop();
    this.#checkpointer = undefined;
    if (this.db.open) this.db.close();
    this.#wal.close();
  }
}

const toWrappedKey = (r: { res: number; version: number; record: string; kek: number; wrapped_key: Buffer }): WrappedKeyRow => ({
  res: r.res,
  version: r.version,
  label: wrapLabel(r.record, r.version),
  kek: r.kek,
  wrapped: u8(r.wrapped_key),
});

/** The label a version's data key is wrapped with: moving a wrapped key to another version fails. */
export const wrapLabel = (record: string, version: number): string => `${record}/${version}`;
