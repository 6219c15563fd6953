/** Replay sources: a node's data directory (read-only) and a running node's HTTP API. */
import { fromBase64, fromHex } from '../crypto/bytes.js';
import { sha256 } from '../crypto/hash.js';
import type { LedgerStore } from '../storage/ports.js';
import type { ReplaySource, SourceBlock } from './replay.js';

export class StoreSource implements ReplaySource {
  constructor(private readonly store: LedgerStore) {}

  async genesis(): Promise<Uint8Array> {
    const genesis = this.store.genesis();
    if (!genesis) throw new Error('the data directory holds no genesis');
    return genesis;
  }

  async *blocks(): AsyncIterable<SourceBlock> {
    for (let height = 1; ; height++) {
      const block = this.store.block(height);
      if (!block) return;
      yield { block, txs: this.store.blockTxs(block) };
    }
  }
}

export class ApiError extends Error {}

interface BlockJson {
  height: number;
  hash: string;
  headerBytes: string;
  signature: string;
  checkpointSignature: string;
  firstIndex: number;
  txs: string[];
}

/**
 * Reads a node's ledger over HTTP, page by page. Every field is rechecked by the replay. Replaying
 * needs the transaction bytes, which the node serves to its staff only: `token` is a bearer token
 * of that node (e.g. a system token from `medledger token`).
 */
export class ApiSource implements ReplaySource {
  constructor(
    private readonly baseUrl: string,
    private readonly token?: string,
    private readonly pageSize = 100,
  ) {}

  async get<T>(path: string): Promise<T> {
    const response = await fetch(new URL(path, this.baseUrl), {
      signal: AbortSignal.timeout(60_000),
      ...(this.token !== undefined && { headers: { authorization: `Bearer ${this.token}` } }),
    });
    if (response.status === 401)
      throw new ApiError(`GET ${path} → HTTP 401: replaying a node's ledger needs a staff bearer token of that node`);
    if (!response.ok) throw new ApiError(`GET ${path} → HTTP ${response.status}: ${await response.text()}`);
    return (await response.json()) as T;
  }

  async genesis(): Promise<Uint8Array> {
    const body = await this.get<{ bytes: string }>('/api/v1/genesis');
    return need(fromBase64(body.bytes), 'genesis bytes');
  }

  async *blocks(): AsyncIterable<SourceBlock> {
    for (let from = 1; ;) {
      const page = await this.get<{ blocks: BlockJson[] }>(`/api/v1/blocks?from=${from}&limit=${this.pageSize}`);
      if (page.blocks.length === 0) return;
      for (const b of page.blocks) {
        const txs = b.txs.map((t, i) => {
          const wire = need(fromBase64(t), `block ${b.height} transaction ${i}`);
          return { index: b.firstIndex + i, hash: sha256(wire), height: b.height, wire };
        });
        yield {
          block: {
            height: b.height,
            hash: need(fromHex(b.hash), `block ${b.height} hash`),
            header: need(fromBase64(b.headerBytes), `block ${b.height} header`),
            signature: need(fromBase64(b.signature), `block ${b.height} signature`),
            checkpointSignature: need(fromBase64(b.checkpointSignature), `block ${b.height} checkpoint signature`),
            firstIndex: b.firstIndex,
            txCount: b.txs.length,
          },
          txs,
        };
      }
      from = page.blocks[page.blocks.length - 1]!.height + 1;
    }
  }
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new ApiError(`${what} is not well-formed`);
  return value;
}
