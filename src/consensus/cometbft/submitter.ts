/**
 * Submitting to a CometBFT network: a transaction goes to the local CometBFT node's mempool
 * (RPC broadcast_tx_sync, which runs CheckTx) and the submitter hears back once the transaction
 * is committed in a block by this node (with its receipt) or fails in one (with the reason) — the
 * same contract as the solo sequencer, so the HTTP API is unchanged.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
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

/**
 * Most transactions, and bytes, per broadcast request: within the RPC limits that
 * `medledger network create` configures (max_request_batch_size 256, max_body_bytes 1 MB).
 */
const MAX_BROADCAST_BATCH = 256;
const MAX_BROADCAST_BYTES = 512 * 1024;

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
  #outbox: { wire: Uint8Array; resolve: (error: LedgerError | undefined) => void }[] = [];
  #outboxBytes = 0;
  readonly #agent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
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
    this.#agent.destroy();
  }

  /**
   * broadcast_tx_sync: undefined when CheckTx accepted it (or it is already in the mempool).
   * Transactions submitted in the same event-loop turn go out as one JSON-RPC batch request
   * (CometBFT runs CheckTx on each, in order): one HTTP round trip instead of one per transaction.
   */
  #broadcast(wire: Uint8Array): Promise<LedgerError | undefined> {
    return new Promise((resolve) => {
      this.#outbox.push({ wire, resolve });
      this.#outboxBytes += wire.length;
      if (this.#outbox.length >= MAX_BROADCAST_BATCH || this.#outboxBytes >= MAX_BROADCAST_BYTES) this.#flushOutbox();
      else if (this.#outbox.length === 1) setImmediate(() => this.#flushOutbox());
    });
  }

  #flushOutbox(): void {
    const batch = this.#outbox;
    if (batch.length === 0) return;
    this.#outbox = [];
    this.#outboxBytes = 0;
    void this.#sendBatch(batch.map((b) => b.wire)).then((results) => batch.forEach((b, i) => b.resolve(results[i])));
  }

  async #sendBatch(wires: readonly Uint8Array[]): Promise<(LedgerError | undefined)[]> {
    type Answer = { id: number; result?: { code: number; log: string }; error?: { message: string; data?: string } };
    try {
      const body = (await this.#post(
        JSON.stringify(
          wires.map((wire, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'broadcast_tx_sync', params: { tx: toBase64(wire) } })),
        ),
      )) as Answer[] | Answer;
      // A node whose config.toml predates batching (max_request_batch_size 10) refuses the
      // batch as a whole: send one at a time then.
      if (!Array.isArray(body) && wires.length > 1)
        return (await Promise.all(wires.map((wire) => this.#sendBatch([wire])))).flat();
      const answers = new Map((Array.isArray(body) ? body : [body]).map((a) => [a.id, a]));
      return wires.map((_, i) => {
        const answer = answers.get(i + 1);
        if (!answer) return { code: 'node.overloaded', message: 'CometBFT did not answer for the transaction' };
        if (answer.error) {
          const detail = `${answer.error.message} ${answer.error.data ?? ''}`;
          if (/already exists in cache/i.test(detail)) return undefined;
          return { code: 'node.overloaded', message: `CometBFT refused the transaction: ${detail.trim()}` };
        }
        const result = answer.result;
        if (!result || result.code === 0) return undefined;
        return errorOfCode(result.code, result.log);
      });
    } catch (error) {
      const message = `CometBFT is unreachable: ${error instanceof Error ? error.message : String(error)}`;
      return wires.map(() => ({ code: 'node.overloaded' as const, message }));
    }
  }

  /** POSTs JSON to the RPC over a kept-alive connection (node:http costs far less CPU per call than fetch). */
  #post(json: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        this.#rpc,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
          timeout: 10_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.on('error', reject);
      request.end(json);
    });
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
