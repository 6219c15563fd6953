/**
 * Ed25519 verification on worker threads, so replay and admission use every core. Work goes out
 * in batches packed into one transferable buffer: per item [u32 message length][message][64-byte
 * signature][32-byte key]; the answer is one byte per item (1 = valid).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface VerifyItem {
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  readonly publicKey: Uint8Array;
}

interface Job {
  readonly resolve: (valid: Uint8Array) => void;
  readonly reject: (error: Error) => void;
}

export class VerifyPool {
  readonly #workers: Worker[] = [];
  readonly #jobs = new Map<number, Job>();
  #nextId = 0;
  #nextWorker = 0;

  constructor(size = Math.max(1, availableParallelism())) {
    const url = new URL('./verify-worker.js', import.meta.url);
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url);
      worker.on('message', ({ id, valid }: { id: number; valid: Uint8Array }) => {
        const job = this.#jobs.get(id);
        this.#jobs.delete(id);
        job?.resolve(valid);
      });
      worker.on('error', (error) => {
        for (const job of this.#jobs.values()) job.reject(error);
        this.#jobs.clear();
      });
      worker.unref();
      this.#workers.push(worker);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Resolves to one boolean per item, in order. */
  async verify(items: readonly VerifyItem[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    let length = 0;
    for (const item of items) length += 4 + item.message.length + 64 + 32;
    const packed = new Uint8Array(length);
    const view = new DataView(packed.buffer);
    let offset = 0;
    for (const item of items) {
      if (item.signature.length !== 64 || item.publicKey.length !== 32) throw new RangeError('bad signature or key size');
      view.setUint32(offset, item.message.length);
      packed.set(item.message, offset + 4);
      offset += 4 + item.message.length;
      packed.set(item.signature, offset);
      packed.set(item.publicKey, offset + 64);
      offset += 96;
    }
    const id = this.#nextId++;
    const worker = this.#workers[this.#nextWorker++ % this.#workers.length]!;
    const valid = await new Promise<Uint8Array>((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, packed, count: items.length }, [packed.buffer]);
    }).finally(() => {
      if (this.#jobs.size === 0) for (const w of this.#workers) w.unref();
    });
    return Array.from(valid, (v) => v === 1);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
