/**
 * Admission of untrusted transaction bytes: decode and shape checks on the calling thread,
 * signature checks batched onto worker threads so the sequencer's thread stays free for ordering
 * and committing. Submissions arriving in the same event-loop turn share one batch.
 */
import { VerifyPool } from '../crypto/verify-pool.js';
import type { Result } from '../ledger/errors.js';
import { decodeTx, signingBytes, type SignedTx } from '../ledger/tx.js';
import { fail, ok } from '../ledger/errors.js';

const MAX_BATCH = 512;

interface Waiting {
  readonly tx: SignedTx;
  readonly resolve: (result: Result<SignedTx>) => void;
}

export class Admission {
  readonly #chain: string;
  readonly #pool: VerifyPool;
  #batch: Waiting[] = [];
  #flushScheduled = false;

  constructor(chain: string, pool: VerifyPool) {
    this.#chain = chain;
    this.#pool = pool;
  }

  admit(wire: Uint8Array): Promise<Result<SignedTx>> {
    const decoded = decodeTx(wire, this.#chain, { skipSignature: true });
    if (!decoded.ok) return Promise.resolve(decoded);
    return new Promise((resolve) => {
      this.#batch.push({ tx: decoded.value, resolve });
      if (this.#batch.length >= MAX_BATCH) this.#flush();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    const items = batch.map(({ tx }) => ({ message: signingBytes(tx.body), signature: tx.signature, publicKey: tx.tx.key }));
    this.#pool.verify(items).then(
      (valid) =>
        batch.forEach((waiting, i) =>
          waiting.resolve(
            valid[i] ? ok(waiting.tx) : fail('tx.bad_signature', 'signature does not verify under the transaction key'),
          ),
        ),
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        for (const waiting of batch) waiting.resolve(fail('node.overloaded', `signature check failed to run: ${message}`));
      },
    );
  }
}
