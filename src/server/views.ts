/** JSON views of ledger objects for the HTTP API: hashes and keys in hex, raw bytes in base64. */
import { toBase64, toHex } from '../crypto/bytes.js';
import type { BlockHeader, SignedCheckpoint } from '../ledger/block.js';
import type { Genesis } from '../ledger/genesis.js';
import type { Tx } from '../ledger/tx.js';
import type { Participant } from '../state/participants.js';

/** Replaces byte strings with hex, recursively; everything else is already JSON. */
export function jsonOf(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(jsonOf);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonOf(v)]));
  }
  return value;
}

export const headerView = (h: BlockHeader) => jsonOf(h) as Record<string, unknown>;
export const txView = (tx: Tx) => jsonOf(tx) as Record<string, unknown>;
export const participantView = (p: Participant) => jsonOf(p) as Record<string, unknown>;
export const genesisView = (g: Genesis) => jsonOf(g) as Record<string, unknown>;

export function checkpointView(c: SignedCheckpoint) {
  return {
    chain: c.checkpoint.chain,
    size: c.checkpoint.size,
    root: toHex(c.checkpoint.root),
    time: c.checkpoint.time,
    signer: toHex(c.signer),
    signature: toBase64(c.signature),
  };
}

export const hexList = (hashes: readonly Uint8Array[]): string[] => hashes.map(toHex);
