/**
 * The node's ledger API as the web app uses it: the SDK's LedgerClient for verified things
 * (checkpoints, proofs, submissions) and plain JSON for listings (blocks, subjects' transactions).
 */
import { bytesOfHex, LedgerClient, type Trust } from '../sdk';
import { requestJson } from './http';

export const ledger = new LedgerClient(location.origin);

export interface TxView {
  hash: string;
  height: number;
  index: number;
  tx: { type: string; signer: string; seq: number; body: Record<string, unknown> };
}

export interface BlockView {
  header: { height: number; time: number; txCount: number; logSize: number; proposer: string; [k: string]: unknown };
  hash: string;
  /** The transactions' wire bytes, base64 (the `blocks?from=` listing returns them in full). */
  txs: string[];
}

export interface StatusView {
  chain: string;
  height: number;
  time: number;
  logSize: number;
  logRoot: string;
  stateRoot: string;
  blockHash: string;
  consensus: string;
  validators: { name: string; key: string }[];
  /** The organization that runs this node. */
  organization?: string;
}

export const status = () => requestJson<StatusView>('/api/v1/status');

export const subjectTxs = (subject: string, limit = 50) =>
  requestJson<{ txs: TxView[] }>(`/api/v1/subjects/${encodeURIComponent(subject)}/txs?limit=${limit}`).then((r) => r.txs);

export const blocks = (from: number, limit: number) =>
  requestJson<{ blocks: BlockView[]; height: number }>(`/api/v1/blocks?from=${from}&limit=${limit}`);

/**
 * Validator keys pinned from the genesis document (which the ledger itself commits to), not from
 * the checkpoint being checked — the trust anchor for every proof the browser verifies.
 */
export async function trustFromGenesis(): Promise<Trust> {
  const g = await requestJson<{ genesis: { chain: string; validators: { key: string }[] } }>('/api/v1/genesis');
  return { chain: g.genesis.chain, validators: g.genesis.validators.map((v) => bytesOfHex(v.key)!) };
}

/** Unwraps an SDK result, throwing its message. */
export function must<T>(result: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}
