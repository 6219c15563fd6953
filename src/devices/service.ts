/**
 * Device data on one node: registration of a device to a patient, ingest of signed batches, and
 * downsampled series for charts.
 *
 * Ingest of one batch: decode (shape, limits, ranges) → the device must be an active device on the
 * ledger and the signature verify under its current ledger key → its patient must be held here →
 * under the device's lock: seq above the last stored one (else replay), samples the device already
 * sent are dropped (dedup by device + code + time; nothing new left → duplicate) → ONE Observation
 * per batch written to the vault, authored by the device, with ONE ledger record commitment; its
 * sample index rows and seq are written in the transaction that marks it committed. Any refusal
 * stores nothing.
 */
import type { FhirRepository } from '../fhir/repository.js';
import type { Observation } from '@medplum/fhirtypes';
import { VaultError } from '../vault/vault.js';
import type { LedgerNode } from '../node/ledger-node.js';
import type { CommittedBlock } from '../node/chain.js';
import { toHex } from '../crypto/bytes.js';
import { randomPseudonym } from '../client/identity.js';
import { PUBLIC_KEY_SIZE } from '../crypto/ed25519.js';
import { ID_PATTERNS } from '../ledger/payloads/participant.js';
import { decodeBatch, sampleCount, verifyBatch, type BatchErrorCode, type Series } from './batch.js';
import { deviceCode, type DeviceCode } from './codes.js';
import { batchObservation, batchObservationId, samplesOfObservation } from './observation.js';
import { DeviceSampleStore } from './store.js';

export type DeviceErrorCode =
  | BatchErrorCode
  | 'device.unknown'
  | 'device.inactive'
  | 'device.patient_inactive'
  | 'device.replayed'
  | 'device.duplicate'
  | 'device.future'
  | 'device.patient_not_held'
  | 'device.invalid'
  | 'device.rejected';

const STATUS: Record<DeviceErrorCode, number> = {
  'device.malformed': 400,
  'device.wrong_chain': 400,
  'device.future': 400,
  'device.invalid': 400,
  'device.bad_signature': 401,
  'device.inactive': 403,
  'device.patient_inactive': 403,
  'device.unknown': 404,
  'device.replayed': 409,
  'device.duplicate': 409,
  'device.patient_not_held': 422,
  'device.rejected': 422,
};

export class DeviceError extends Error {
  readonly status: number;
  constructor(
    readonly code: DeviceErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

/** How far a sample may be ahead of the node clock (device clocks drift). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const MAX_SERIES_POINTS = 2000;
const HOUR_MS = 3_600_000;

export interface IngestResult {
  readonly device: string;
  readonly seq: number;
  /** `Observation/<id>` holding the batch. */
  readonly observation: string;
  readonly record: string;
  readonly accepted: number;
  /** Samples the device had already sent (dropped). */
  readonly duplicates: number;
  readonly height: number;
  readonly txHash: string;
}

export interface SeriesPoint {
  /** Start of the bucket, ms since the epoch. */
  readonly t: number;
  readonly n: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

export interface SeriesResult {
  readonly code: DeviceCode;
  readonly from: number;
  readonly to: number;
  readonly bucketMs: number;
  readonly points: SeriesPoint[];
  readonly samples: number;
  /** Ledger records (batches) the series was computed from: what the access log names. */
  readonly records: string[];
  readonly devices: string[];
}

export interface DeviceInfo {
  readonly id: string;
  readonly status: string;
  readonly registeredAt: number;
  readonly registeredBy: string;
  readonly batches: number;
  readonly samples: number;
  readonly lastSample: number | null;
}

/** A per-key promise chain: one batch per device at a time, in arrival order. */
class DeviceLocks {
  readonly #tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

export class DeviceService {
  readonly store: DeviceSampleStore;
  readonly #node: LedgerNode;
  readonly #repository: FhirRepository;
  readonly #clock: () => number;
  readonly #locks = new DeviceLocks();
  readonly #onBlock: (block: CommittedBlock) => void;

  private constructor(node: LedgerNode, repository: FhirRepository, clock: () => number) {
    this.#node = node;
    this.#repository = repository;
    this.#clock = clock;
    this.store = new DeviceSampleStore(repository.vault.db);
    // Erasure crypto-shreds the batch Observations; their sample rows go with them.
    this.#onBlock = (block) => {
      for (const { tx } of block.txs) {
        if (tx.type !== 'erasure.tombstone' || tx.signer !== node.org.id) continue;
        const request = node.chain.app.erasureRequest(tx.body.request);
        if (request) this.store.prune(request.patient);
      }
    };
    node.chain.on('block', this.#onBlock);
  }

  static open(node: LedgerNode, repository: FhirRepository, options: { clock?: () => number } = {}): DeviceService {
    const service = new DeviceService(node, repository, options.clock ?? Date.now);
    service.#reindex();
    return service;
  }

