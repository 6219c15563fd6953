/**
 * A deterministic wearable simulator (demos, tests, the benchmark): plausible heart rate, SpO2,
 * steps, blood pressure and glucose for one device over a time span, cut into signed batches.
 * Same seed, same samples.
 */
import type { Signer } from '../crypto/ed25519.js';
import { signBatch, type Series, type SignedBatch } from './batch.js';
import { deviceCode } from './codes.js';

/** Sampling periods (ms) per code. */
export const SIMULATED_PERIODS: Readonly<Record<string, number>> = {
  '8867-4': 5_000,
  '59408-5': 60_000,
  '55423-8': 60_000,
  '8480-6': 4 * 3_600_000,
  '8462-4': 4 * 3_600_000,
  '2339-0': 15 * 60_000,
};

/** mulberry32: a tiny seeded PRNG, enough for demo data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const clamp = (code: string, v: number): number => {
  const spec = deviceCode(code)!;
  return Math.min(spec.max, Math.max(spec.min, Math.round(v)));
};

/** Values of one code at `count` regular times starting at `start` (circadian shape plus noise). */
function values(code: string, start: number, period: number, count: number, random: () => number): number[] {
  const out: number[] = [];
  let walk = 0;
  for (let i = 0; i < count; i++) {
    const t = start + i * period;
    const hour = (t / 3_600_000) % 24;
    const day = Math.sin(((hour - 4) / 24) * 2 * Math.PI); // low at night, high in the afternoon
    walk = walk * 0.95 + (random() - 0.5) * 2;
    switch (code) {
      case '8867-4':
        out.push(clamp(code, 68 + 12 * day + walk * 3));
        break;
      case '59408-5':
        out.push(clamp(code, 97 + walk * 0.6));
        break;
      case '55423-8':
        out.push(clamp(code, hour < 7 || hour > 22 ? 0 : Math.max(0, 40 + 60 * day + walk * 20)));
        break;
      case '8480-6':
        out.push(clamp(code, 124 + 8 * day + walk * 4));
        break;
      case '8462-4':
        out.push(clamp(code, 80 + 5 * day + walk * 3));
        break;
      default:
        out.push(clamp(code, 105 + 25 * Math.max(0, Math.sin(((hour - 7) / 5) * Math.PI)) + walk * 5));
    }
  }
  return out;
}

export interface SimulationOptions {
  readonly chain: string;
  readonly device: string;
  /** Start and end (exclusive) of the simulated span, ms since the epoch. */
  readonly from: number;
  readonly to: number;
  readonly codes?: readonly string[];
  /** Most samples per batch. */
  readonly batchSamples?: number;
  /** First batch sequence number. */
  readonly firstSeq?: number;
  readonly seed?: number;
  /** Overrides SIMULATED_PERIODS. */
  readonly periods?: Readonly<Record<string, number>>;
}

/** The simulated span as unsigned batches, in time order: each window holds at most `batchSamples`. */
export function simulateSeries(options: SimulationOptions): Series[][] {
  const codes = options.codes ?? Object.keys(SIMULATED_PERIODS);
  const limit = options.batchSamples ?? 1000;
  const random = prng(options.seed ?? 1);
  const periods = { ...SIMULATED_PERIODS, ...options.periods };
  // Samples per ms across the codes decide how long a window fits `limit` samples.
  const rate = codes.reduce((sum, c) => sum + 1 / periods[c]!, 0);
  // A window of w ms holds at most w·rate + one sample per code (the ceilings below).
  const window = Math.max(1, Math.floor((limit - codes.length) / rate));
  if (limit <= codes.length) throw new RangeError(`batchSamples must exceed the number of codes (${codes.length})`);
  const batches: Series[][] = [];
  for (let start = options.from; start < options.to; start += window) {
    const end = Math.min(options.to, start + window);
    const series: Series[] = [];
    let total = 0;
    for (const code of codes) {
      const period = periods[code]!;
      const first = Math.ceil(start / period) * period;
      const count = first < end ? Math.ceil((end - first) / period) : 0;
      if (count === 0) continue;
      series.push({ code, start: first, period, values: values(code, first, period, count, random) });
      total += count;
    }
    if (total > limit) throw new Error('simulator window overflow'); // cannot happen: see `window`
    if (series.length > 0) batches.push(series);
  }
  return batches;
}

/** The simulated span as signed batches with consecutive sequence numbers. */
export function simulateBatches(options: SimulationOptions, signer: Pick<Signer, 'sign'>): SignedBatch[] {
  const first = options.firstSeq ?? 0;
  return simulateSeries(options).map((series, i) =>
    signBatch({ chain: options.chain, device: options.device, seq: first + i, series }, signer),
  );
}
