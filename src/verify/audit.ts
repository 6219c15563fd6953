/**
 * Full audits built on replay. A data directory audit also compares what the node stores beside the
 * blocks — every state entry and every Merkle log node — with what the replay computed, so one
 * flipped byte anywhere in the ledger database is found. An API audit also checks that the node's
 * published checkpoint and proofs agree with the replayed log.
 *
 * When the data directory has a record vault and the caller gives the keystore, the audit also
 * checks the vault against the replayed ledger (src/vault/check.ts): a read-only snapshot of the
 * vault is taken before the ledger is replayed, so versions a running node writes meanwhile are
 * never taken for missing ones. Only record ids and versions are reported, never content.
 */
import { equalBytes, fromBase64, fromHex, toHex } from '../crypto/bytes.js';
import { nodeHash, rootOfLeafHashes, verifyConsistency, verifyInclusion } from '../ledger/merkle.js';
import { verifyCheckpoint } from '../ledger/block.js';
import type { KeyStore } from '../storage/ports.js';
import { SqliteLedgerStore } from '../storage/sqlite/ledger-store.js';
import { mismatchWhere, VaultSnapshot } from '../vault/check.js';
import { replay, type Problem, type ReplayOptions, type ReplayResult } from './replay.js';
import { ApiSource, StoreSource } from './sources.js';

export interface AuditReport {
  readonly ok: boolean;
  readonly chain: string | undefined;
  readonly height: number;
  readonly txs: number;
  readonly logRoot: string;
  readonly problem?: Problem;
  /** Present when the record vault was checked (the ledger verified): committed versions that matched. */
  readonly vault?: { readonly ok: boolean; readonly checked: number };
  readonly seconds: number;
}

function report(result: ReplayResult, started: number, problem: Problem | undefined, vault?: AuditReport['vault']): AuditReport {
  return {
    ok: problem === undefined,
    chain: result.genesis?.chain,
    height: result.height,
    txs: result.txs,
    logRoot: toHex(result.logRoot),
    ...(problem && { problem }),
    ...(vault && { vault }),
    seconds: (performance.now() - started) / 1000,
  };
}

export interface DataDirAuditOptions extends ReplayOptions {
  /** Also check the data directory's record vault, opened read-only with this keystore's key. */
  readonly vault?: { readonly dataDir: string; readonly keystore: KeyStore };
}

export async function auditDataDir(ledgerPath: string, options: DataDirAuditOptions = {}): Promise<AuditReport> {
  const started = performance.now();
  const store = new SqliteLedgerStore(ledgerPath, { readonly: true });
  let snapshot: VaultSnapshot | undefined;
  try {
    store.pinSnapshot();
    const structural = store.integrityErrors();
    if (structural.length > 0) {
      const empty = { genesis: undefined, height: 0, txs: 0, logRoot: new Uint8Array(32) } as unknown as ReplayResult;
      return report(empty, started, { where: 'database file', message: `SQLite integrity check failed: ${structural[0]}` });
    }
    // Ledger height first, then the vault snapshot, then the replay: every ledger version up to that
    // height was committed before the snapshot, so the vault must hold it.
    if (options.vault) {
      snapshot = VaultSnapshot.open(options.vault.dataDir, options.vault.keystore, store.latestBlock()?.height ?? 0);
    }
    const result = await replay(new StoreSource(store), options);
    const problem = result.problem ?? checkStoredExtras(store, result);
    if (problem || !snapshot) return report(result, started, problem);
    const vault = snapshot.check(result.state);
    const vaultProblem = vault.ok
      ? undefined
      : { where: `vault ${mismatchWhere(vault.mismatch)}`, message: vault.mismatch.reason };
    return report(result, started, vaultProblem, { ok: vault.ok, checked: vault.checked });
  } finally {
    snapshot?.close();
    store.close();
  }
}