  close(): void {
    this.#node.chain.off('block', this.#onBlock);
  }

  /** Batches committed by crash recovery without their index rows get them now. */
  #reindex(): void {
    const vault = this.#repository.vault;
    for (const { type, id } of this.store.unindexed()) {
      const row = vault.resource(type, id);
      const read = vault.read(type, id);
      if (!row || read.status !== 'ok' || row.patient === null) continue;
      const observation = read.resource as unknown as Observation;
      const [device, seqText] = (observation.identifier?.[0]?.value ?? '').split('/');
      if (device === undefined || seqText === undefined) continue;
      const runs = samplesOfObservation(observation);
      vault.transaction(() =>
        this.store.insert(batchRow(row.res, device, Number(seqText), row.patient!, runs, new Uint8Array(32)), runs.map(toStored)),
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Registration

  /** Registers a device key to a patient (signed by this node's organization). */
  async register(
    patient: string,
    publicKey: Uint8Array,
    id?: string,
  ): Promise<{ device: string; height: number; txHash: string }> {
    if (publicKey.length !== PUBLIC_KEY_SIZE)
      throw new DeviceError('device.invalid', `publicKey must be ${PUBLIC_KEY_SIZE} bytes`);
    const device = id ?? randomPseudonym('dev');
    if (!ID_PATTERNS.device.test(device))
      throw new DeviceError('device.invalid', 'device id must be dev_ and 26 base32 characters');
    const outcome = await this.#node.submitOwn({
      type: 'participant.register',
      body: { kind: 'device', id: device, key: publicKey, patient },
    });
    if (!outcome.ok) throw new DeviceError('device.rejected', `${outcome.error.code}: ${outcome.error.message}`);
    return { device, height: outcome.receipt.height, txHash: toHex(outcome.receipt.hash) };
  }

  /** The patient (pseudonym) a device is registered to on the ledger. */
  patientOf(device: string): string | undefined {
    const p = this.#node.chain.app.participant(device);
    return p?.kind === 'device' ? p.patient : undefined;
  }

