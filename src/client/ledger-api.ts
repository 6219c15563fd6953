/**
 * A small client for a node's ledger API (/api/v1, src/server/routes/ledger.ts) over `fetch`,
 * which Node 20 and browsers both provide. It only transports and parses: JSON shapes become typed
 * values with bytes decoded, and anything unexpected is a typed error (`api.http` with the node's
 * own error code in the message, or `api.malformed`). Whether to believe what came back is decided
 * by ./proofs.ts against checkpoints signed by keys the caller trusts.
 */
import type { SignedCheckpoint } from '../ledger/block.js';
import { bytesOfHex } from './encoding.js';
import { failure, success, type ClientResult } from './errors.js';

export interface InclusionProof {
  readonly index: number;
  readonly size: number;
  readonly path: readonly Uint8Array[];
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly path: readonly Uint8Array[];
}

/** A committed transaction as served by GET /txs/{hash} and POST /txs. */
export interface TxReceipt {
  readonly hash: Uint8Array;
  readonly height: number;
  readonly index: number;
  /** The transaction bytes (GET /txs/{hash} only). */
  readonly wire?: Uint8Array;
  readonly proof: InclusionProof;
  readonly checkpoint: SignedCheckpoint;
}

export interface ParticipantInfo {
  readonly id: string;
  readonly kind: string;
  readonly status: string;
  readonly key: Uint8Array;
  readonly nextSeq: number;
}

export interface LedgerStatus {
  readonly chain: string;
  readonly height: number;
  readonly logSize: number;
  readonly logRoot: Uint8Array;
  readonly validators: readonly { readonly name: string; readonly key: Uint8Array }[];
}

class Malformed extends Error {}

function obj(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Malformed(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Malformed(`${what} is not a count`);
  return value;
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Malformed(`${what} is not a string`);
  return value;
}

function hex(value: unknown, what: string, size?: number): Uint8Array {
  const bytes = typeof value === 'string' ? bytesOfHex(value) : undefined;
  if (!bytes || (size !== undefined && bytes.length !== size))
    throw new Malformed(`${what} is not ${size ?? 'some'} bytes of hex`);
  return bytes;
}

function base64(value: unknown, what: string): Uint8Array {
  const text = str(value, what);
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text))
    throw new Malformed(`${what} is not base64`);
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function base64Of(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function hashes(value: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(value) || value.length > 64) throw new Malformed(`${what} is not a list of hashes`);
  return value.map((h, i) => hex(h, `${what}[${i}]`, 32));
}

export function readCheckpoint(value: unknown): SignedCheckpoint {
  const c = obj(value, 'checkpoint');
  return {
    checkpoint: {
      chain: str(c['chain'], 'checkpoint.chain'),
      size: uint(c['size'], 'checkpoint.size'),
      root: hex(c['root'], 'checkpoint.root', 32),
      time: uint(c['time'], 'checkpoint.time'),
    },
    signer: hex(c['signer'], 'checkpoint.signer', 32),
    signature: base64(c['signature'], 'checkpoint.signature'),
  };
}

function readReceipt(value: unknown): TxReceipt {
  const r = obj(value, 'receipt');
  const proof = obj(r['proof'], 'proof');
  const index = uint(r['index'], 'index');
  return {
    hash: hex(r['hash'], 'hash', 32),
    height: uint(r['height'], 'height'),
    index,
    ...(r['wire'] !== undefined && { wire: base64(r['wire'], 'wire') }),
    proof: { index, size: uint(proof['size'], 'proof.size'), path: hashes(proof['path'], 'proof.path') },
    checkpoint: readCheckpoint(r['checkpoint']),
  };
}