/** Compares rows the replay did not read: trailing transactions, state entries, log nodes. */
function checkStoredExtras(store: SqliteLedgerStore, result: ReplayResult): Problem | undefined {
  const counts = store.counts();
  if (counts.blocks !== result.height)
    return { where: 'blocks', message: `${counts.blocks} blocks stored, ${result.height} form the chain` };
  if (counts.txs !== result.txs)
    return { where: 'transactions', message: `${counts.txs} transactions stored, ${result.txs} in blocks` };

  let seen = 0;
  for (const entry of store.allState()) {
    seen += 1;
    const expected = result.state.get(entry.key);
    if (!expected) return { where: `state entry ${entry.key}`, message: 'stored but not produced by any transaction' };
    if (!equalBytes(expected, entry.value))
      return { where: `state entry ${entry.key}`, message: 'stored value differs from the replayed value' };
  }
  if (seen !== result.state.size)
    return { where: 'state', message: `${result.state.size - seen} replayed entries are missing from the store` };

  // Log nodes: level 0 must be the leaf hashes; each higher node the hash of its two children.
  const size = result.txs;
  const byLevel = new Map<number, Map<number, Uint8Array>>();
  for (const node of store.allLogNodes()) {
    let level = byLevel.get(node.level);
    if (!level) byLevel.set(node.level, (level = new Map()));
    level.set(node.index, node.hash);
  }
  let below: (i: number) => Uint8Array = (i) => result.leaves.subarray(i * 32, i * 32 + 32);
  for (let level = 0; 2 ** level <= size || byLevel.has(level); level++) {
    const nodes = byLevel.get(level) ?? new Map<number, Uint8Array>();
    const expectedCount = Math.floor(size / 2 ** level);
    if (nodes.size !== expectedCount)
      return { where: `log level ${level}`, message: `${nodes.size} nodes stored, ${expectedCount} expected` };
    for (let i = 0; i < expectedCount; i++) {
      const stored = nodes.get(i);
      const expected = level === 0 ? below(i) : nodeHash(below(2 * i), below(2 * i + 1));
      if (!stored || !equalBytes(stored, expected))
        return { where: `log node ${level}/${i}`, message: 'stored hash does not match the replayed log' };
    }
    below = (i) => nodes.get(i)!;
  }
  return undefined;
}

/** `token`: a staff bearer token of the node (its transaction bytes are not public). */
export async function auditNode(baseUrl: string, options: ReplayOptions & { token?: string } = {}): Promise<AuditReport> {
  const started = performance.now();
  const source = new ApiSource(baseUrl, options.token);
  const result = await replay(source, options);
  if (result.problem || !result.lastHeader) return report(result, started, result.problem);
  return report(result, started, await checkPublishedProofs(source, result));
}

interface CheckpointJson {
  size: number;
  root: string;
  time: number;
  chain: string;
  signer: string;
  signature: string;
}

/** The node's checkpoints and proofs must agree with the log we replayed ourselves. */
async function checkPublishedProofs(source: ApiSource, result: ReplayResult): Promise<Problem | undefined> {
  const header = result.lastHeader!;
  const cp = await source.get<CheckpointJson>(`/api/v1/checkpoints/${header.height}`);
  const signed = {
    checkpoint: { chain: cp.chain, size: cp.size, root: fromHex(cp.root) ?? new Uint8Array(), time: cp.time },
    signer: fromHex(cp.signer) ?? new Uint8Array(),
    signature: fromBase64(cp.signature) ?? new Uint8Array(),
  };
  if (!verifyCheckpoint(signed) || cp.size !== result.txs || !equalBytes(signed.checkpoint.root, result.logRoot)) {
    return { where: `checkpoint ${header.height}`, message: 'published checkpoint does not match the replayed log' };
  }
  const size = result.txs;
  if (size === 0) return undefined;
  // Spot-check proofs at a spread of positions.
  for (const index of new Set([0, Math.floor(size / 3), Math.floor(size / 2), size - 1])) {
    const proof = await source.get<{ path: string[] }>(`/api/v1/proofs/inclusion?index=${index}&size=${size}`);
    const leaf = result.leaves.subarray(index * 32, index * 32 + 32);
    if (
      !verifyInclusion(
        leaf,
        index,
        size,
        proof.path.map((h) => fromHex(h) ?? new Uint8Array()),
        result.logRoot,
      )
    ) {
      return { where: `log index ${index}`, message: 'published inclusion proof does not verify' };
    }
  }
  const half = Math.ceil(size / 2);
  const halfLeaves = Array.from({ length: half }, (_, i) => result.leaves.subarray(i * 32, i * 32 + 32));
  const proof = await source.get<{ path: string[] }>(`/api/v1/proofs/consistency?from=${half}&to=${size}`);
  const path = proof.path.map((h) => fromHex(h) ?? new Uint8Array());
  if (!verifyConsistency(half, size, path, rootOfLeafHashes(halfLeaves), result.logRoot)) {
    return { where: `log sizes ${half}→${size}`, message: 'published consistency proof does not verify' };
  }
  return undefined;
}