  /** Devices registered to a patient (ledger registry) with what this node stored from each. */
  devicesOf(patient: string): DeviceInfo[] {
    const out: DeviceInfo[] = [];
    let after: string | undefined;
    for (;;) {
      const keys = this.#node.chain.store.stateKeys('participant/dev_', { limit: 1000, ...(after && { after }) });
      for (const key of keys) {
        const p = this.#node.chain.app.participant(key.slice('participant/'.length));
        if (p?.kind !== 'device' || p.patient !== patient) continue;
        const summary = this.store.deviceSummary(p.id);
        out.push({
          id: p.id,
          status: p.status,
          registeredAt: p.registeredAt,
          registeredBy: p.registeredBy,
          batches: summary.batches,
          samples: summary.samples,
          lastSample: summary.last,
        });
      }
      if (keys.length < 1000) return out;
      after = keys[keys.length - 1];
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Ingest

  /** Takes one signed batch; `expectedDevice` is the device the request was addressed to, if any. */
  async ingest(wire: Uint8Array, expectedDevice?: string): Promise<IngestResult> {
    const decoded = decodeBatch(wire, this.#node.chain.chainId);
    if (!decoded.ok) throw new DeviceError(decoded.code, decoded.message);
    const signed = decoded.value;
    const { device, seq, series } = signed.batch;
    if (expectedDevice !== undefined && expectedDevice !== device) {
      throw new DeviceError('device.malformed', `the batch is from ${device}, not ${expectedDevice}`);
    }
    const participant = this.#node.chain.app.participant(device);
    if (participant?.kind !== 'device') throw new DeviceError('device.unknown', `no device ${device} on the ledger`);
    if (participant.status !== 'active') throw new DeviceError('device.inactive', `${device} is ${participant.status}`);
    if (!verifyBatch(signed, participant.key)) {
      throw new DeviceError('device.bad_signature', "the batch is not signed by the device's current ledger key");
    }
    const latest = Math.max(...series.map((s) => s.start + (s.values.length - 1) * s.period));
    if (latest > this.#clock() + MAX_CLOCK_SKEW_MS) throw new DeviceError('device.future', 'the batch has samples in the future');
    const patient = participant.patient!;
    // A device keeps its own status when its patient is suspended or revoked; the ledger refuses
    // records it authors for an inactive patient (src/state/records.ts), so refuse before any work.
    const owner = this.#node.chain.app.participant(patient);
    if (owner?.kind !== 'patient' || owner.status !== 'active') {
      throw new DeviceError('device.patient_inactive', `the patient of ${device} is ${owner?.status ?? 'not on the ledger'}`);
    }
    const patientId = this.#repository.vault.patientIdOf(patient);
    if (patientId === undefined) {
      throw new DeviceError('device.patient_not_held', `the patient of ${device} has no record at this node`);
    }
    return this.#locks.run(device, async () => {
      if (seq <= this.store.lastSeq(device))
        throw new DeviceError('device.replayed', `batch ${seq} of ${device} was already taken or superseded`);
      const runs = this.#newRuns(patient, device, series);
      const total = sampleCount(series);
      const accepted = sampleCount(runs);
      if (accepted === 0) throw new DeviceError('device.duplicate', `every sample of batch ${seq} is already stored`);
      const id = batchObservationId(device, seq);
      const resource = batchObservation({ patientId, device, seq, runs, issued: this.#clock() });
      try {
        const written = await this.#repository.vault.write({
          type: 'Observation',
          id,
          resource: resource as unknown as Record<string, unknown>,
          author: device,
          patient,
          expectedVersion: 0,
          onCommit: ({ res }) => this.store.insert(batchRow(res, device, seq, patient, runs, signed.hash), runs.map(toStored)),
        });
        return {
          device,
          seq,
          observation: `Observation/${id}`,
          record: written.record,
          accepted,
          duplicates: total - accepted,
          height: written.height,
          txHash: toHex(written.txHash),
        };
      } catch (error) {
        if (error instanceof VaultError) {
          if (error.code === 'vault.version_conflict')
            throw new DeviceError('device.replayed', `batch ${seq} of ${device} is already stored`);
          throw new DeviceError('device.rejected', `${error.code}: ${error.message}`);
        }
        throw error;
      }
    });
  }

  /** The series with the samples this device already sent removed, split into regular runs. */
  #newRuns(patient: string, device: string, series: readonly Series[]): Series[] {
    const runs: Series[] = [];
    for (const s of series) {
      const slot = deviceCode(s.code)!.slot;
      const end = s.start + (s.values.length - 1) * s.period;
      const existing = this.store.existingTimes(patient, slot, device, s.start, end);
      if (existing.size === 0) {
        runs.push(s);
        continue;
      }
      let run: number[] = [];
      let runStart = 0;
      for (let i = 0; i <= s.values.length; i++) {
        const t = s.start + i * s.period;
        if (i < s.values.length && !existing.has(t)) {
          if (run.length === 0) runStart = t;
          run.push(s.values[i]!);
        } else if (run.length > 0) {
          runs.push({ code: s.code, start: runStart, period: s.period, values: run });
          run = [];
        }
      }
    }
    return runs;
  }

  // ---------------------------------------------------------------------------------------------
  // Series

  /**
   * Samples of one code in [from, to), in at most `points` equal buckets (min, max, mean, count).
   * Buckets of an hour or more are whole hours and the range widens to hour boundaries.
   */
  series(patient: string, code: DeviceCode, from: number, to: number, points: number): SeriesResult {
    if (!(to > from)) throw new DeviceError('device.invalid', '`to` must be after `from`');
    if (!Number.isSafeInteger(points) || points < 1 || points > MAX_SERIES_POINTS) {
      throw new DeviceError('device.invalid', `points must be 1..${MAX_SERIES_POINTS}`);
    }
    let bucketMs = Math.max(1, Math.ceil((to - from) / points));
    if (bucketMs >= HOUR_MS) {
      // Whole-hour buckets on hour boundaries are answered from the hourly roll-up.
      from = Math.floor(from / HOUR_MS) * HOUR_MS;
      to = Math.ceil(to / HOUR_MS) * HOUR_MS;
      bucketMs = Math.ceil((to - from) / points / HOUR_MS) * HOUR_MS;
    }
    const buckets = this.store.buckets(patient, code.slot, from, to, bucketMs);
    let samples = 0;
    const out = buckets.map((b) => {
      samples += b.n;
      return { t: from + b.bucket * bucketMs, n: b.n, min: b.min, max: b.max, mean: Math.round((b.sum / b.n) * 100) / 100 };
    });
    return {
      code,
      from,
      to,
      bucketMs,
      points: out,
      samples,
      records: this.store.recordsInRange(patient, code.slot, from, to),
      devices: this.store.devicesInRange(patient, code.slot, from, to),
    };
  }
}

function toStored(run: Series): { slot: number; start: number; period: number; values: readonly number[] } {
  return { slot: deviceCode(run.code)!.slot, start: run.start, period: run.period, values: run.values };
}

function batchRow(res: number, device: string, seq: number, patient: string, runs: readonly Series[], hash: Uint8Array) {
  let firstT = Infinity;
  let lastT = -Infinity;
  for (const r of runs) {
    firstT = Math.min(firstT, r.start);
    lastT = Math.max(lastT, r.start + (r.values.length - 1) * r.period);
  }
  return { res, device, seq, patient, samples: sampleCount(runs), firstT, lastT, hash };
}
