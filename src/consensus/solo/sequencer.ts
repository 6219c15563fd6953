/**
 * The solo sequencer: one node orders transactions into blocks with group commit. While block N is
 * being made durable (its fsync runs off the event loop, see Chain.persistDeferred), new
 * submissions queue; as soon as N is on disk, everything queued (up to the block limit) becomes
 * block N+1. Nothing is produced while idle, and a submitter hears back only when its transaction
 * is durably committed (with its proof) or rejected (with the reason).
 */
import { toHex } from '../../crypto/bytes.js';
import type { Signer } from '../../crypto/ed25519.js';
import type { SignedCheckpoint } from '../../ledger/block.js';
import type { LedgerError } from '../../ledger/errors.js';
import type { SignedTx, TxPayload } from '../../ledger/tx.js';
import type { Chain, CommittedBlock } from '../../node/chain.js';

export interface Receipt {
  readonly hash: Uint8Array;
  readonly height: number;
  readonly index: number;
  readonly blockHash: Uint8Array;
  readonly checkpoint: SignedCheckpoint;
  readonly proof: Uint8Array[];
}

export type SubmitOutcome =
  { readonly ok: true; readonly receipt: Receipt } | { readonly ok: false; readonly error: LedgerError };

export interface SequencerOptions {
  /** Most transactions in one block. */
  readonly maxBlockTxs?: number;
  /** How long a transaction whose predecessor (seq - 1) has not arrived may wait. */
  readonly gapTimeoutMs?: number;
  /** Most queued transactions; beyond this, submissions are refused (back-pressure). */
  readonly maxQueue?: number;
  readonly clock?: () => number;
}

/**
 * A transaction of one of this node's own identities (e.g. its organization's record commitments),
 * signed only as it enters a block, with the sequence number the signer has there. So a rejected
 * one leaves no gap that would stall the ones behind it, and the node never tracks sequences.
 */
export interface OwnTx {
  readonly signer: string;
  readonly payload: TxPayload;
  readonly sign: (payload: TxPayload, seq: number) => SignedTx;
}

interface Pending {
  /** Identity in the queue: the transaction hash, or a local serial for an own transaction. */
  readonly key: string;
  tx: SignedTx;
  readonly own?: OwnTx;
  readonly resolve: (outcome: SubmitOutcome) => void;
  readonly waiters: ((outcome: SubmitOutcome) => void)[];
  readonly deadline: number;
}

