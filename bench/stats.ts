/** Small statistics helpers for benchmarks: medians and percentiles of samples. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(samples).sort();
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (samples: ArrayLike<number>): number => percentile(samples, 50);

/** Times `fn` `runs` times and returns the per-run durations in milliseconds. */
export function timeEach(runs: number, fn: (i: number) => void): Float64Array {
  const out = new Float64Array(runs);
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn(i);
    out[i] = performance.now() - start;
  }
  return out;
}

export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
