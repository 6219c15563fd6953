/**
 * The node's ledger API as the web app uses it: the SDK's LedgerClient for verified things
 * (checkpoints, proofs, submissions) and plain JSON for listings (blocks, subjects' transactions).
 * Headers, hashes and proofs are public; transaction bodies go with the signed-in user's token
 * (staff see every transaction, a patient those about them).
 */
import { currentSession, type Session } from '../auth/oauth';
import { bytesOfHex, LedgerClient, type Trust } from '../sdk';
import { requestJson } from './http';

const bearer = (session: Session | undefined): Record<string, string> =>
  session ? { authorization: `Bearer ${session.accessToken}` } : {};

/** Whoever is signed in in this tab, staff first (the explorer reads transactions as them). */
export const ledgerSession = (): Session | undefined => currentSession('clinician') ?? currentSession('patient');

export const ledger = new LedgerClient(location.origin, { headers: () => bearer(ledgerSession()) });

export interface TxView {
  hash: string;
  height: number;
  index: number;
  tx: { type: string; signer: string; seq: number; body: Record<string, unknown> };
}

export interface BlockView {
  header: { height: number; time: number; txCount: number; logSize: number; proposer: string; [k: string]: unknown };
  hash: string;
  headerBytes: string;
  signature: string;
  /** With `full`: the transactions' wire bytes, base64; else their hashes, hex (with `leaves`). */
  txs: string[];
  /** Without `full`: the log-leaf hashes, hex, which rebuild the transaction root. */
  leaves?: string[];
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

export const subjectTxs = (session: Session, subject: string, limit = 50) =>
  requestJson<{ txs: TxView[] }>(`/api/v1/subjects/${encodeURIComponent(subject)}/txs?limit=${limit}`, {
    headers: bearer(session),
  }).then((r) => r.txs);

/** Blocks with their transactions for staff (`session` a clinician's), else with hashes only. */
export const blocks = (from: number, limit: number, session?: Session) =>
  requestJson<{ blocks: BlockView[]; height: number }>(
    `/api/v1/blocks?from=${from}&limit=${limit}&txs=${session ? 'full' : 'hashes'}`,
    { headers: bearer(session) },
  );

/** One transaction, decoded, as the signed-in user may see it. */
export const ledgerTx = <T = { height: number; index: number; tx: Record<string, unknown>; redacted?: true }>(
  hash: string,
  session: Session | undefined = ledgerSession(),
) => requestJson<T>(`/api/v1/txs/${hash}`, { headers: bearer(session) });

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
