/**
 * Operator tasks on the KEKs of a vault, without a running node (`medledger vault status` and
 * `medledger vault rotate-kek`). Rotation only re-wraps wrapped data keys, so it needs the
 * keystore and `vault.sqlite` — not the ledger, the sequencer or the FHIR layer.
 *
 * `rotateVaultKek` writes to the vault and the keystore: the caller must hold the data-directory
 * lock (`lockDataDir`), so no node has the vault open meanwhile. `vaultKekStatus` only reads and
 * is safe beside a running node.
 */
import { existsSync } from 'node:fs';
import type { KeyStore } from '../storage/ports.js';
import { kekIds, KekRing, rotateKek, type WrappedKeyRow, type WrappedKeyTable } from './kek.js';
import { vaultPaths, VaultStore } from './store.js';

export class KekAdminError extends Error {}

export interface KekStatus {
  /** The KEK new data keys are wrapped under (the highest id in the keystore); null if there is none yet. */
  readonly current: number | null;
  /** The KEK ids in the keystore, ascending. More than one: a rotation was cut short (the node finishes it as it starts). */
  readonly keystore: readonly number[];
  /** How many data keys are wrapped under each KEK id, ascending by id. */
  readonly dataKeys: readonly { readonly kek: number; readonly count: number }[];
  /** KEK ids that data keys are wrapped under but the keystore lacks: those versions cannot be read. */
  readonly missing: readonly number[];
}

export interface KekRotationReport {
  /** The KEK ids in the keystore before (normally one). */
  readonly from: readonly number[];
  /** The new KEK id. */
  readonly kek: number;
  /** Data keys re-wrapped under the new KEK. */
  readonly rewrapped: number;
  /** KEK ids deleted from the keystore. */
  readonly retired: readonly number[];
  readonly seconds: number;
}

export interface RotationOptions {
  /** Data keys re-wrapped per DB transaction (default 2,000). */
  readonly batchSize?: number;
  /** Called after each batch with the number of data keys re-wrapped so far and the total. */
  readonly onProgress?: (rewrapped: number, total: number) => void;
}

function openStore(dataDir: string, keystore: KeyStore, readonly: boolean): VaultStore {
  const path = vaultPaths(dataDir).db;
  if (!existsSync(path)) {
    throw new KekAdminError(`${dataDir} holds no record vault (${path}); the node creates it, with kek-1, when it first starts`);
  }
  return new VaultStore(path, keystore, { readonly });
}

function statusOf(store: VaultStore, keystore: KeyStore): KekStatus {
  const ids = kekIds(keystore);
  const dataKeys = store.wrappedKeyCounts();
  return {
    current: ids.at(-1) ?? null,
    keystore: ids,
    dataKeys,
    missing: dataKeys.map((d) => d.kek).filter((id) => !ids.includes(id)),
  };
}

/** The KEKs in the keystore and the data keys wrapped under each. Reads only: safe while the node runs. */
export function vaultKekStatus(dataDir: string, keystore: KeyStore): KekStatus {
  const store = openStore(dataDir, keystore, true);
  try {
    return store.transaction(() => statusOf(store, keystore));
  } finally {
    store.close();
  }
}

/**
 * Creates the next KEK, re-wraps every data key under it and deletes the older KEKs from the
 * keystore. Before changing anything it unwraps every data key once: if one cannot be unwrapped
 * (its KEK is missing, or the wrapped key or its label was altered) it refuses and nothing
 * changes — a rotation stopped half-way by such a key would be retried, and fail, every time the
 * node starts. The caller holds the data-directory lock.
 */
export async function rotateVaultKek(
  dataDir: string,
  keystore: KeyStore,
  options: RotationOptions = {},
): Promise<KekRotationReport> {
  const started = performance.now();
  const store = openStore(dataDir, keystore, false);
  try {
    const from = kekIds(keystore);
    const before = statusOf(store, keystore);
    if (before.missing.length > 0) {
      const lost = before.dataKeys.filter((d) => before.missing.includes(d.kek));
      throw new KekAdminError(
        `refused: ${lost.map((d) => `${d.count} data keys are wrapped under kek-${d.kek}`).join(', ')}, ` +
          'which the keystore does not hold (restore it from a keystore backup first); nothing was changed',
      );
    }
    // The ring is opened only now: with no KEK at all (an empty vault) it creates kek-1 first.
    const ring = KekRing.open(keystore);
    checkUnwrapAll(store, ring);
    const total = before.dataKeys.reduce((sum, d) => sum + d.count, 0);
    let done = 0;
    const table: WrappedKeyTable = {
      wrappedNotUnder: (kek, limit) => store.wrappedNotUnder(kek, limit),
      rewrap: (rows) => {
        store.rewrap(rows);
        done += rows.length;
        options.onProgress?.(done, total);
      },
    };
    const result = await rotateKek(ring, table, options.batchSize ?? 2000);
    return {
      from,
      kek: result.kek,
      rewrapped: result.rewrapped,
      retired: result.retired,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    store.close();
  }
}

/** Unwraps every stored data key (and wipes it at once); throws naming the first that fails. */
function checkUnwrapAll(store: VaultStore, ring: KekRing): void {
  let failed = 0;
  let first: { row: WrappedKeyRow; reason: string } | undefined;
  store.transaction(() => {
    for (const row of store.wrappedKeys()) {
      try {
        ring.unwrap(row.kek, row.wrapped, row.label).fill(0);
      } catch (error) {
        failed += 1;
        first ??= { row, reason: (error as Error).message };
      }
    }
  });
  if (first) {
    throw new KekAdminError(
      `refused: ${failed} data key${failed === 1 ? '' : 's'} cannot be unwrapped ` +
        `(first: ${first.row.label.replace(/\/(\d+)$/, ' version $1')} under kek-${first.row.kek}: ${first.reason}); nothing was changed`,
    );
  }
}
