/**
 * Submitting to a CometBFT network: a transaction goes to the local CometBFT node's mempool
 * (RPC broadcast_tx_sync, which runs CheckTx) and the submitter hears back once the transaction
 * is committed in a block by this node (with its receipt) or fails in one (with the reason) — the
 * same contract as the solo sequencer, so the HTTP API is unchanged.
 */
import { toBase64, toHex } from '../../crypto/bytes.js';
import type { LedgerError } from '../../ledger/errors.js';
import type { CommittedBlock } from '../../node/chain.js';
import type { OwnTx, SubmitOutcome } from '../solo/sequencer.js';
import type { SignedTx } from '../../ledger/tx.js';
import type { AbciApp, TxOutcome } from './app.js';
import { errorOfCode } from './app.js';

export interface CometSubmitterOptions {
  /** The local CometBFT RPC, e.g. http://127.0.0.1:26657. */
  readonly rpc: string;
  /** How long to wait for a transaction to be committed after CometBFT accepted it. */
  readonly commitTimeoutMs?: number;
}

interface Waiting {
  readonly waiters: ((outcome: SubmitOutcome) => void)[];
  timer: NodeJS.Timeout | undefined;
}

export class CometSubmitter {
  readonly #app: AbciApp;
  readonly #rpc: string;
  readonly #timeoutMs: number;
  readonly #waiting = new Map<string, Waiting>();
  #own: Promise<unknown> = Promise.resolve();
  #ownQueued = 0;
  #closed = false;

  constructor(app: AbciApp, options: CometSubmitterOptions) {
    this.#app = app;
    this.#rpc = options.rpc.replace(/\/+$/, '');
    this.#timeoutMs = options.commitTimeoutMs ?? 60_000;
    app.on('committed', (block, failed) => this.#onCommitted(block, failed));
  }

  get backlog(): number {
    return this.#waiting.size + this.#ownQueued;
  }

  /** Sends a decoded, signature-checked transaction to the network and waits for its block. */
  async submit(tx: SignedTx): Promise<SubmitOutcome> {
    if (this.#closed) return reject('node.shutting_down', 'the node is shutting down');
    const admitted = this.#app.chain.app.checkTx(tx);
    if (!admitted.ok) return { ok: false, error: admitted.error };
    // A transaction that cannot apply on the committed state (a double vote, a taken id) would
    // never be proposed (PrepareProposal drops it) and its caller would wait for the timeout:
    // refuse it now. Only a sequence gap may be filled by a predecessor still in flight.
    const head = this.#app.chain.head();
    const dryRun = this.#app.chain.app.beginBlock({ height: head.height + 1, time: head.time }).deliver(tx);
    if (!dryRun.ok && dryRun.error.code !== 'tx.sequence_gap') return { ok: false, error: dryRun.error };
    const key = toHex(tx.hash);
    this.#app.remember(tx); // CheckTx need not check the signature again
    const done = new Promise<SubmitOutcome>((resolve) => {
      let waiting = this.#waiting.get(key);
      if (!waiting) {
        waiting = { waiters: [], timer: undefined };
        this.#waiting.set(key, waiting);
        waiting.timer = setTimeout(
          () => this.#settle(key, reject('node.overloaded', 'the network did not commit the transaction in time')),
          this.#timeoutMs,
        );
      }
      waiting.waiters.push(resolve);
    });
    const sent = await this.#broadcast(tx.wire);
    if (sent) this.#settle(key, { ok: false, error: sent });
    return done;
  }

  /**
   * An own transaction of this node's organization. Signed with the signer's next sequence
   * number on the committed ledger, one at a time (each waits for the previous one's block), so
   * a rejected one never leaves a gap. Slower than the solo sequencer's in-block signing.
   */
  submitOwn(own: OwnTx): Promise<SubmitOutcome> {
    if (this.#closed) return Promise.resolve(reject('node.shutting_down', 'the node is shutting down'));
    this.#ownQueued += 1;
    const run = this.#own.then(async () => {
      this.#ownQueued -= 1;
      const seq = this.#app.chain.app.nextSeq(own.signer);
      return this.submit(own.sign(own.payload, seq));
    });
    this.#own = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#own;
    for (const key of [...this.#waiting.keys()]) this.#settle(key, reject('node.shutting_down', 'the node is shutting down'));
  }

  /** broadcast_tx_sync: undefined when CheckTx accepted it (or it is already in the mempool). */
  async #broadcast(wire: Uint8Array): Promise<LedgerError | undefined> {
    try {
      const response = await fetch(`${this.#rpc}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'broadcast_tx_sync', params: { tx: toBase64(wire) } }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as {
        result?: { code: number; log: string; data?: string };
        error?: { message: string; data?: string };
      };
      if (body.error) {
        const detail = `${body.error.message} ${body.error.data ?? ''}`;
        if (/already exists in cache/i.test(detail)) return undefined;
        return { code: 'node.overloaded', message: `CometBFT refused the transaction: ${detail.trim()}` };
      }
      const result = body.result;
      if (!result || result.code === 0) return undefined;
      return errorOfCode(result.code, result.log);
    } catch (error) {
      return {
        code: 'node.overloaded',
        message: `CometBFT is unreachable: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }

  #onCommitted(block: CommittedBlock, failed: readonly TxOutcome[]): void {
    block.txs.forEach((tx, position) => {
      const key = toHex(tx.hash);
      if (!this.#waiting.has(key)) return;
      this.#settle(key, {
        ok: true,
        receipt: {
          hash: tx.hash,
          height: block.header.height,
          index: block.stored.firstIndex + position,
          blockHash: block.stored.hash,
          checkpoint: block.checkpoint,
          proof: block.proofFor(position),
        },
      });
    });
    for (const { hash, result } of failed) {
      const key = toHex(hash);
      if (!result.ok && this.#waiting.has(key)) this.#settle(key, { ok: false, error: result.error });
    }
  }

  #settle(key: string, outcome: SubmitOutcome): void {
    const waiting = this.#waiting.get(key);
    if (!waiting) return;
    this.#waiting.delete(key);
    clearTimeout(waiting.timer);
    for (const resolve of waiting.waiters) resolve(outcome);
  }
}

function reject(code: LedgerError['code'], message: string): SubmitOutcome {
  return { ok: false, error: { code, message } };
}
