/**
 * Checking a vault against the ledger: every committed version's SHA-256(envelope) must be the
 * ledger's commitment for that record version (a delete must be a delete), each resource must hold
 * every committed version 1…current, and its current version must be the ledger's head (or the
 * ledger may be ahead by versions the vault holds as pending — a write in flight or cut short by a
 * crash). `Vault.verifyAll` runs this against its node's live state.
 *
 * `VaultSnapshot` runs the same check without a node: it opens `vault.sqlite` read-only with the
 * keystore's database key (beside a running node, without its data-directory lock), holds one read
 * transaction so it sees a consistent vault, and compares it with a ledger state the caller
 * replayed after taking the snapshot. It also finds ledger records of this node's organization that
 * the vault does not hold. Reports name the record and version only, never the content.
 *
 * Content files (attachments, content-store.ts) are checked without any data key: the vault
 * database indexes each file's ciphertext SHA-256, and the file must exist and hash to it. That
 * index is not itself on the ledger — the authoritative hash is sealed inside the version, which
 * the ledger commits — so a file altered together with the index passes this check but fails
 * every read, and `Vault.verifyAll({ decrypt: true })` (which holds the keys) compares the sealed
 * reference with the index too.
 */
import { existsSync } from 'node:fs';
import { equalBytes } from '../crypto/bytes.js';
import { keyPairFromSeed } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/hash.js';
import { ORG_KEY } from '../node/data-dir.js';
import { participantIdForKey } from '../state/participants.js';
import { readRecordHead, readRecordVersion, type RecordHead, type RecordVersion } from '../state/records.js';
import type { StateReader } from '../state/store.js';
import type { KeyStore } from '../storage/ports.js';
import { vaultPaths, VaultStore, type ResourceRow, type VersionRow } from './store.js';
import { ContentStore } from './content-store.js';

/** What the check reads from the ledger (a node's `LedgerApplication`, or a replayed state). */
export interface LedgerRecords {
  recordHead(record: string): RecordHead | undefined;
  recordVersion(record: string, version: number): RecordVersion | undefined;
}

export interface VaultMismatch {
  readonly type: string;
  readonly id: string;
  readonly record: string;
  readonly version: number;
  readonly reason: string;
}

export type VerifyResult =
  | { readonly ok: true; readonly checked: number }
  | { readonly ok: false; readonly checked: number; readonly mismatch: VaultMismatch };

export interface VerifyVersionsOptions {
  /** Opens a (non-deleted) version; returns why it does not, or undefined. */
  readonly open?: (resource: ResourceRow, version: VersionRow) => string | undefined;
  /**
   * Ledger versions committed above this height may be missing from the vault (they are newer
   * than the vault snapshot being checked). Default: none may be missing.
   */
  readonly newerThan?: number;
  /** Checks each content file a version holds against the ciphertext hash the vault indexes. */
  readonly contents?: ContentStore;
}

/** Where a vault mismatch is, as an audit names it: the opaque record id and the version. */
export const mismatchWhere = (m: VaultMismatch): string => `record ${m.record} version ${m.version}`;

/**
 * Checks every committed version of `store` against `ledger`, then every resource's current version
 * against the ledger head; returns the first mismatch and how many versions matched before it.
 */
