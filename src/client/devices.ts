/**
 * Device data and population statistics from a client (browser or Node): sign device batches with
 * a device key (a phone acting as gateway for its wearable) and call the node's device and
 * population APIs. Only fetch and the ledger's own encoders (batch signing reaches
 * src/crypto/ed25519.ts and hash.ts, aliased in a browser build like the rest of the SDK).
 */
import { signBatch, type BatchBody, type Series, type SignedBatch } from '../devices/batch.js';
import { DEVICE_CODES, type DeviceCode } from '../devices/codes.js';
import { base64urlOf } from './encoding.js';

export { signBatch, DEVICE_CODES, type BatchBody, type Series, type SignedBatch, type DeviceCode };

/** A node answered with an error: its stable code and message. */
export class DeviceApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export interface SeriesPoint {
  readonly t: string;
  readonly n: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

export interface DeviceSeries {
  readonly patient: string;
  readonly code: { readonly system: string; readonly code: string; readonly display: string; readonly unit: string };
  readonly from: string;
  readonly to: string;
  readonly bucketMs: number;
  readonly samples: number;
  readonly points: readonly SeriesPoint[];
}

export interface PopulationQueryInput {
  readonly purpose: 'HRESCH' | 'PUBHLTH';
  readonly type: 'Condition' | 'Observation';
  readonly code: string;
  readonly interval?: 'year' | 'quarter' | 'month' | 'week' | 'day';
  readonly from?: string;
  readonly to?: string;
  readonly groupBy?: readonly ('ageBand' | 'region' | 'sex')[];
}

export class DeviceClient {
  readonly #base: string;
  readonly #token: string | undefined;

  /** `node`: the node's base URL; `token`: a bearer access token (not needed to send batches). */
  constructor(node: string, token?: string) {
    this.#base = node.replace(/\/+$/, '');
    this.#token = token;
  }

  async #call<T>(method: string, path: string, body?: unknown, raw?: Uint8Array): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`;
    if (raw !== undefined) headers['content-type'] = 'application/octet-stream';
    else if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.#base}/api/v1${path}`, {
      method,
      headers,
      ...(raw !== undefined ? { body: raw as unknown as Blob } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new DeviceApiError(res.status, String(json['code'] ?? 'http'), String(json['message'] ?? res.statusText));
    return json as T;
  }

  /** Registers a device key to a patient (FHIR Patient id or pseudonym). */
  register(patient: string, publicKey: Uint8Array): Promise<{ device: string; patient: string; height: number; txHash: string }> {
    return this.#call('POST', `/patients/${encodeURIComponent(patient)}/devices`, { publicKey: base64urlOf(publicKey) });
  }

  /** Sends a signed batch; resolves once it is stored and committed. */
  send(batch: SignedBatch): Promise<{ observation: string; record: string; accepted: number; duplicates: number }> {
    return this.#call('POST', `/devices/${batch.batch.device}/batches`, undefined, batch.wire);
  }

  series(patient: string, query: { code: string; from?: string; to?: string; points?: number }): Promise<DeviceSeries> {
    const params = new URLSearchParams({ code: query.code });
    if (query.from !== undefined) params.set('from', query.from);
    if (query.to !== undefined) params.set('to', query.to);
    if (query.points !== undefined) params.set('points', String(query.points));
    return this.#call('GET', `/patients/${encodeURIComponent(patient)}/device-series?${params.toString()}`);
  }

  /** An analyst's population query (see README, Population health). */
  population(query: PopulationQueryInput): Promise<Record<string, unknown> & { cells: readonly Record<string, unknown>[] }> {
    return this.#call('POST', '/population/query', query);
  }
}
