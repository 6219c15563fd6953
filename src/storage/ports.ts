/**
 * Storage ports. The ledger plane talks to these interfaces only; SQLite is the embedded adapter
 * and others (PostgreSQL) plug in behind the same contracts.
 */
import type { LogNode, LogNodeReader } from '../ledger/merkle.js';
import type { StateChange, StateReader } from '../state/store.js';

export interface StoredBlock {
  readonly height: number;
  readonly hash: Uint8Array;
  /** Canonical header bytes, exactly as hashed and signed. */
  readonly header: Uint8Array;
  readonly signature: Uint8Array;
  readonly checkpointSignature: Uint8Array;
  /** Log index of the block's first transaction. */
  readonly firstIndex: number;
  readonly txCount: number;
}

export interface StoredTx {
  readonly index: number;
  readonly hash: Uint8Array;
  readonly height: number;
  readonly wire: Uint8Array;
}

/** Everything one block changes; a store persists it atomically or not at all. */
export interface BlockCommit {
  readonly block: StoredBlock;
  readonly txs: readonly StoredTx[];
  readonly logNodes: readonly LogNode[];
  readonly stateChanges: readonly StateChange[];
  /** Subject index rows for the block's transactions (see ledger/subjects.ts). */
  readonly subjects: readonly SubjectRow[];
}

export interface SubjectRow {
  readonly subject: string;
  /** Log index of a transaction concerning the subject. */
  readonly index: number;
}

export interface LedgerStore extends StateReader, LogNodeReader {
  genesis(): Uint8Array | undefined;
  /** Writes the genesis document and the state it implies, once, atomically. */
  initialize(genesis: Uint8Array, changes: readonly StateChange[]): void;
  /**
   * Persists one block atomically. `synced` (the default): on disk when this returns. `deferred`:
   * committed and visible (a killed process loses nothing), but on disk only once {@link sync}
   * resolves — for a caller that keeps the disk wait off its thread and tells nobody before.
   */
  commitBlock(commit: BlockCommit, durability?: 'synced' | 'deferred'): void;
  /** Resolves once every block committed before the call is on disk. */
  sync(): Promise<void>;

  latestBlock(): StoredBlock | undefined;
  block(height: number): StoredBlock | undefined;
  blockTxs(block: StoredBlock): StoredTx[];
  txByHash(hash: Uint8Array): StoredTx | undefined;
  /** Transactions concerning `subject`, newest first, with log index below `before`. */
  txsBySubject(subject: string, options?: { readonly before?: number; readonly limit?: number }): StoredTx[];
  /** Whether the subject index lags the log (a data directory from before the index existed). */
  subjectIndexBehind(): boolean;
  /** Adds index rows for transactions committed earlier (once, when `subjectIndexBehind`). */
  indexSubjects(rows: readonly SubjectRow[]): void;
  /** State keys starting with `prefix`, in order, after `after` (paging); for queries, never for consensus. */
  stateKeys(prefix: string, options?: { readonly after?: string; readonly limit?: number }): string[];
  /** Every transaction in log order, for rebuilding derived indexes. */
  allTxs(): Iterable<StoredTx>;

  /** Full scans for audits (`medledger verify`). */
  allState(): Iterable<StateChange & { readonly value: Uint8Array }>;
  allLogNodes(): Iterable<LogNode>;
  counts(): { readonly blocks: number; readonly txs: number; readonly logNodes: number; readonly state: number };
  close(): void;
}

/** Named Ed25519 keys of this node, encrypted at rest. */
export interface KeyStore {
  names(): string[];
  secretKey(name: string): Uint8Array | undefined;
  put(name: string, secretKey: Uint8Array): void;
  delete(name: string): void;
}