export class SoloSequencer {
  readonly #chain: Chain;
  readonly #signer: Signer;
  readonly #maxBlockTxs: number;
  readonly #gapTimeoutMs: number;
  readonly #maxQueue: number;
  readonly #clock: () => number;
  #queue: Pending[] = [];
  /** Transactions that arrived ahead of their signer's sequence, by signer then seq. */
  readonly #parked = new Map<string, Map<number, Pending>>();
  #parkedCount = 0;
  readonly #byHash = new Map<string, Pending>();
  #scheduled = false;
  /** The last block's disk wait; the next block is produced after it. */
  #durable: Promise<void> | undefined;
  #ownSerial = 0;
  #parkTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(chain: Chain, signer: Signer, options: SequencerOptions = {}) {
    this.#chain = chain;
    this.#signer = signer;
    this.#maxBlockTxs = options.maxBlockTxs ?? 2000;
    this.#gapTimeoutMs = options.gapTimeoutMs ?? 5000;
    this.#maxQueue = options.maxQueue ?? 100_000;
    this.#clock = options.clock ?? Date.now;
  }

  /** Queues a decoded, signature-checked transaction; resolves once it is committed or rejected. */
  submit(tx: SignedTx): Promise<SubmitOutcome> {
    if (this.#closed) return Promise.resolve(reject('node.shutting_down', 'the node is shutting down'));
    const key = toHex(tx.hash);
    const existing = this.#byHash.get(key);
    if (existing) return new Promise((resolve) => existing.waiters.push(resolve));
    if (this.#byHash.size >= this.#maxQueue)
      return Promise.resolve(reject('node.overloaded', 'the node is overloaded; retry later'));
    const admitted = this.#chain.app.checkTx(tx);
    if (!admitted.ok) return Promise.resolve({ ok: false, error: admitted.error });
    return new Promise((resolve) => {
      const pending: Pending = { key, tx, resolve, waiters: [], deadline: this.#clock() + this.#gapTimeoutMs };
      this.#byHash.set(key, pending);
      this.#queue.push(pending);
      this.#schedule();
    });
  }

  /** Queues an own transaction (see OwnTx); resolves once it is committed or rejected. */
  submitOwn(own: OwnTx): Promise<SubmitOutcome> {
    if (this.#closed) return Promise.resolve(reject('node.shutting_down', 'the node is shutting down'));
    if (this.#byHash.size >= this.#maxQueue)
      return Promise.resolve(reject('node.overloaded', 'the node is overloaded; retry later'));
    return new Promise((resolve) => {
      const key = `own:${this.#ownSerial++}`;
      const pending: Pending = { key, tx: PLACEHOLDER, own, resolve, waiters: [], deadline: Infinity };
      this.#byHash.set(key, pending);
      this.#queue.push(pending);
      this.#schedule();
    });
  }

  /** Number of transactions waiting for a block. */
  get backlog(): number {
    return this.#byHash.size;
  }

  /** Stops accepting work and resolves once everything queued has been decided. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#byHash.size === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled || this.#durable) return;
    this.#scheduled = true;
    // setImmediate runs after pending I/O, so requests that arrived during the last commit join this block.
    setImmediate(() => {
      this.#scheduled = false;
      this.#produceBlock();
      this.#next();
    });
  }

  /** After a block (or a turn without one): the next block, a wake-up for parked ones, or idle. */
  #next(): void {
    if (this.#durable) return;
    if (this.#queue.length > 0) this.#schedule();
    else if (this.#parkedCount > 0) this.#wakeForParked();
    else if (this.#byHash.size === 0) {
      clearTimeout(this.#parkTimer);
      this.#parkTimer = undefined;
      for (const done of this.#idle.splice(0)) done();
    }
  }

  /** With only out-of-order transactions left, wake when the first of them times out. */
  #wakeForParked(): void {
    if (this.#parkTimer) return;
    let first = Infinity;
    for (const bySeq of this.#parked.values()) for (const p of bySeq.values()) first = Math.min(first, p.deadline);
    this.#parkTimer = setTimeout(
      () => {
        this.#parkTimer = undefined;
        this.#schedule();
      },
      Math.max(0, first - this.#clock()) + 1,
    );
  }

  #produceBlock(): void {
    const candidates = this.#queue.splice(0, this.#maxBlockTxs);
    const now = this.#clock();
    const head = this.#chain.head();
    const execution = this.#chain.app.beginBlock({ height: head.height + 1, time: Math.max(now, head.time) });
    const included: Pending[] = [];
    const rejected: [Pending, LedgerError][] = [];
    const deliver = (pending: Pending): void => {
      if (pending.own) pending.tx = pending.own.sign(pending.own.payload, execution.nextSeq(pending.own.signer));
      const result = execution.deliver(pending.tx);
      if (result.ok) {
        included.push(pending);
        // A successor that arrived early is released now: into this block if it has room.
        const next = this.#unpark(pending.tx.tx.signer, pending.tx.tx.seq + 1);
        if (next && included.length < this.#maxBlockTxs) deliver(next);
        else if (next) this.#queue.unshift(next);
      } else if (result.error.code === 'tx.sequence_gap' && !pending.own && pending.deadline > now) {
        this.#park(pending);
      } else {
        rejected.push([pending, result.error]);
      }
    };
    let taken = 0;
    while (taken < candidates.length && included.length < this.#maxBlockTxs) deliver(candidates[taken++]!);
    // Released successors may have filled the block; the rest waits for the next one.
    this.#queue.unshift(...candidates.slice(taken));
    this.#expireParked(now, rejected);

    if (included.length === 0) {
      for (const [pending, error] of rejected) this.#settle(pending, { ok: false, error });
      return;
    }
    const outcome = execution.finish();
    let block: CommittedBlock;
    let durable: Promise<void>;
    try {
      ({ block, durable } = this.#chain.persistDeferred(
        this.#chain.seal(
          now,
          included.map((p) => p.tx),
          outcome,
          this.#signer,
        ),
      ));
    } catch (error) {
      // Storage failed: nothing of this block is durable, so nobody may be told otherwise.
      for (const pending of included)
        this.#settle(pending, reject('node.overloaded', `block commit failed: ${messageOf(error)}`));
      throw error;
    }
    // Everyone hears back once the block is on disk (rejections too: they may rest on its state).
    this.#durable = durable.then(
      () => {
        included.forEach((pending, position) => {
          this.#settle(pending, {
            ok: true,
            receipt: {
              hash: pending.tx.hash,
              height: block.header.height,
              index: block.stored.firstIndex + position,
              blockHash: block.stored.hash,
              checkpoint: block.checkpoint,
              proof: block.proofFor(position),
            },
          });
        });
        for (const [pending, error] of rejected) this.#settle(pending, { ok: false, error });
        this.#durable = undefined;
        this.#next();
      },
      (error: unknown) => {
        // The block is committed but may not be on disk: this node cannot vouch for its ledger
        // any more. Nobody is told it committed, and the process stops rather than build on it.
        for (const pending of included)
          this.#settle(pending, reject('node.overloaded', `block sync failed: ${messageOf(error)}`));
        throw error;
      },
    );
  }

  #settle(pending: Pending, outcome: SubmitOutcome): void {
    this.#byHash.delete(pending.key);
    pending.resolve(outcome);
    for (const waiter of pending.waiters) waiter(outcome);
  }

  #park(pending: Pending): void {
    const { signer, seq } = pending.tx.tx;
    let bySeq = this.#parked.get(signer);
    if (!bySeq) this.#parked.set(signer, (bySeq = new Map()));
    const clash = bySeq.get(seq);
    if (clash) {
      // Two different transactions with the same signer and sequence: the later one loses.
      this.#settle(pending, reject('tx.replayed', `sequence ${seq} is already waiting for ${signer}`));
      return;
    }
    bySeq.set(seq, pending);
    this.#parkedCount += 1;
  }

  #unpark(signer: string, seq: number): Pending | undefined {
    const bySeq = this.#parked.get(signer);
    const found = bySeq?.get(seq);
    if (!found || !bySeq) return undefined;
    bySeq.delete(seq);
    if (bySeq.size === 0) this.#parked.delete(signer);
    this.#parkedCount -= 1;
    return found;
  }

  #expireParked(now: number, rejected: [Pending, LedgerError][]): void {
    if (this.#parkedCount === 0) return;
    for (const [signer, bySeq] of this.#parked) {
      for (const [seq, pending] of bySeq) {
        if (pending.deadline <= now) {
          bySeq.delete(seq);
          this.#parkedCount -= 1;
          rejected.push([
            pending,
            { code: 'tx.sequence_gap', message: `sequence ${seq} of ${signer} waited too long for its predecessor` },
          ]);
        }
      }
      if (bySeq.size === 0) this.#parked.delete(signer);
    }
  }
}

/** Stands in for an own transaction until it is signed in a block; never delivered or stored. */
const PLACEHOLDER = {} as SignedTx;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

function reject(code: LedgerError['code'], message: string): SubmitOutcome {
  return { ok: false, error: { code, message } };
}