export function verifyVersions(store: VaultStore, ledger: LedgerRecords, options: VerifyVersionsOptions = {}): VerifyResult {
  const resources = new Map<number, ResourceRow>();
  for (const r of store.resources()) resources.set(r.res, r);
  const pending = new Set(store.pendingVersions().map((v) => `${v.res}/${v.version}`));
  // The highest committed version seen per resource: versions must run 1, 2, 3… with no gap.
  const last = new Map<number, number>();
  let checked = 0;
  const fail = (r: ResourceRow | undefined, version: number, reason: string): VerifyResult => ({
    ok: false,
    checked,
    mismatch: { type: r?.type ?? '?', id: r?.id ?? '?', record: r?.record ?? '?', version, reason },
  });
  // A ledger version the vault may lack: newer than the snapshot, or held as pending.
  const mayLack = (r: ResourceRow, version: number): boolean => {
    if (pending.has(`${r.res}/${version}`)) return true;
    const height = ledger.recordVersion(r.record, version)?.height;
    return options.newerThan !== undefined && height !== undefined && height > options.newerThan;
  };

  for (const v of store.committedVersionsAll()) {
    const r = resources.get(v.res);
    if (!r) return fail(undefined, v.version, 'orphan version');
    const expected = (last.get(v.res) ?? 0) + 1;
    if (v.version !== expected) return fail(r, expected, 'the committed version is missing from the vault');
    if (v.version > r.version) return fail(r, v.version, 'committed beyond the current version');
    last.set(v.res, v.version);
    const onLedger = ledger.recordVersion(r.record, v.version);
    if (!onLedger) return fail(r, v.version, 'the ledger has no such version');
    if (v.deleted !== (onLedger.commitment === undefined)) return fail(r, v.version, 'write/delete differs from the ledger');
    if (onLedger.commitment && !(v.envelope && equalBytes(sha256(v.envelope), onLedger.commitment))) {
      return fail(r, v.version, 'the ciphertext does not match the ledger commitment');
    }
    const content = options.contents && store.contentOf(v.res, v.version);
    if (content && !options.contents!.matchesSync(content))
      return fail(r, v.version, 'the content file is missing or does not match its hash');
    if (options.open && !v.deleted) {
      const reason = options.open(r, v);
      if (reason !== undefined) return fail(r, v.version, reason);
    }
    checked += 1;
  }
  for (const r of resources.values()) {
    if (r.version === 0) continue;
    if ((last.get(r.res) ?? 0) !== r.version) {
      return fail(r, (last.get(r.res) ?? 0) + 1, 'the committed version is missing from the vault');
    }
    const head = ledger.recordHead(r.record);
    if (!head) return fail(r, r.version, 'the ledger has no such record');
    for (let version = r.version + 1; version <= head.version; version++) {
      if (!mayLack(r, version)) return fail(r, version, 'the ledger has this version but the vault does not');
    }
    if (head.version < r.version) return fail(r, r.version, `the ledger head is version ${head.version}`);
    if (head.version === r.version && head.deleted !== r.deleted) {
      return fail(r, r.version, `the ledger head is version ${head.version}${head.deleted ? ' (deleted)' : ''}`);
    }
    if ((head.patient ?? null) !== r.patient) return fail(r, r.version, 'the patient differs from the ledger');
  }
  return { ok: true, checked };
}

/** A read-only, consistent view of a data directory's vault, checked against a replayed ledger. */
export class VaultSnapshot {
  readonly #store: VaultStore;
  readonly #contents: ContentStore;
  readonly #keystore: KeyStore;
  readonly #ledgerHeight: number;

  private constructor(store: VaultStore, contents: ContentStore, keystore: KeyStore, ledgerHeight: number) {
    this.#store = store;
    this.#contents = contents;
    this.#keystore = keystore;
    this.#ledgerHeight = ledgerHeight;
  }

  /** Whether the data directory has a vault. */
  static exists(dataDir: string): boolean {
    return existsSync(vaultPaths(dataDir).db);
  }

  /**
   * Opens the vault read-only and starts a read transaction. `ledgerHeight` is the committed ledger
   * height read *before* this call: every ledger version up to it must be in the vault.
   */
  static open(dataDir: string, keystore: KeyStore, ledgerHeight: number): VaultSnapshot {
    const store = new VaultStore(vaultPaths(dataDir).db, keystore, { readonly: true });
    try {
      store.db.exec('BEGIN');
      store.db.prepare('SELECT count(*) FROM current').get();
      return new VaultSnapshot(store, new ContentStore(dataDir), keystore, ledgerHeight);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /**
   * Checks the vault against `state`, the ledger state replayed after the snapshot was taken, and
   * checks that every ledger record of this node's organization (committed up to the snapshot's
   * ledger height) is in the vault.
   */
  check(state: ReadonlyMap<string, Uint8Array>): VerifyResult {
    const reader: StateReader = state;
    const ledger: LedgerRecords = {
      recordHead: (record) => readRecordHead(reader, record),
      recordVersion: (record, version) => readRecordVersion(reader, record, version),
    };
    const result = verifyVersions(this.#store, ledger, { newerThan: this.#ledgerHeight, contents: this.#contents });
    if (!result.ok) return result;

    const seed = this.#keystore.secretKey(ORG_KEY);
    const org = seed && participantIdForKey(reader, keyPairFromSeed(seed).publicKey);
    if (org === undefined) return result;
    const held = new Set(this.#store.resources().map((r) => r.record));
    for (const key of state.keys()) {
      if (!key.startsWith('record/')) continue;
      const record = key.slice('record/'.length);
      if (held.has(record)) continue;
      const head = readRecordHead(reader, record);
      // An erased record's ciphertext is gone by design (its tombstone is on the ledger).
      if (!head || head.custodian !== org || head.erased) continue;
      const first = readRecordVersion(reader, record, 1);
      if (first && first.height > this.#ledgerHeight) continue;
      return {
        ok: false,
        checked: result.checked,
        mismatch: { type: '?', id: '?', record, version: 1, reason: 'the ledger has this record of ours but the vault does not' },
      };
    }
    return result;
  }

  close(): void {
    if (this.#store.db.inTransaction) this.#store.db.exec('COMMIT');
    this.#store.close();
  }
}
