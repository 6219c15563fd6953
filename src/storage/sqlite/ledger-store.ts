/**
 * The embedded LedgerStore on SQLite (better-sqlite3, WAL, synchronous=FULL). A block, its
 * transactions, new log nodes and state changes are written in one SQLite transaction, so a crash
 * leaves either the whole block or none of it.
 */
import Database from 'better-sqlite3-multiple-ciphers';
import type { LogNode } from '../../ledger/merkle.js';
import type { StateChange } from '../../state/store.js';
import type { BlockCommit, LedgerStore, StoredBlock, StoredTx, SubjectRow } from '../ports.js';
import { unsynced, WalSync } from './wal-sync.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
  height INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  header BLOB NOT NULL,
  signature BLOB NOT NULL,
  checkpoint_signature BLOB NOT NULL,
  first_index INTEGER NOT NULL,
  tx_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
  idx INTEGER PRIMARY KEY,
  hash BLOB NOT NULL UNIQUE,
  height INTEGER NOT NULL,
  wire BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS log_nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tx_subjects (
  subject TEXT NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (subject, idx)
) WITHOUT ROWID;
`;

interface BlockRow {
  height: number;
  hash: Buffer;
  header: Buffer;
  signature: Buffer;
  checkpoint_signature: Buffer;
  first_index: number;
  tx_count: number;
}

interface TxRow {
  idx: number;
  hash: Buffer;
  height: number;
  wire: Buffer;
}

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function toBlock(row: BlockRow | undefined): StoredBlock | undefined {
  return (
    row && {
      height: row.height,
      hash: u8(row.hash),
      header: u8(row.header),
      signature: u8(row.signature),
      checkpointSignature: u8(row.checkpoint_signature),
      firstIndex: row.first_index,
      txCount: row.tx_count,
    }
  );
}

function toTx(row: TxRow | undefined): StoredTx | undefined {
  return row && { index: row.idx, hash: u8(row.hash), height: row.height, wire: u8(row.wire) };
}

export class SqliteLedgerStore implements LedgerStore {
  readonly #db: Database.Database;
  readonly #stmts;
  readonly #commitTx: (commit: BlockCommit) => void;
  readonly #writeState: (changes: readonly StateChange[]) => void;
  readonly #putSubjects: (rows: readonly SubjectRow[]) => void;
  readonly #wal: WalSync;

  constructor(path: string, options: { readonly readonly?: boolean } = {}) {
    this.#db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (!options.readonly) {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.exec(SCHEMA);
    }
    this.#db.pragma('cache_size = -65536');
    this.#wal = new WalSync(path);
    const db = this.#db;
    this.#stmts = {
      getMeta: db.prepare<[string], { value: Buffer }>('SELECT value FROM meta WHERE key = ?'),
      putMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)'),
      getState: db.prepare<[string], { value: Buffer }>('SELECT value FROM state WHERE key = ?'),
      putState: db.prepare('INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      deleteState: db.prepare('DELETE FROM state WHERE key = ?'),
      getNode: db.prepare<[number, number], { hash: Buffer }>('SELECT hash FROM log_nodes WHERE level = ? AND idx = ?'),
      putNode: db.prepare('INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      putBlock: db.prepare(
        'INSERT INTO blocks (height, hash, header, signature, checkpoint_signature, first_index, tx_count) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      putTx: db.prepare('INSERT INTO txs (idx, hash, height, wire) VALUES (?, ?, ?, ?)'),
      putSubject: db.prepare('INSERT OR IGNORE INTO tx_subjects (subject, idx) VALUES (?, ?)'),
      txsBySubject: db.prepare<[string, number, number], TxRow>(
        `SELECT txs.* FROM tx_subjects JOIN txs ON txs.idx = tx_subjects.idx
          WHERE subject = ? AND tx_subjects.idx < ? ORDER BY tx_subjects.idx DESC LIMIT ?`,
      ),
      maxSubjectIndex: db.prepare<[], { idx: number | null }>('SELECT max(idx) AS idx FROM tx_subjects'),
      maxTxIndex: db.prepare<[], { idx: number | null }>('SELECT max(idx) AS idx FROM txs'),
      allTxs: db.prepare<[], TxRow>('SELECT * FROM txs ORDER BY idx'),
      stateKeys: db.prepare<[string, string, number], { key: string }>(
        'SELECT key FROM state WHERE key > ? AND key < ? ORDER BY key LIMIT ?',
      ),
      latestBlock: db.prepare<[], BlockRow>('SELECT * FROM blocks ORDER BY height DESC LIMIT 1'),
      block: db.prepare<[number], BlockRow>('SELECT * FROM blocks WHERE height = ?'),
      txRange: db.prepare<[number, number], TxRow>('SELECT * FROM txs WHERE idx >= ? AND idx < ? ORDER BY idx'),
      txByHash: db.prepare<[Buffer], TxRow>('SELECT * FROM txs WHERE hash = ?'),
      allState: db.prepare<[], { key: string; value: Buffer }>('SELECT key, value FROM state ORDER BY key'),
      allNodes: db.prepare<[], { level: number; idx: number; hash: Buffer }>('SELECT level, idx, hash FROM log_nodes'),
      counts: db.prepare<[], { blocks: number; txs: number; logNodes: number; state: number }>(
        `SELECT (SELECT count(*) FROM blocks) AS blocks, (SELECT count(*) FROM txs) AS txs,
                (SELECT count(*) FROM log_nodes) AS logNodes, (SELECT count(*) FROM state) AS state`,
      ),
    };
    const s = this.#stmts;
    this.#writeState = (changes) => {
      for (const c of changes) {
        if (c.value === null) s.deleteState.run(c.key);
        else s.putState.run(c.key, c.value);
      }
    };
    this.#commitTx = db.transaction((commit: BlockCommit) => {
      const b = commit.block;
      s.putBlock.run(b.height, b.hash, b.header, b.signature, b.checkpointSignature, b.firstIndex, b.txCount);
      for (const tx of commit.txs) s.putTx.run(tx.index, tx.hash, tx.height, tx.wire);
      for (const n of commit.logNodes) s.putNode.run(n.level, n.index, n.hash);
      for (const row of commit.subjects) s.putSubject.run(row.subject, row.index);
      this.#writeState(commit.stateChanges);
    });
    this.#putSubjects = db.transaction((rows: readonly SubjectRow[]) => {
      for (const row of rows) s.putSubject.run(row.subject, row.index);
    });
  }

  genesis(): Uint8Array | undefined {
    const row = this.#stmts.getMeta.get('genesis');
    return row && u8(row.value);
  }

  initialize(genesis: Uint8Array, changes: readonly StateChange[]): void {
    this.#db.transaction(() => {
      this.#stmts.putMeta.run('genesis', genesis);
      this.#writeState(changes);
    })();
  }

  commitBlock(commit: BlockCommit, durability: 'synced' | 'deferred' = 'synced'): void {
    if (durability === 'synced') this.#commitTx(commit);
    else unsynced(this.#db, () => this.#commitTx(commit));
  }

  sync(): Promise<void> {
    return this.#wal.sync();
  }

  get(key: string): Uint8Array | undefined {
    const row = this.#stmts.getState.get(key);
    return row && u8(row.value);
  }

  node(level: number, index: number): Uint8Array {
    const row = this.#stmts.getNode.get(level, index);
    if (!row) throw new Error(`log node ${level}/${index} is missing from the store`);
    return u8(row.hash);
  }

  latestBlock(): StoredBlock | undefined {
    return toBlock(this.#stmts.latestBlock.get());
  }

  block(height: number): StoredBlock | undefined {
    return toBlock(this.#stmts.block.get(height));
  }

  blockTxs(block: StoredBlock): StoredTx[] {
    return this.#stmts.txRange.all(block.firstIndex, block.firstIndex + block.txCount).map((row) => toTx(row)!);
  }

  txByHash(hash: Uint8Array): StoredTx | undefined {
    return toTx(this.#stmts.txByHash.get(Buffer.from(hash)));
  }

  txsBySubject(subject: string, options: { readonly before?: number; readonly limit?: number } = {}): StoredTx[] {
    const rows = this.#stmts.txsBySubject.all(subject, options.before ?? Number.MAX_SAFE_INTEGER, options.limit ?? 100);
    return rows.map((row) => toTx(row)!);
  }

  subjectIndexBehind(): boolean {
    const txs = this.#stmts.maxTxIndex.get()!.idx;
    return txs !== null && this.#stmts.maxSubjectIndex.get()!.idx === null;
  }

  indexSubjects(rows: readonly SubjectRow[]): void {
    this.#putSubjects(rows);
  }

  stateKeys(prefix: string, options: { readonly after?: string; readonly limit?: number } = {}): string[] {
    // Keys compare as UTF-8 bytes; U+10FFFF sorts after every character a key may hold.
    const after = options.after !== undefined && options.after > prefix ? options.after : prefix;
    return this.#stmts.stateKeys.all(after, `${prefix}\u{10FFFF}`, options.limit ?? 100).map((r) => r.key);
  }

  *allTxs(): Iterable<StoredTx> {
    for (const row of this.#stmts.allTxs.iterate()) yield toTx(row)!;
  }

  *allState(): Iterable<StateChange & { readonly value: Uint8Array }> {
    for (const row of this.#stmts.allState.iterate()) yield { key: row.key, value: u8(row.value) };
  }

  *allLogNodes(): Iterable<LogNode> {
    for (const row of this.#stmts.allNodes.iterate()) yield { level: row.level, index: row.idx, hash: u8(row.hash) };
  }

  counts(): { blocks: number; txs: number; logNodes: number; state: number } {
    return this.#stmts.counts.get()!;
  }

  /** SQLite's own structural check of the file (b-trees, indexes). */
  integrityErrors(): string[] {
    const rows = this.#db.pragma('quick_check') as { quick_check: string }[];
    return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
  }

  /**
   * Pins this connection to one snapshot of the ledger (a WAL read transaction) until `close`, so a
   * long audit reads a consistent ledger while the node keeps committing blocks.
   */
  pinSnapshot(): void {
    if (this.#db.inTransaction) return;
    this.#db.exec('BEGIN');
    this.#stmts.latestBlock.get(); // a read transaction starts at its first read
  }

  close(): void {
    this.#db.close();
    this.#wal.close();
  }
}