export type Fetch = (
  input: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

export interface LedgerClientOptions {
  /** Defaults to the global `fetch`. */
  readonly fetch?: Fetch;
  /** Extra request headers, asked for on every request (e.g. `authorization: Bearer …`). */
  readonly headers?: () => Record<string, string>;
}

export class LedgerClient {
  readonly #base: string;
  readonly #fetch: Fetch;
  readonly #headers: () => Record<string, string>;

  /** `node` is the node's origin, e.g. `https://ledger.example.org`. */
  constructor(node: string, options: LedgerClientOptions = {}) {
    this.#base = node.replace(/\/+$/, '') + '/api/v1';
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#headers = options.headers ?? (() => ({}));
  }

  async #call<T>(path: string, read: (value: unknown) => T, init?: Parameters<Fetch>[1]): Promise<ClientResult<T>> {
    let response: Awaited<ReturnType<Fetch>>;
    let body: unknown;
    try {
      response = await this.#fetch(this.#base + path, { ...init, headers: { ...this.#headers(), ...init?.headers } });
      body = await response.json();
    } catch (error) {
      return failure('api.http', `request to the node failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!response.ok) {
      const e = body as { code?: unknown; message?: unknown } | null;
      const code = typeof e?.code === 'string' ? e.code : `http.${response.status}`;
      return failure('api.http', `${code}: ${typeof e?.message === 'string' ? e.message : 'request failed'}`);
    }
    try {
      return success(read(body));
    } catch (error) {
      if (error instanceof Malformed) return failure('api.malformed', error.message);
      throw error;
    }
  }

  status(): Promise<ClientResult<LedgerStatus>> {
    return this.#call('/status', (value) => {
      const s = obj(value, 'status');
      const validators = s['validators'];
      if (!Array.isArray(validators)) throw new Malformed('validators is not a list');
      return {
        chain: str(s['chain'], 'chain'),
        height: uint(s['height'], 'height'),
        logSize: uint(s['logSize'], 'logSize'),
        logRoot: hex(s['logRoot'], 'logRoot', 32),
        validators: validators.map((v, i) => {
          const o = obj(v, `validators[${i}]`);
          return { name: str(o['name'], 'name'), key: hex(o['key'], 'key', 32) };
        }),
      };
    });
  }

  /** The latest signed checkpoint, or the one signed with block `height`. */
  checkpoint(height?: number): Promise<ClientResult<SignedCheckpoint>> {
    return this.#call(`/checkpoints/${height === undefined ? 'latest' : String(height)}`, readCheckpoint);
  }

  inclusionProof(index: number, size: number): Promise<ClientResult<InclusionProof>> {
    return this.#call(`/proofs/inclusion?index=${index}&size=${size}`, (value) => {
      const p = obj(value, 'proof');
      return { index: uint(p['index'], 'index'), size: uint(p['size'], 'size'), path: hashes(p['path'], 'path') };
    });
  }

  consistencyProof(from: number, to: number): Promise<ClientResult<ConsistencyProof>> {
    return this.#call(`/proofs/consistency?from=${from}&to=${to}`, (value) => {
      const p = obj(value, 'proof');
      return { from: uint(p['from'], 'from'), to: uint(p['to'], 'to'), path: hashes(p['path'], 'path') };
    });
  }

  /** A committed transaction with its inclusion proof against the latest checkpoint. */
  tx(hash: Uint8Array | string): Promise<ClientResult<TxReceipt>> {
    const id = typeof hash === 'string' ? hash : Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
    return this.#call(`/txs/${encodeURIComponent(id)}`, readReceipt);
  }

  participant(id: string): Promise<ClientResult<ParticipantInfo>> {
    return this.#call(`/participants/${encodeURIComponent(id)}`, (value) => {
      const p = obj(value, 'participant');
      return {
        id: str(p['id'], 'id'),
        kind: str(p['kind'], 'kind'),
        status: str(p['status'], 'status'),
        key: hex(p['key'], 'key', 32),
        nextSeq: uint(p['nextSeq'], 'nextSeq'),
      };
    });
  }

  /** Submits signed wire bytes; answers once committed, with the inclusion proof and checkpoint. */
  submit(wire: Uint8Array): Promise<ClientResult<TxReceipt>> {
    return this.#call('/txs', readReceipt, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tx: base64Of(wire) }),
    });
  }
}
